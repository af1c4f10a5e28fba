"""Input checks with messages that say what must hold, what was received, and how to fix it."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from gaussmix.covariance.forms import CovarianceForm, as_form
from gaussmix.exceptions import InvalidInputError, InvalidParameterError, NonNumericDataError

__all__ = [
    "check_data",
    "check_finite",
    "check_init_arrays",
    "check_n_features",
    "check_number",
    "check_sample_weight",
    "check_tensor",
    "complex_error",
    "dimension_error",
    "empty_error",
    "negative_weight_error",
    "no_positive_weight_error",
    "non_numeric_columns_error",
    "not_finite_error",
    "weight_shape_error",
]


# ------------------------------------------------------------------ the messages
# NumPy, torch and Dask input are refused with the same words: the builders below are
# the only place they are written.


def dimension_error(shape: tuple[int, ...], container: str = "an array") -> InvalidInputError:
    """X is not 2-D: say so, and how to reshape a single feature or sample.

    Parameters
    ----------
    shape : tuple of int
        The shape received.
    container : str, default="an array"
        What was received ("an array", "a tensor", "a Dask array").

    Returns
    -------
    InvalidInputError
    """
    hint = (
        " Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a "
        "single sample."
        if len(shape) == 1
        else ""
    )
    return InvalidInputError(
        "X must be 2-D of shape (n_samples, n_features); got "
        f"{container} of shape {tuple(shape)}.{hint}"
    )


def empty_error(shape: tuple[int, ...]) -> InvalidInputError:
    """X has no row or no column.

    Parameters
    ----------
    shape : tuple of int

    Returns
    -------
    InvalidInputError
    """
    return InvalidInputError(
        f"X must have at least one row and one column; got shape {tuple(shape)}. Pass "
        "non-empty data (check the data source)."
    )


def complex_error(dtype: Any) -> InvalidInputError:
    """X holds complex numbers.

    Parameters
    ----------
    dtype : dtype
        The dtype received.

    Returns
    -------
    InvalidInputError
    """
    return InvalidInputError(
        f"Complex data not supported: X must be real; got complex values (dtype {dtype}). "
        "Take X.real or abs(X) first."
    )


def non_numeric_columns_error(columns: list[str]) -> NonNumericDataError:
    """A DataFrame has non-numeric columns.

    Parameters
    ----------
    columns : list of str
        Their names.

    Returns
    -------
    NonNumericDataError
    """
    return NonNumericDataError(
        f"X must contain only numeric columns; got non-numeric columns {columns}. Drop them "
        "or encode them as numbers first (e.g. X.select_dtypes('number'))."
    )


def not_finite_error(
    name: str,
    first: tuple[int, ...],
    n_nan: int | None = None,
    n_inf: int | None = None,
) -> InvalidInputError:
    """An array holds NaN or infinite values: how many (when counted) and the first one.

    Parameters
    ----------
    name : str
        "X" or "sample_weight".
    first : tuple of int
        Index of the first non-finite entry: (row, column) or (row,).
    n_nan, n_inf : int or None
        Counts, when they were taken (Dask checks stop at the first chunk that has one).

    Returns
    -------
    InvalidInputError
    """
    counts = "NaN or inf" if n_nan is None else f"{n_nan} NaN and {n_inf} inf entries"
    if len(first) == 2:
        location = f"row {first[0]}, column {first[1]}"
    else:
        location = f"row {first[0]}" if len(first) == 1 else f"index {first}"
    return InvalidInputError(
        f"{name} must contain only finite values; got {counts} (first at {location}). Remove "
        "or impute them before fitting (e.g. sklearn.impute.SimpleImputer; for Dask data, "
        "fillna or da.where)."
    )


def negative_weight_error(
    row: int, count: int | None = None, value: float | None = None
) -> InvalidInputError:
    """Some sample weight is negative.

    Parameters
    ----------
    row : int
        Row of the first negative weight.
    count : int or None
        How many there are, when counted.
    value : float or None
        The first negative weight, when known.

    Returns
    -------
    InvalidInputError
    """
    what = "a negative weight" if count is None else f"{count} negative weights"
    first = f"at row {row}" if value is None else f"first: {value:.6g} at row {row}"
    return InvalidInputError(
        f"sample_weight must be non-negative; got {what} ({first}). Use zero to drop a row."
    )


def weight_shape_error(n_samples: int, shape: tuple[int, ...]) -> InvalidInputError:
    """The weights do not have one entry per row of X.

    Parameters
    ----------
    n_samples : int
        Rows of X.
    shape : tuple of int
        The shape received.

    Returns
    -------
    InvalidInputError
    """
    return InvalidInputError(
        f"sample_weight must have shape ({n_samples},), one weight per row of X; got shape "
        f"{tuple(shape)}. Pass one non-negative weight for each row."
    )


def no_positive_weight_error(rows: str = "the rows to fit") -> InvalidInputError:
    """Every weight is zero.

    Parameters
    ----------
    rows : str, default="the rows to fit"
        Which rows were weighed (e.g. "the rows drawn to initialise").

    Returns
    -------
    InvalidInputError
    """
    return InvalidInputError(
        f"sample_weight must have at least one positive entry among {rows}; got all zeros. "
        f"Give {rows} a positive weight."
    )


def check_n_features(
    estimator: Any, n_features: int, *, reset: bool, names: np.ndarray | None = None
) -> None:
    """Record (``reset``) or check the number and names of features of an estimator.

    Used for tensors and Dask collections; NumPy-like input goes through
    scikit-learn's ``validate_data`` in :func:`check_data`, after the count is checked
    here with the same words.

    Parameters
    ----------
    estimator : BaseEstimator
        Whose ``n_features_in_`` and ``feature_names_in_`` are set or checked.
    n_features : int
        Columns of X.
    reset : bool
        True in ``fit``, False in ``predict`` and friends.
    names : ndarray of str or None, default=None
        Column names (Dask dataframes); None removes a previous fit's names on reset.

    Raises
    ------
    InvalidInputError
        When not resetting and the count differs from the fitted one.
    """
    if reset:
        estimator.n_features_in_ = int(n_features)
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and n_features != expected:
        # scikit-learn's own sentence (its estimator checks look for it), then the remedy.
        raise InvalidInputError(
            f"X has {n_features} features, but {type(estimator).__name__} is expecting "
            f"{expected} features as input. Pass the same columns as when fitting."
        )


# ---------------------------------------------------------------------- checks
def _non_numeric_columns(X: Any) -> list[str]:
    """Names of the columns of a DataFrame-like that are not numeric (empty otherwise)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    bad = []
    for column, dtype in dtypes.items():
        kind = getattr(dtype, "kind", "O")
        if kind not in "biuf":
            bad.append(str(column))
    return bad


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Raise if an array holds NaN or infinite values, saying how many and where.

    Parameters
    ----------
    X : ndarray
        The array to check.
    name : str, default="X"
        How to call it in the message.

    Raises
    ------
    InvalidInputError
    """
    # max and min propagate NaN and reach ±inf without allocating the X-sized boolean
    # array of isfinite(X), which is only built to locate a bad value (peak memory of a
    # fit, benchmarks/bench_memory.py).
    if X.size == 0 or (math.isfinite(X.max()) and math.isfinite(X.min())):
        return
    first = tuple(int(i) for i in np.argwhere(~np.isfinite(X))[0])
    raise not_finite_error(name, first, int(np.isnan(X).sum()), int(np.isinf(X).sum()))


def _unmasked(values: Any, name: str, fix: str) -> Any:
    """The data of a ``numpy.ma`` array that has no masked entry; refuse one that has.

    Under ``missing="error"`` masked entries are refused, since NumPy's conversions drop
    the mask and the values under it would be fitted as data (``missing="em"`` turns
    them into NaN first, :func:`gaussmix.missing.masked_as_nan`).
    """
    if not isinstance(values, np.ma.MaskedArray):
        return values
    mask = np.ma.getmaskarray(values)
    if mask.any():
        where = tuple(int(i) for i in np.argwhere(mask)[0])
        location = f"row {where[0]}, column {where[1]}" if len(where) == 2 else f"index {where}"
        setting = " with missing='error'" if name == "X" else ""
        raise InvalidInputError(
            f"{name} must have no masked entries{setting}: the values under a "
            "mask would be used as data; got a numpy.ma.MaskedArray "
            f"with {int(mask.sum())} masked entries (first at {location}). {fix}"
        )
    return np.ma.getdata(values)


def _check_array_like(X: Any) -> tuple[int, ...] | None:
    """Refuse complex or non-2-D array-likes before scikit-learn converts them; their shape."""
    if hasattr(X, "dtypes") or hasattr(X, "toarray"):
        return getattr(X, "shape", None)
    # np.asarray rather than np.ndim: array-likes that only implement __array__
    # (scikit-learn's checks pass such objects) refuse other NumPy functions.
    try:
        as_array = np.asarray(X)
    except ValueError:
        return None
    if np.iscomplexobj(as_array):
        raise complex_error(as_array.dtype)
    if as_array.ndim != 2:
        raise dimension_error(as_array.shape)
    return as_array.shape


def _validated(estimator: Any, X: Any, reset: bool) -> np.ndarray:
    """scikit-learn's ``validate_data``, its conversion errors said in our words."""
    try:
        return validate_data(
            estimator,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
    except TypeError as error:
        if "sparse" in str(error).lower():
            raise InvalidInputError(
                f"X must be a dense array; {error} Convert it with X.toarray()."
            ) from error
        raise NonNumericDataError(
            f"X must contain only numbers; converting it failed: {error}. Drop or encode the "
            "non-numeric values first."
        ) from error
    except ValueError as error:
        text = str(error)
        if "could not convert" in text or "invalid literal" in text:
            raise NonNumericDataError(
                f"X must contain only numbers; {text}. Drop or encode the non-numeric values first."
            ) from error
        raise InvalidInputError(f"{text} Check the shape and contents of X.") from error


def _plain_rows(X: Any) -> bool:
    """A 2-D float64 or float32 NumPy array (not a subclass) with rows and columns."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.size > 0
        and (X.dtype == np.float64 or X.dtype == np.float32)
        and X.dtype.isnative
    )


def check_data(estimator: Any, X: Any, *, reset: bool, allow_nan: bool = False) -> np.ndarray:
    """Validate X for an estimator: 2-D, numeric, finite, float32 or float64.

    Integer, boolean and float16 input is converted to float64 once, here; an
    ``np.matrix`` is read as the 2-D array it holds. Records
    ``n_features_in_`` and ``feature_names_in_`` when ``reset`` is true and checks them
    otherwise.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator whose feature records are set or checked.
    X : array-like of shape (n_samples, n_features)
        The data.
    reset : bool
        True in ``fit``, False in ``predict`` and friends.
    allow_nan : bool, default=False
        Accept NaN entries (missing values, ``missing="em"``); infinite ones are refused.

    Returns
    -------
    ndarray of shape (n_samples, n_features)

    Raises
    ------
    InvalidInputError, NonNumericDataError
        Also for a ``numpy.ma`` array with masked entries (one without is used as its data).
    """
    if reset and _plain_rows(X):
        # What validate_data does with these (records the features, converts nothing)
        # without its ~0.2 ms of checks a fit (300 × 5, benchmarks/bench_small.py).
        estimator.n_features_in_ = X.shape[1]
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        (_check_no_infinity if allow_nan else check_finite)(X)
        return X
    if isinstance(X, np.matrix):
        # Always 2-D; scikit-learn refuses it since 1.6 ("np.matrix is not supported"),
        # but its rows are exactly those of np.asarray(X).
        X = np.asarray(X)
    X = _unmasked(
        X,
        "X",
        "Fit with missing='em' to treat them as missing values, fill them (e.g. "
        "X.filled(value)), or drop the rows that have one: X[~X.mask.any(axis=1)].",
    )
    bad_columns = _non_numeric_columns(X)
    if bad_columns:
        raise non_numeric_columns_error(bad_columns)
    shape = _check_array_like(X)
    if not reset and shape is not None and len(shape) == 2:
        check_n_features(estimator, shape[1], reset=False)
    array = _validated(estimator, X, reset)
    if allow_nan:
        _check_no_infinity(array)
    else:
        check_finite(array)
    return array


def _check_no_infinity(X: np.ndarray) -> None:
    """Refuse infinite entries (NaN marks a missing value)."""
    infinite = np.isinf(X)
    if infinite.any():
        first = tuple(int(i) for i in np.argwhere(infinite)[0])
        raise InvalidInputError(
            "X must contain only finite values or NaN (missing, with missing='em'); got "
            f"{int(infinite.sum())} infinite entries (first at row {first[0]}, column "
            f"{first[1]}). Replace them by NaN to treat them as missing, or remove them."
        )


def check_tensor(X: Any, dtype: str | None, allow_nan: bool = False) -> Any:
    """Validate a data tensor: 2-D, at least one row, real, finite; floating point.

    Parameters
    ----------
    X : torch.Tensor
        The data.
    dtype : {"float32", "float64"} or None
        Convert to this dtype; None keeps float32 and float64 tensors as they are and
        turns integer, boolean and half-precision (float16, bfloat16) tensors into
        float64, as :func:`check_data` does for NumPy input.
    allow_nan : bool, default=False
        Accept NaN entries (missing values); infinite ones are refused.

    Returns
    -------
    torch.Tensor

    Raises
    ------
    InvalidInputError
    """
    import torch  # X is a tensor: torch is installed and imported.

    if X.ndim != 2:
        raise dimension_error(tuple(X.shape), "a tensor")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise empty_error(tuple(X.shape))
    if X.is_complex():
        raise complex_error(X.dtype)
    if dtype is not None:
        X = X.to(getattr(torch, dtype))
    elif X.dtype not in (torch.float32, torch.float64):
        X = X.to(torch.float64)
    finite = torch.isfinite(X) | torch.isnan(X) if allow_nan else torch.isfinite(X)
    if not bool(finite.all()):
        first = tuple(int(i) for i in torch.nonzero(~finite)[0])
        raise not_finite_error("X", first, int(torch.isnan(X).sum()), int(torch.isinf(X).sum()))
    return X


def check_sample_weight(sample_weight: Any, n_samples: int, dtype: np.dtype) -> np.ndarray | None:
    """Validate sample weights: one non-negative finite number per row, not all zero.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), scalar or None
        The weights; a scalar applies to every row; None means all ones.
    n_samples : int
        Number of rows of X.
    dtype : numpy dtype
        dtype to return (that of X, so kernels stay in one precision).

    Returns
    -------
    ndarray of shape (n_samples,) or None

    Raises
    ------
    InvalidInputError
    """
    if sample_weight is None:
        return None
    sample_weight = _unmasked(
        sample_weight,
        "sample_weight",
        "Fill them, e.g. sample_weight.filled(0) to leave those rows out of the fit.",
    )
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight)
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"sample_weight must be numeric; converting it failed: {error}."
        ) from error
    if weights.shape != (n_samples,):
        raise weight_shape_error(n_samples, weights.shape)
    check_finite(weights, "sample_weight")
    if np.any(weights < 0):
        first = int(np.argmax(weights < 0))
        raise negative_weight_error(first, int(np.sum(weights < 0)), float(weights[first]))
    if not np.any(weights > 0):
        raise no_positive_weight_error()
    return weights.astype(dtype, copy=False)


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    minimum: float | None = None,
    allow_none: bool = False,
) -> None:
    """Raise :class:`InvalidParameterError` unless ``value`` is a suitable number.

    Parameters
    ----------
    name : str
        Parameter name for the message.
    value : object
        The value to check.
    integer : bool, default=False
        Whether an integer is required.
    minimum : float, optional
        Smallest allowed value (inclusive).
    allow_none : bool, default=False
        Whether None is allowed.
    """
    if value is None and allow_none:
        return
    value_type = type(value)
    if value_type is int or value_type is float:
        # The usual values, without the abstract-class checks (a fit checks nine numbers).
        valid = value_type is int or not integer
    else:
        kind = numbers.Integral if integer else numbers.Real
        valid = isinstance(value, kind) and not isinstance(value, bool)
    if valid and not integer:
        try:
            valid = math.isfinite(value)
        except OverflowError:  # an integer beyond float's range: finite
            valid = True
    if valid and minimum is not None:
        valid = value >= minimum
    if not valid:
        what = "an integer" if integer else "a finite number"
        bound = "" if minimum is None else f" >= {minimum}"
        raise InvalidParameterError(
            f"{name} must be {what}{bound}; got {value!r}. Set {name} to a valid value."
        )


def _check_init_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"{name} must be numeric; converting it failed: {error}."
        ) from error
    if array.shape != shape:
        raise InvalidParameterError(
            f"{name} must have shape {shape}; got shape {array.shape}. Check n_components, "
            "the number of features and covariance_type."
        )
    if not np.isfinite(array).all():
        raise InvalidParameterError(
            f"{name} must contain only finite values; got NaN or inf. Replace them or leave "
            f"{name}=None to draw the initial values."
        )
    return array


def _check_init_precisions(precisions: np.ndarray, form: CovarianceForm) -> None:
    """Positive variances (elementwise forms) or symmetric positive definite matrices."""
    if form.elementwise:
        if precisions.min() <= 0:
            raise InvalidParameterError(
                f"precisions_init must be positive for a {form} covariance; got a minimum "
                f"of {precisions.min():.6g}. Pass inverse variances (1 / variance)."
            )
        return
    # All matrices at once (one isclose and one batched eigvalsh instead of K of each, a
    # fixed cost of every fit from given precisions); the first defective matrix is
    # reported, as a check one by one would.
    stacked = form.stacked(precisions)
    # np.isclose's test (rtol 1e-5, atol 1e-8) written out for finite values: on three
    # 5 × 5 matrices isclose took 34 µs against 11 µs, in a fit of about 1 ms
    # (benchmarks/bench_small.py, same start).
    transposed = np.swapaxes(stacked, -1, -2)
    close = np.abs(stacked - transposed) <= 1e-8 + 1e-5 * np.abs(transposed)
    symmetric = close.all(axis=(-2, -1))
    smallest_eigenvalues = np.linalg.eigvalsh(stacked).min(axis=-1)
    bad = np.flatnonzero(~symmetric | (smallest_eigenvalues <= 0))
    if bad.size:
        index = int(bad[0])
        matrix = stacked[index]
        if not symmetric[index]:
            raise InvalidParameterError(
                f"precisions_init must be symmetric; matrix {index} is not (largest "
                f"asymmetry {np.max(np.abs(matrix - matrix.T)):.6g}). Pass inverse "
                "covariance matrices, e.g. symmetrised as (P + P.T) / 2."
            )
        raise InvalidParameterError(
            "precisions_init must be positive definite; matrix "
            f"{index} has smallest eigenvalue {float(smallest_eigenvalues[index]):.6g}. Pass "
            "inverse covariance matrices (np.linalg.inv of a positive definite covariance)."
        )


def check_init_arrays(
    weights_init: Any,
    means_init: Any,
    precisions_init: Any,
    form: CovarianceForm | str,
    n_components: int,
    n_features: int,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Validate user-given initial weights, means and precisions.

    Parameters
    ----------
    weights_init : array-like of shape (n_components,) or None
        Must be in [0, 1] and sum to one (to 1e-6).
    means_init : array-like of shape (n_components, n_features) or None
        Finite means.
    precisions_init : array-like or None
        Precisions in the compact shape of ``form``; positive (spherical, diagonal) or
        symmetric positive definite (tied, full).
    form : CovarianceForm or its name
        The covariance form.
    n_components, n_features : int
        K and D.

    Returns
    -------
    tuple of (ndarray or None)
        The validated arrays, float64; weights renormalised to sum exactly to one.

    Raises
    ------
    InvalidParameterError
    """
    weights = means = precisions = None
    if weights_init is not None:
        weights = _check_init_array("weights_init", weights_init, (n_components,))
        if weights.min() < 0 or weights.max() > 1:
            raise InvalidParameterError(
                f"weights_init must lie in [0, 1]; got values from {weights.min():.6g} to "
                f"{weights.max():.6g}. Pass mixing proportions: non-negative, summing to one."
            )
        total = float(weights.sum())
        if abs(total - 1.0) > 1e-6:
            raise InvalidParameterError(
                f"weights_init must sum to one; got sum(weights_init) = {total:.8g}. Divide "
                "them by their sum."
            )
        weights = weights / total
    if means_init is not None:
        means = _check_init_array("means_init", means_init, (n_components, n_features))
    if precisions_init is not None:
        form = as_form(form)
        shape = form.compact_shape(n_components, n_features)
        precisions = _check_init_array("precisions_init", precisions_init, shape)
        _check_init_precisions(precisions, form)
    return weights, means, precisions
