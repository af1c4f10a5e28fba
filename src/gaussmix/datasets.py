"""Bundled data sets."""

from __future__ import annotations

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_old_faithful"]


def load_old_faithful(*, as_frame: bool = False) -> Bunch:
    """The Old Faithful geyser data: 272 eruptions, duration and waiting time.

    Parameters
    ----------
    as_frame : bool, default=False
        Also return the data as a pandas DataFrame in ``frame`` (needs pandas).

    Returns
    -------
    Bunch
        ``data`` (ndarray of shape (272, 2)), ``feature_names``
        (``["eruptions", "waiting"]``: eruption time and waiting time to the next eruption,
        both in minutes), ``frame`` (DataFrame or None) and ``DESCR``.

    References
    ----------
    Azzalini, A. and Bowman, A. W. (1990). A look at some data on the Old Faithful
    geyser. *Applied Statistics* 39, 357–365. Exported from R's ``datasets::faithful``.
    """
    source = resources.files("gaussmix").joinpath("data", "faithful.csv")
    with source.open("r", encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        data = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(data, columns=header)
    return Bunch(
        data=data,
        feature_names=header,
        frame=frame,
        DESCR=(
            "Old Faithful geyser, Yellowstone: eruption duration (eruptions, minutes) and "
            "waiting time to the next eruption (waiting, minutes); 272 observations. Source: "
            "R datasets::faithful (Härdle 1991; Azzalini and Bowman 1990)."
        ),
    )
