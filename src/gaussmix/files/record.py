"""``ModelRecord``: what a model file holds, as plain values (no estimator, no file).

A record is the fitted mixture as data: the constructor settings it was fitted with, its
fitted attributes (arrays and JSON values), the covariance model's name and the optional
standardisation of the data. :mod:`gaussmix.files.model_file` writes records to files and reads
them back; :mod:`gaussmix.persistence` turns an estimator into a record and back. This module
imports neither, so the record is the one thing both sides share.

``FITTED_ATTRIBUTES`` is the one list of the fitted attributes a ``GaussianMixture`` has and a
record may carry; ``tests/test_model_record.py`` holds a fitted estimator to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaussmix.exceptions import ModelFileError

__all__ = [
    "ARRAY",
    "FITTED_ARRAYS",
    "FITTED_ATTRIBUTES",
    "FITTED_VALUES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelRecord",
    "json_value",
    "standardization_vectors",
]

FORMAT_NAME = "gaussmix-model"
FORMAT_VERSION = 1
"""Bumped whenever a reader of the previous version could misread a new file."""

ARRAY = "array"
"""The kind of a fitted attribute stored as an array of the file."""

# Every fitted attribute of GaussianMixture: an array of the file, or the JSON types it may
# have in the header. Nothing else is read from a file, so a hand-made file cannot plant
# attributes (``fit``, ``__class__``) on the estimator.
FITTED_ATTRIBUTES: dict[str, str | tuple[type, ...]] = {
    "weights_": ARRAY,
    "means_": ARRAY,
    "covariances_": ARRAY,
    "precisions_": ARRAY,
    "precisions_cholesky_": ARRAY,
    "volume_": ARRAY,
    "shape_": ARRAY,
    "orientation_": ARRAY,
    "log_likelihood_history_": ARRAY,
    "n_features_in_": (int,),
    "feature_names_in_": (list,),
    "converged_": (bool,),
    "n_iter_": (int,),
    "n_samples_fit_": (int,),
    "lower_bound_": (int, float),
    "lower_bounds_": (list,),
    "log_likelihood_": (int, float),
    "Vinv_": (int, float),
    "noise_proportion_": (int, float),
}
FITTED_ARRAYS = frozenset(name for name, kind in FITTED_ATTRIBUTES.items() if kind == ARRAY)
FITTED_VALUES: dict[str, tuple[type, ...]] = {
    name: kind for name, kind in FITTED_ATTRIBUTES.items() if not isinstance(kind, str)
}


def _gaussmix_version() -> str:
    from gaussmix import __version__

    return __version__


@dataclass(frozen=True, eq=False)
class ModelRecord:
    """A fitted mixture as plain values: what a model file stores.

    Parameters
    ----------
    covariance_model : str
        Canonical (mclust) name of the covariance model, e.g. ``"VVV"``.
    settings : mapping
        Constructor parameters the arrays were fitted with: JSON values (numbers, strings,
        booleans, None, lists) or float64 arrays (``means_init`` and the other array
        parameters).
    arrays : mapping of str to ndarray
        Fitted array attributes (``weights_``, ``means_``, ...), in the model's dtype.
    attributes : mapping
        Fitted attributes that are not arrays, as JSON values (``n_iter_``,
        ``feature_names_in_`` as a list of strings, ...).
    dropped_settings : tuple of str
        Settings that could not be stored (a callback, a ``RandomState`` instance).
    standardization : (ndarray, ndarray) or None
        ``(centre, scale)`` when the model was fitted on ``(x − centre) / scale``.
    estimator : str
        Name of the estimator class.
    gaussmix_version : str or None
        The gaussmix that wrote the record (None when a file does not say).
    format_version : int
        Version of the file format the record was read from or is written in.
    """

    covariance_model: str
    settings: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]
    attributes: Mapping[str, Any]
    dropped_settings: tuple[str, ...] = ()
    standardization: tuple[np.ndarray, np.ndarray] | None = None
    estimator: str = "GaussianMixture"
    gaussmix_version: str | None = field(default_factory=_gaussmix_version)
    format_version: int = FORMAT_VERSION

    @property
    def feature_names(self) -> list[str] | None:
        """Names of the features the model was fitted on, or None."""
        names = self.attributes.get("feature_names_in_")
        return None if names is None else list(names)

    @property
    def n_components(self) -> int:
        """Number of components (rows of ``means_``)."""
        return int(np.shape(self.arrays["means_"])[0])

    @property
    def n_features(self) -> int:
        """Number of features (columns of ``means_``)."""
        return int(np.shape(self.arrays["means_"])[1])

    def __eq__(self, other: object) -> bool:
        """Equal fields; arrays equal in dtype, shape and every value."""
        if not isinstance(other, ModelRecord):
            return NotImplemented
        return (
            self.covariance_model == other.covariance_model
            and _same_values(self.settings, other.settings)
            and _same_values(self.arrays, other.arrays)
            and _same_values(self.attributes, other.attributes)
            and tuple(self.dropped_settings) == tuple(other.dropped_settings)
            and _same(self.standardization, other.standardization)
            and self.estimator == other.estimator
            and self.gaussmix_version == other.gaussmix_version
            and self.format_version == other.format_version
        )

    __hash__ = None  # type: ignore[assignment]


def _same(first: Any, second: Any) -> bool:
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        return (
            isinstance(first, np.ndarray)
            and isinstance(second, np.ndarray)
            and first.dtype == second.dtype
            and first.shape == second.shape
            and bool(np.array_equal(first, second))
        )
    if isinstance(first, (tuple, list)) and isinstance(second, (tuple, list)):
        return len(first) == len(second) and all(
            _same(a, b) for a, b in zip(first, second, strict=True)
        )
    return type(first) is type(second) and bool(first == second)


def _same_values(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    return set(first) == set(second) and all(_same(first[key], second[key]) for key in first)


def json_value(value: Any) -> Any:
    """``value`` as plain JSON (numbers, strings, booleans, None, lists), or raise TypeError.

    Parameters
    ----------
    value : object
        A setting or fitted attribute; NumPy scalars and arrays of strings are converted.

    Returns
    -------
    object
        The JSON value.

    Raises
    ------
    TypeError
        With the type's name as message, when ``value`` has no JSON form.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, np.ndarray) and all(isinstance(item, str) for item in value.ravel()):
        return [str(item) for item in value.tolist()]
    raise TypeError(type(value).__name__)


def standardization_vectors(
    standardization: tuple[Any, Any] | None, n_features: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(centre, scale)`` as two float64 vectors of length ``n_features``, or None.

    Parameters
    ----------
    standardization : (array-like, array-like) or None
        The centre and scale the model's training data were mapped by.
    n_features : int
        The model's number of features.

    Returns
    -------
    (ndarray, ndarray) or None

    Raises
    ------
    ModelFileError
        If either vector does not have ``n_features`` entries.
    """
    if standardization is None:
        return None
    centre, scale = (np.asarray(part, dtype=np.float64).ravel() for part in standardization)
    if centre.shape != (n_features,) or scale.shape != (n_features,):
        raise ModelFileError(
            f"standardization must be two vectors of length n_features = {n_features}; "
            f"got shapes {centre.shape} and {scale.shape}. Pass (X.mean(0), X.std(0))."
        )
    return centre, scale
