"""The one place that tells NumPy, torch and Dask inputs apart.

Everything above this module (the estimator, the fitting engine, model selection) asks it
what the data are, how to validate them, which executor visits them and how to return a
result in the type the user passed; nothing above branches on the type of X itself.

- NumPy (and anything NumPy can read: lists, pandas, ``np.matrix``): validated once by
  :func:`gaussmix.validation.check_data`, visited by :func:`gaussmix.backends.numpy.numpy_backend`.
- torch tensors: validated on their device (:func:`gaussmix.backends.torch.check_tensor`),
  visited by :class:`gaussmix.backends.torch.TorchBackend` when the backend is ``"torch"``
  (or ``"auto"``), results returned as tensors on the input's device.
- Dask collections: validated lazily inside the first E-step's tasks, visited by
  :class:`gaussmix.backends.dask.DaskBackend`; the start is drawn from an in-memory sample
  and outputs stay lazy.
- Chunked sources (a callable yielding chunks, Parquet/CSV files, Zarr/HDF5 datasets):
  scanned once by :func:`gaussmix.backends.stream.scan_source`, visited pass by pass by
  :class:`gaussmix.backends.stream.StreamExecutor`; the start is drawn from a reservoir
  sample. Only ``fit`` (and ``fit_predict``) take them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gaussmix import precompile
from gaussmix.backends.dask import (
    check_dask_data,
    dask_backend,
    dask_weighted_mean,
    is_dask_collection,
    prepare_dask_fit,
)
from gaussmix.backends.numpy import default_chunk_size, numpy_backend, rows_per_task
from gaussmix.backends.stream import (
    CheckedSource,
    StreamExecutor,
    as_source,
    is_source,
    scan_source,
)
from gaussmix.backends.torch import import_torch, is_tensor, to_numpy
from gaussmix.exceptions import InvalidInputError
from gaussmix.missing import (
    check_missing_values,
    masked_as_nan,
    missing_values_executor,
)
from gaussmix.missing_dask import DaskMissingValuesExecutor
from gaussmix.validation import check_data, check_sample_weight

__all__ = [
    "ArrayKind",
    "ExecutorOptions",
    "FitData",
    "as_input_type",
    "check_rows",
    "fit_data",
    "input_kind",
    "ldexp",
    "make_executor",
    "n_columns",
    "n_rows",
    "to_host",
    "to_host_computed",
    "weighted_mean",
]

ArrayKind = Literal["numpy", "torch", "dask"]

to_host = to_numpy
"""A NumPy view or copy of a tensor; anything else unchanged."""


def input_kind(X: Any) -> ArrayKind:
    """Which of the three kinds of input X is.

    Parameters
    ----------
    X : object

    Returns
    -------
    {"numpy", "torch", "dask"}
        ``"numpy"`` for everything that is neither a torch tensor nor a Dask collection
        (lists, DataFrames and other array-likes are read through NumPy).
    """
    if type(X) is np.ndarray:  # the usual input, without the collection and tensor tests
        return "numpy"
    if is_dask_collection(X):
        return "dask"
    return "torch" if is_tensor(X) else "numpy"


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the E-steps run: the estimator's ``backend``, ``chunk_size`` and ``device``.

    Parameters
    ----------
    backend : {"numpy", "torch", "auto"}, default="numpy"
        ``"auto"`` runs torch tensors on torch and everything else on NumPy.
    chunk_size : int or None, default=None
        Rows per chunk; None picks a cache-sized value for K and D.
    device : str, torch.device or None, default=None
        Device of the torch executor.
    missing : {"error", "em"}, default="error"
        ``"em"``: NaN entries are missing values (:mod:`gaussmix.missing` visits the rows
        that have one).
    """

    backend: str = "numpy"
    chunk_size: int | None = None
    device: Any = None
    missing: str = "error"

    def uses_torch(self, X: Any) -> bool:
        """Whether the kernels run on torch for this input."""
        return self.backend == "torch" or (self.backend == "auto" and is_tensor(X))


