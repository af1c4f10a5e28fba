"""Bundled data sets, returned as scikit-learn returns its own (a ``Bunch``)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_old_faithful"]


def _read_bundled_csv(name: str) -> tuple[list[str], np.ndarray]:
    """Header and float rows of ``gaussmix/data/<name>``."""
    source = resources.files("gaussmix").joinpath("data", name)
    with source.open("r", encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        data = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    return header, data


def _as_bunch(
    data: np.ndarray,
    feature_names: Sequence[str],
    *,
    as_frame: bool,
    descr: str,
    target: np.ndarray | None = None,
    target_names: Any = None,
    target_column: str = "target",
) -> Bunch:
    """A loader's result with scikit-learn's ``as_frame`` convention.

    With ``as_frame=False``: ``data`` an ndarray, ``target`` an ndarray (when the data set
    has one), ``frame`` None. With ``as_frame=True``: ``frame`` a DataFrame of the features
    and the target column, ``data`` the DataFrame of the features taken from it and
    ``target`` its target column as a Series (``sklearn.datasets.load_iris``'s layout).
    """
    fields: dict[str, Any] = {"feature_names": list(feature_names), "DESCR": descr}
    if target_names is not None:
        fields["target_names"] = target_names
    if not as_frame:
        fields.update(data=data, frame=None)
        if target is not None:
            fields["target"] = target
        return Bunch(**fields)
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "as_frame=True needs pandas: pip install pandas (or install gaussmix with its "
            "'select' extra), or call the loader with as_frame=False for NumPy arrays."
        ) from None
    frame = pd.DataFrame(data, columns=list(feature_names))
    if target is not None:
        frame[target_column] = target
    fields.update(data=frame[list(feature_names)], frame=frame)
    if target is not None:
        fields["target"] = frame[target_column]
    return Bunch(**fields)


def load_old_faithful(*, as_frame: bool = False) -> Bunch:
    """The Old Faithful geyser data: 272 eruptions, duration and waiting time.

    Parameters
    ----------
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame and the whole table in ``frame``, as
        scikit-learn's loaders do (needs pandas).

    Returns
    -------
    Bunch
        ``data`` (ndarray of shape (272, 2), or a DataFrame with ``as_frame=True``),
        ``feature_names`` (``["eruptions", "waiting"]``: eruption time and waiting time to
        the next eruption, both in minutes), ``frame`` (the DataFrame of both columns with
        ``as_frame=True``, else None) and ``DESCR``. The data set has no target.

    References
    ----------
    Azzalini, A. and Bowman, A. W. (1990). A look at some data on the Old Faithful
    geyser. *Applied Statistics* 39, 357–365. Exported from R's ``datasets::faithful``.
    """
    header, data = _read_bundled_csv("faithful.csv")
    return _as_bunch(
        data,
        header,
        as_frame=as_frame,
        descr=(
            "Old Faithful geyser, Yellowstone: eruption duration (eruptions, minutes) and "
            "waiting time to the next eruption (waiting, minutes); 272 observations. Source: "
            "R datasets::faithful (Härdle 1991; Azzalini and Bowman 1990)."
        ),
    )
