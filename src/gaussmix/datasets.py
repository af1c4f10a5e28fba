"""Bundled data sets: the small tables mclust's examples and reference results use.

All were exported from R 4.2.2 and mclust 6.0.0 with ``write.csv(row.names = FALSE)``;
the numbers read back bit-identical in R.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_banknote", "load_diabetes", "load_iris", "load_old_faithful", "load_thyroid"]


def _read(file_name: str, label_column: int | None, *, as_frame: bool, description: str) -> Bunch:
    """Read a bundled CSV: numeric features, and the text label in ``label_column``."""
    source = resources.files("gaussmix").joinpath("data", file_name)
    with source.open("r", encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        lines = [line.strip().split(",") for line in handle if line.strip()]
    feature_columns = [k for k in range(len(header)) if k != label_column]
    data = np.array([[float(line[k]) for k in feature_columns] for line in lines])
    feature_names = [header[k] for k in feature_columns]
    if label_column is None:
        return _as_bunch(data, feature_names, as_frame=as_frame, descr=description)
    labels = [line[label_column] for line in lines]
    # Classes numbered in order of first appearance, as R's factor levels of these tables.
    target_names = list(dict.fromkeys(labels))
    target = np.array([target_names.index(label) for label in labels])
    return _as_bunch(
        data,
        feature_names,
        as_frame=as_frame,
        descr=description,
        target=target,
        target_names=target_names,
        target_column=header[label_column],
    )


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
    return _read(
        "faithful.csv",
        None,
        as_frame=as_frame,
        description=(
            "Old Faithful geyser, Yellowstone: eruption duration (eruptions, minutes) and "
            "waiting time to the next eruption (waiting, minutes); 272 observations. Source: "
            "R datasets::faithful (Härdle 1991; Azzalini and Bowman 1990)."
        ),
    )


def load_iris(*, as_frame: bool = False) -> Bunch:
    """Fisher's (Anderson's) iris data: 150 flowers, 4 measurements, 3 species.

    Parameters
    ----------
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame, ``target`` as a Series of class codes
        and ``frame`` as the whole table (scikit-learn's convention; needs pandas).

    Returns
    -------
    Bunch
        ``data`` (ndarray of shape (150, 4): ``Sepal.Length``, ``Sepal.Width``,
        ``Petal.Length``, ``Petal.Width`` in cm), ``target`` (0, 1, 2), ``target_names``
        (``["setosa", "versicolor", "virginica"]``), ``feature_names``, ``frame``, ``DESCR``.

    Notes
    -----
    R's ``datasets::iris``; row 143 duplicates row 102 (counted from 1).

    References
    ----------
    Fisher, R. A. (1936). The use of multiple measurements in taxonomic problems. *Annals
    of Eugenics* 7(II), 179–188. Anderson, E. (1935). The irises of the Gaspé Peninsula.
    *Bulletin of the American Iris Society* 59, 2–5.
    """
    return _read(
        "iris.csv",
        4,
        as_frame=as_frame,
        description=(
            "Iris flowers: sepal and petal length and width (cm) of 50 flowers of each of "
            "Iris setosa, versicolor and virginica. Source: R datasets::iris (Fisher 1936; "
            "Anderson 1935)."
        ),
    )


def load_diabetes(*, as_frame: bool = False) -> Bunch:
    """Reaven and Miller's diabetes data as mclust ships it: 145 patients, 3 measurements.

    Parameters
    ----------
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame, ``target`` as a Series of class codes
        and ``frame`` as the whole table (scikit-learn's convention; needs pandas).

    Returns
    -------
    Bunch
        ``data`` (ndarray of shape (145, 3): ``glucose``, ``insulin``, ``sspg``),
        ``target`` (0, 1, 2), ``target_names`` (``["Normal", "Chemical", "Overt"]``),
        ``feature_names``, ``frame``, ``DESCR``.

    Notes
    -----
    mclust's help page calls this version "flawed" and keeps it for backward
    compatibility: observation 104 has ``insulin`` = 45 where the 5-variable version of
    the R package rrcov has 455. It is unrelated to scikit-learn's
    ``load_diabetes`` (a regression data set).

    References
    ----------
    Reaven, G. M. and Miller, R. G. (1979). An attempt to define the nature of chemical
    diabetes using a multidimensional analysis. *Diabetologia* 16, 17–24. Exported from
    ``mclust::diabetes`` (mclust 6.0.0, GPL (>= 2)).
    """
    return _read(
        "diabetes.csv",
        0,
        as_frame=as_frame,
        description=(
            "Diabetes: plasma glucose and insulin areas after a glucose load, and steady-state "
            "plasma glucose (sspg), of 145 adults classed Normal, Chemical or Overt. Source: "
            "mclust::diabetes (Reaven and Miller 1979)."
        ),
    )


def load_banknote(*, as_frame: bool = False) -> Bunch:
    """Flury and Riedwyl's Swiss banknotes: 200 notes, 6 measurements (mm).

    Parameters
    ----------
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame, ``target`` as a Series of class codes
        and ``frame`` as the whole table (scikit-learn's convention; needs pandas).

    Returns
    -------
    Bunch
        ``data`` (ndarray of shape (200, 6): ``Length``, ``Left``, ``Right``, ``Bottom``,
        ``Top``, ``Diagonal``), ``target`` (0, 1), ``target_names``
        (``["genuine", "counterfeit"]``), ``feature_names``, ``frame``, ``DESCR``.

    References
    ----------
    Flury, B. and Riedwyl, H. (1988). *Multivariate Statistics: A Practical Approach*.
    Chapman & Hall, Tables 1.1 and 1.2. Exported from ``mclust::banknote`` (mclust 6.0.0,
    GPL (>= 2)).
    """
    return _read(
        "banknote.csv",
        0,
        as_frame=as_frame,
        description=(
            "Swiss banknotes: length, left and right height, bottom and top margin width and "
            "diagonal length (mm) of 100 genuine and 100 counterfeit old 1000-franc notes. "
            "Source: mclust::banknote (Flury and Riedwyl 1988)."
        ),
    )


def load_thyroid(*, as_frame: bool = False) -> Bunch:
    """The new-thyroid data: 215 patients, 5 laboratory tests, 3 diagnoses.

    Parameters
    ----------
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame, ``target`` as a Series of class codes
        and ``frame`` as the whole table (scikit-learn's convention; needs pandas).

    Returns
    -------
    Bunch
        ``data`` (ndarray of shape (215, 5): ``RT3U``, ``T4``, ``T3``, ``TSH``, ``DTSH``),
        ``target`` (0, 1, 2), ``target_names`` (``["Normal", "Hyper", "Hypo"]``),
        ``feature_names``, ``frame``, ``DESCR``.

    Notes
    -----
    From the UCI Machine Learning Repository's Thyroid Disease Data Set
    (``new-thyroid.data``), whose conditions of use apply.

    References
    ----------
    Coomans, D., Broeckaert, M., Jonckheer, M. and Massart, D. L. (1983). Comparison of
    multivariate discriminant techniques for clinical data — application to the thyroid
    functional state. *Methods of Information in Medicine* 22, 93–101. Exported from
    ``mclust::thyroid`` (mclust 6.0.0, GPL (>= 2)).
    """
    return _read(
        "thyroid.csv",
        0,
        as_frame=as_frame,
        description=(
            "Thyroid: T3-resin uptake (RT3U), total serum thyroxin (T4), total serum "
            "triiodothyronine (T3), basal TSH and its maximal absolute difference after "
            "TRH injection (DTSH) of 215 patients diagnosed Normal, Hyper or Hypo. Source: "
            "mclust::thyroid (UCI new-thyroid; Coomans et al. 1983)."
        ),
    )