def check_rows(estimator: Any, X: Any, *, reset: bool, backend: str, dtype: str | None) -> Any:
    """Validated X for ``estimator``: the same kind of array, checked and converted.

    Parameters
    ----------
    estimator : BaseEstimator
        Records ``n_features_in_`` (and ``feature_names_in_``) when ``reset``, checks them
        otherwise.
    X : array-like, torch.Tensor or Dask collection of shape (n_samples, n_features)
        The data.
    reset : bool
        True in ``fit``, False when predicting.
    backend : {"numpy", "torch", "auto"}
        A tensor stays a tensor on the torch executor; otherwise it is copied to NumPy.
    dtype : {"float32", "float64"} or None
        Precision of the kernels; None keeps float32 and float64.

    Returns
    -------
    ndarray, torch.Tensor or dask.array.Array
        A Dask array is checked lazily (its values inside the E-step's tasks).
    """
    kind = input_kind(X)
    if kind == "dask":
        return check_dask_data(estimator, X, reset=reset)
    if is_source(X):
        raise InvalidInputError(
            "X must be an array here: only fit and fit_predict stream a chunked source; got "
            f"{type(X).__name__}. Evaluate chunk by chunk, e.g. "
            "np.concatenate([model.predict(chunk) for chunk in chunks()])."
        )
    allow_nan = getattr(estimator, "missing", "error") == "em"
    if kind == "torch" and ExecutorOptions(backend).uses_torch(X):
        return _check_tensor_rows(estimator, X, reset=reset, dtype=dtype, allow_nan=allow_nan)
    X = masked_as_nan(X) if allow_nan else X
    X = check_data(estimator, to_numpy(X), reset=reset, allow_nan=allow_nan)
    return X if dtype is None else X.astype(dtype, copy=False)


def _check_tensor_rows(
    estimator: Any, X: Any, *, reset: bool, dtype: str | None, allow_nan: bool = False
) -> Any:
    from gaussmix.backends.torch import check_tensor

    X = check_tensor(X, dtype, allow_nan=allow_nan)
    if reset:
        estimator.n_features_in_ = int(X.shape[1])
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif X.shape[1] != estimator.n_features_in_:
        raise InvalidInputError(
            f"X must have {estimator.n_features_in_} features, as in fit; got "
            f"{X.shape[1]}. Pass the same columns as when fitting."
        )
    return X


def make_executor(X: Any, sample_weight: Any, options: ExecutorOptions, n_components: int) -> Any:
    """The executor of E-steps and row maps over validated X.

    Parameters
    ----------
    X : ndarray, torch.Tensor or dask.array.Array of shape (n_samples, n_features)
        Validated data.
    sample_weight : array of shape (n_samples,) or None
        Weights, of the same kind as X.
    options : ExecutorOptions
        Backend, chunk size and device.
    n_components : int
        K, which sets the default chunk size.

    Returns
    -------
    executor
        ``TorchBackend``, ``DaskBackend``, or the NumPy executors (the small-data one when
        all rows fit in one task).
    """
    streamed = isinstance(X, CheckedSource)
    if options.missing == "em" and not streamed:
        if is_dask_collection(X):
            chunk_size = _chunk_size(X, options, n_components)
            return DaskMissingValuesExecutor(X, sample_weight, chunk_size)
        ordinary = ExecutorOptions(options.backend, options.chunk_size, options.device)

        def executor_over(rows: Any, weights: Any) -> Any:
            return make_executor(rows, weights, ordinary, n_components)

        executor = missing_values_executor(X, sample_weight, executor_over)
        if executor is not None:
            return executor
    if options.uses_torch(X) and not streamed:
        # (A streamed fit runs the NumPy kernels on its chunks, whatever the backend.)
        from gaussmix.backends.torch import TorchBackend

        return TorchBackend(X, sample_weight, options.chunk_size, options.device, n_components)
    if is_dask_collection(X):
        return dask_backend(X, sample_weight, options.chunk_size, n_components)
    chunk_size = _chunk_size(X, options, n_components)
    use_fused = None
    if X.shape[0] <= rows_per_task(chunk_size, True) and not precompile.ready():
        # Small data while the kernels compile in the background: the array kernels give
        # the same fit to rounding (gaussmix.precompile).
        use_fused = False
    if streamed:
        return StreamExecutor(X, chunk_size, use_fused=use_fused)
    return numpy_backend(X, sample_weight, chunk_size, use_fused=use_fused)


def _chunk_size(X: Any, options: ExecutorOptions, n_components: int) -> int:
    return options.chunk_size or default_chunk_size(
        n_components,
        X.shape[1],
        np.dtype(X.dtype).itemsize,
        # Dask reaches here only with missing values, whose tasks run the array kernels
        # (missing_dask.py).
        fused_kernels=False if is_dask_collection(X) else None,
    )


@dataclass(frozen=True)
class FitData:
    """The validated data of a fit.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
        The rows the start is drawn from: all the data, or for Dask input an in-memory
        sample of them.
    sample_weight : ndarray or None
        Their weights (float64 for a tensor, X's dtype otherwise).
    lazy_X : dask.array.Array, CheckedSource or None, default=None
        Dask input or a chunked source: all the rows, which the executor visits instead
        of ``X``.
    lazy_sample_weight : dask.array.Array or None, default=None
        Their weights.
    """

    X: Any
    sample_weight: np.ndarray | None
    lazy_X: Any = None
    lazy_sample_weight: Any = None

    @property
    def rescalable(self) -> bool:
        """Whether extreme magnitudes may be fitted at a power-of-two scale (not Dask:
        its executor reads the data lazily, as given)."""
        return self.lazy_X is None

    @property
    def fitted_rows(self) -> Any:
        """All the rows of the fit, as validated (lazy for Dask input)."""
        return self.X if self.lazy_X is None else self.lazy_X

    @property
    def n_rows(self) -> int | None:
        """Number of rows of the fit; None when unknown without a pass (a Dask dataframe)."""
        rows = self.fitted_rows.shape[0]
        return int(rows) if isinstance(rows, (int, np.integer)) else None

    def reseed_executor(self, executor: Any, options: ExecutorOptions, n_components: int) -> Any:
        """The executor whose rows (those of ``X``) the collapse policy re-seeds from: the
        fit's own for in-memory data; for Dask data and chunked sources one over the
        in-memory sample, whose rows are the ones the seeds are taken from (the worst
        explained row of the sample, not of all rows: no extra pass over the data)."""
        if self.lazy_X is not None:
            return make_executor(self.X, self.sample_weight, options, n_components)
        return executor

    def executor(self, X: Any, options: ExecutorOptions, n_components: int) -> Any:
        """The executor over the fit's rows; ``X`` replaces the in-memory rows (rescaled)."""
        if self.lazy_X is not None:
            return make_executor(self.lazy_X, self.lazy_sample_weight, options, n_components)
        return make_executor(X, self.sample_weight, options, n_components)


def fit_data(
    estimator: Any,
    X: Any,
    sample_weight: Any,
    *,
    reset: bool,
    random_state: np.random.RandomState,
) -> FitData:
    """Validate the data and weights of ``estimator.fit``.

    Parameters
    ----------
    estimator : GaussianMixture
        Its ``backend``, ``dtype`` and ``persist`` decide the conversions; its feature
        records are set (``reset``) or checked.
    X : array-like, torch.Tensor or Dask collection of shape (n_samples, n_features)
        The data.
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weights.
    reset : bool
        False on a warm start.
    random_state : numpy.random.RandomState
        Draws the in-memory sample of Dask input (before the starts use it).

    Returns
    -------
    FitData
    """
    if input_kind(X) != "dask" and is_source(X):
        return _streamed_fit_data(
            estimator, X, sample_weight, reset=reset, random_state=random_state
        )
    if input_kind(X) == "dask":
        data = prepare_dask_fit(
            estimator,
            X,
            sample_weight,
            reset=reset,
            persist=estimator.persist,
            random_state=random_state,
            allow_nan=getattr(estimator, "missing", "error") == "em",
        )
        if getattr(estimator, "missing", "error") == "em":
            # The blocks are checked one by one in the first E-step; the columns can be
            # checked only where the sample holds every row.
            check_missing_values(data.sample, whole=data.sample.shape[0] == data.X.shape[0])
        return FitData(data.sample, data.sample_weights, data.X, data.sample_weight)
    X = check_rows(estimator, X, reset=reset, backend=estimator.backend, dtype=estimator.dtype)
    weights = check_sample_weight(
        to_numpy(sample_weight), X.shape[0], np.float64 if is_tensor(X) else X.dtype
    )
    if getattr(estimator, "missing", "error") == "em":
        check_missing_values(np.asarray(to_numpy(X)))
    return FitData(X, weights)


def _streamed_fit_data(
    estimator: Any,
    X: Any,
    sample_weight: Any,
    *,
    reset: bool,
    random_state: np.random.RandomState,
) -> FitData:
    """A chunked source scanned once: its checked form and the start's sample."""
    try:
        streamed = scan_source(
            as_source(X, sample_weight),
            n_components=estimator.n_components,
            dtype=estimator.dtype,
            random_state=random_state,
            n_features=None if reset else estimator.n_features_in_,
        )
    except InvalidInputError as error:
        if getattr(estimator, "missing", "error") != "em":
            raise
        raise InvalidInputError(
            f"{error} A streamed source is fitted without missing values: missing='em' "
            "needs X in memory (an array, a tensor or a Dask array)."
        ) from None
    source = streamed.source
    if reset:
        estimator.n_features_in_ = source.n_features
        if source.names is not None:
            estimator.feature_names_in_ = np.asarray(source.names, dtype=object)
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    return FitData(streamed.sample, streamed.sample_weights, source, None)


def ldexp(X: Any, exponent: int) -> Any:
    """X·2^exponent, exact, for NumPy arrays and torch tensors alike."""
    return X * 2.0**exponent if is_tensor(X) else np.ldexp(X, exponent)


def as_input_type(X: Any, result: Any) -> Any:
    """A per-row result in the type of the input X (scikit-learn's rule).

    A torch tensor in gives a tensor out on X's device (the kernels may have run
    elsewhere: ``device=None`` picks CUDA for a CPU tensor, ``backend="numpy"`` the host);
    a Dask collection gives a lazy Dask array; anything else NumPy.

    Parameters
    ----------
    X : object
        What the user passed.
    result : ndarray, torch.Tensor or dask.array.Array
        What the executor returned.

    Returns
    -------
    ndarray, torch.Tensor or dask.array.Array
    """
    if is_dask_collection(result):
        return result
    if is_tensor(X):
        if not is_tensor(result):
            result = import_torch().from_numpy(np.ascontiguousarray(result))
        return result.to(X.device)
    return to_numpy(result)


def to_host_computed(result: Any) -> np.ndarray:
    """A NumPy array of any result: a Dask array is computed, a tensor copied to the host."""
    if is_dask_collection(result):
        result = result.compute()
    return np.asarray(to_numpy(result))


def weighted_mean(values: Any, sample_weight: Any) -> float:
    """The (optionally weighted) mean of per-row values, lazy ones computed in one pass.

    Parameters
    ----------
    values : ndarray, torch.Tensor or dask.array.Array of shape (n_samples,)
        E.g. log-densities.
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weights.

    Returns
    -------
    float
    """
    if is_dask_collection(values):
        return dask_weighted_mean(values, sample_weight)
    values = to_numpy(values)
    weights = check_sample_weight(to_numpy(sample_weight), values.shape[0], np.float64)
    return float(np.average(values.astype(np.float64), weights=weights))


def n_rows(X: Any) -> int:
    """Number of rows of any accepted input (a Dask dataframe's length is computed)."""
    if is_dask_collection(X):
        return len(X)
    return int(X.shape[0]) if is_tensor(X) else np.shape(X)[0]


def n_columns(X: Any) -> int | None:
    """Number of columns of 2-D input, read without validating it (None when unknown)."""
    try:
        shape = X.shape if hasattr(X, "shape") else np.shape(X)
    except (TypeError, ValueError):
        return None
    if len(shape) != 2 or not isinstance(shape[1], (int, np.integer)):
        return None
    return int(shape[1])
