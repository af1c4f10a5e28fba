"""The Dask executor: one Dask computation per E-step over the row chunks of a Dask array.

Every chunk computes its :class:`~gaussmix.kernels.ChunkMoments` with the same kernels
as the in-memory path; the partial moments are summed by a tree of additions whose shape
depends only on the number of chunks, so the result does not depend on which worker ran
what, or in which order tasks finished. Only the K-sized moments travel to the client,
where :func:`gaussmix.kernels.unwhiten` and the M-step run.

Dask is imported lazily: ``import gaussmix`` works without it, and fitting a Dask
collection without it raises an :class:`ImportError` that names the extra to install.
"""

from __future__ import annotations

import functools
import operator
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gaussmix.backends.base import Executor
from gaussmix.backends.numpy import NumpyBackend
from gaussmix.covariance.forms import SecondMoment
from gaussmix.exceptions import InvalidInputError, InvalidParameterError, NonNumericDataError
from gaussmix.kernels import ChunkMoments, PreparedParameters
from gaussmix.validation import (
    check_n_features,
    check_sample_weight,
    dimension_error,
    empty_error,
    negative_weight_error,
    no_positive_weight_error,
    non_numeric_columns_error,
    not_finite_error,
    weight_shape_error,
)

__all__ = [
    "INIT_SAMPLE_BYTES",
    "INIT_SAMPLE_SIZE",
    "DaskBackend",
    "DaskFitData",
    "PersistPolicy",
    "check_dask_data",
    "check_persist",
    "dask_weighted_mean",
    "is_dask_collection",
    "prepare_dask_fit",
    "require_dask",
    "should_persist",
]

PersistPolicy = Literal["auto"] | bool

#: Most rows drawn uniformly (without replacement) to initialise a fit on Dask input.
#: Data with no more rows than the sample holds are initialised from all their rows,
#: exactly as the in-memory path does, so both give the same start.
INIT_SAMPLE_SIZE = 100_000

#: The sample is also capped in bytes, so that wide data do not pull more than this
#: to the client (and through the memory of a worker).
INIT_SAMPLE_BYTES = 32 * 2**20

#: Under ``persist="auto"``, X is kept in memory when it takes at most this fraction
#: of the memory available to the workers (or, without a cluster, to this machine).
PERSIST_MEMORY_FRACTION = 0.5

# Partial statistics are summed in groups of this many: fewer tasks than a binary
# tree, and still a fixed order.
_SUM_FAN_IN = 8


def require_dask() -> Any:
    """Import and return the ``dask`` module, or explain how to install it.

    Returns
    -------
    module
        ``dask`` with ``dask.array`` imported.

    Raises
    ------
    ImportError
        When dask is not installed.
    """
    try:
        import dask

        # dask.array is a subpackage: importing it makes dask.array usable below.
        import dask.array
    except ImportError as error:
        raise ImportError(
            "Fitting Dask arrays and dataframes needs dask: pip install 'gaussmix[dask]'"
        ) from error
    return dask


def is_dask_collection(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection (array, dataframe, series...).

    Dask is not imported to answer: an object can only be a Dask collection when dask
    has already been imported by whoever built it.

    Parameters
    ----------
    obj : object

    Returns
    -------
    bool
    """
    dask = sys.modules.get("dask")
    if dask is None:
        return False
    return bool(dask.is_dask_collection(obj))


def check_persist(persist: Any) -> None:
    """Validate the ``persist`` option of the estimator.

    Parameters
    ----------
    persist : {"auto", True, False}

    Raises
    ------
    InvalidParameterError
    """
    if not (persist == "auto" or isinstance(persist, bool)):
        raise InvalidParameterError(
            f'persist must be "auto", True or False; got {persist!r}. Use "auto" to let '
            "gaussmix decide from the size of X and the memory of the workers."
        )


def _check_block_values(block: np.ndarray, weights: np.ndarray | None, offset: int) -> None:
    """Raise on NaN/inf in a chunk of X, or on invalid weights; ``offset`` is its first row."""
    finite = np.isfinite(block)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        raise not_finite_error("X", (offset + int(row), int(column)))
    if weights is None:
        return
    if not np.isfinite(weights).all():
        row = offset + int(np.argmin(np.isfinite(weights)))
        raise not_finite_error("sample_weight", (row,))
    if np.any(weights < 0):
        raise negative_weight_error(offset + int(np.argmax(weights < 0)))


def _block_moments(
    block: np.ndarray,
    weights: np.ndarray | None,
    prepared: PreparedParameters,
    moment: SecondMoment,
    chunk_size: int,
    check_offset: int | None,
) -> ChunkMoments:
    """The task run on one Dask chunk: its moments, in cache-sized row blocks."""
    if check_offset is not None:
        _check_block_values(block, weights, check_offset)
    executor = NumpyBackend(block, weights, chunk_size, use_fused=False)
    return executor.sum_moments(prepared, moment)


def _sum_in_order(parts: list[ChunkMoments]) -> ChunkMoments:
    return functools.reduce(operator.add, parts)


def _apply_rows(
    block: np.ndarray,
    function: Callable[[np.ndarray], np.ndarray],
    chunk_size: int,
    block_info: dict | None = None,
) -> np.ndarray:
    """Apply a row-wise function to one Dask chunk, after checking its values."""
    if block_info is not None and 0 in block_info:
        _check_block_values(block, None, int(block_info[0]["array-location"][0][0]))
    if block.shape[0] == 0:
        return function(block)
    return NumpyBackend(block, None, chunk_size, use_fused=False).map_rows(function)


class DaskBackend(Executor):
    """Runs the E-step over the row chunks of a Dask array as one Dask computation.

    Workers use the array kernels, not the compiled ones of :mod:`gaussmix.fused`:
    numba's LLVM adds about 170 MB to every worker process, too much for the lean,
    memory-capped workers out-of-core fits run on.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        The data, float32 or float64, one chunk across all columns (whole rows).
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Non-negative weights chunked like the rows of X; None means all ones.
    chunk_size : int
        Rows per block inside each Dask chunk (keeps the kernels' scratch cache-sized).

    Notes
    -----
    The first call of :meth:`statistics` also checks every chunk for NaN/inf and
    negative weights, so validating X costs no extra pass over the data. Whatever
    scheduler runs the graph, chunk statistics are added in a fixed tree: results are
    reproducible to the last bit, and lost tasks (a worker dying) are simply recomputed.
    """

    def __init__(self, X: Any, sample_weight: Any | None, chunk_size: int):
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = int(chunk_size)
        self._values_checked = False

    def _offsets(self) -> list[int]:
        return [int(start) for start in np.cumsum((0, *self.X.chunks[0]))[:-1]]

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """The chunks' moments, one Dask task per chunk, summed by a fixed tree of fan-in 8.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare` (NumPy, the data's dtype).
        moment : {"diagonal", "full"}
            The second moment to accumulate.

        Returns
        -------
        ChunkMoments
            NumPy float64 arrays, computed by one ``dask.compute``.
        """
        dask = require_dask()
        blocks = self.X.to_delayed().ravel()
        if self.sample_weight is None:
            weights = [None] * len(blocks)
        else:
            weights = list(self.sample_weight.to_delayed().ravel())
        # One graph node holds the parameters, so they travel once per worker, not per task.
        shared = dask.delayed(prepared, name=f"gaussmix-parameters-{uuid.uuid4().hex}")
        task = dask.delayed(_block_moments, pure=True)
        check = not self._values_checked
        parts = [
            task(block, block_weights, shared, moment, self.chunk_size, offset if check else None)
            for block, block_weights, offset in zip(blocks, weights, self._offsets(), strict=True)
        ]
        add = dask.delayed(_sum_in_order, pure=True)
        while len(parts) > 1:
            parts = [add(parts[i : i + _SUM_FAN_IN]) for i in range(0, len(parts), _SUM_FAN_IN)]
        (total,) = dask.compute(parts[0])
        self._values_checked = True
        return total

    def map_rows(self, function: Callable[[np.ndarray], np.ndarray]) -> Any:
        """A lazy Dask array: ``function`` applied to the rows of every chunk of X.

        Parameters
        ----------
        function : callable
            Maps a (rows, n_features) block to an array with one leading entry per row,
            1-D or 2-D.

        Returns
        -------
        dask.array.Array
            Chunked like the rows of X; nothing is computed until the caller asks.
        """
        # One row at the origin reveals the output's dtype and columns without touching X.
        probe = np.asarray(function(np.zeros((1, self.X.shape[1]), dtype=self.X.dtype)))
        name = f"gaussmix-rows-{uuid.uuid4().hex}"
        meta = np.empty((0,) * probe.ndim, dtype=probe.dtype)
        kwargs = {"function": function, "chunk_size": self.chunk_size}
        if probe.ndim == 1:
            return self.X.map_blocks(
                _apply_rows, drop_axis=1, dtype=probe.dtype, meta=meta, name=name, **kwargs
            )
        return self.X.map_blocks(
            _apply_rows,
            chunks=(self.X.chunks[0], probe.shape[1:]),
            dtype=probe.dtype,
            meta=meta,
            name=name,
            **kwargs,
        )


def _as_dask_array(X: Any) -> tuple[Any, np.ndarray | None]:
    """A Dask array of X and the column names when X is a Dask dataframe."""
    da = require_dask().array
    names = None
    if hasattr(X, "to_dask_array") and hasattr(X, "columns") and X.ndim == 2:
        bad = [str(column) for column, dtype in X.dtypes.items() if dtype.kind not in "biuf"]
        if bad:
            raise non_numeric_columns_error(bad)
        columns = list(X.columns)
        if columns and all(isinstance(column, str) for column in columns):
            names = np.asarray(columns, dtype=object)
        # Partition lengths are needed to place rows; computing them reads each partition once.
        X = X.to_dask_array(lengths=True)
    elif not isinstance(X, da.Array):
        raise InvalidInputError(
            "X must be a dask.array.Array or a dask.dataframe.DataFrame; got "
            f"{type(X).__name__}. Convert it with X.to_dask_array() or da.from_array(X)."
        )
    return X, names


def check_dask_data(estimator: Any, X: Any, *, reset: bool) -> Any:
    """Validate a Dask collection lazily: shape, dtype and features, without computing X.

    NaN and inf are looked for by the first pass over the data (the first E-step, or the
    tasks of a prediction), which raises :class:`InvalidInputError` with their row.

    Parameters
    ----------
    estimator : BaseEstimator
        Whose ``n_features_in_``/``feature_names_in_`` are set (``reset``) or checked.
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        The data.
    reset : bool
        True in ``fit``, False in ``predict`` and friends.

    Returns
    -------
    dask.array.Array of shape (n_samples, n_features)
        float32 or float64 (other numbers become float64), one chunk across all columns.

    Raises
    ------
    InvalidInputError, NonNumericDataError
    """
    X, names = _as_dask_array(X)
    if X.ndim != 2:
        raise dimension_error(X.shape, "a Dask array")
    if X.dtype.kind not in "biuf":
        raise NonNumericDataError(
            f"X must contain only numbers; got a Dask array of dtype {X.dtype}. Convert it "
            "with X.astype('float64') or drop the non-numeric values first."
        )
    if any(np.isnan(size) for size in X.chunks[0]):
        X = X.compute_chunk_sizes()
    n_samples, n_features = X.shape
    if n_samples < 1 or n_features < 1:
        raise empty_error(X.shape)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    check_n_features(estimator, n_features, reset=reset, names=names)
    return X.rechunk({1: -1})


def _check_dask_weights(sample_weight: Any, X: Any) -> Any:
    """Sample weights as a Dask array chunked like the rows of X (values are checked later)."""
    da = require_dask().array
    if sample_weight is None:
        return None
    if not is_dask_collection(sample_weight):
        weights = check_sample_weight(sample_weight, X.shape[0], X.dtype)
        return da.from_array(weights, chunks=(X.chunks[0],))
    if hasattr(sample_weight, "to_dask_array"):
        sample_weight = sample_weight.to_dask_array(lengths=True)
    if sample_weight.ndim != 1 or sample_weight.shape[0] != X.shape[0]:
        raise weight_shape_error(X.shape[0], sample_weight.shape)
    if sample_weight.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"sample_weight must be numeric; got dtype {sample_weight.dtype}. Convert it with "
            "sample_weight.astype('float64')."
        )
    return sample_weight.astype(X.dtype).rechunk((X.chunks[0],))


def _active_client() -> Any | None:
    """The current ``distributed`` client, or None when none is active."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        return None


def _available_memory(client: Any | None) -> float:
    """Bytes the data could occupy: the workers' memory limits, or this machine's free memory."""
    if client is not None:
        workers = client.scheduler_info().get("workers", {}).values()
        limits = [float(info.get("memory_limit") or 0) for info in workers]
        if limits and all(limits):
            return sum(limits)
    import psutil

    return float(psutil.virtual_memory().available)


def should_persist(persist: PersistPolicy, nbytes: float, client: Any | None) -> bool:
    """Whether a fit keeps X in memory under a persistence policy.

    Parameters
    ----------
    persist : {"auto", True, False}
        The policy; True and False are obeyed as given.
    nbytes : float
        Size of X in bytes.
    client : distributed.Client or None
        The active client, whose workers' memory limits bound what ``"auto"`` persists;
        None means the local scheduler, bounded by this machine's available memory.

    Returns
    -------
    bool
    """
    if persist != "auto":
        return bool(persist)
    return nbytes <= PERSIST_MEMORY_FRACTION * _available_memory(client)


@dataclass(frozen=True)
class DaskFitData:
    """Validated Dask data for a fit, and the in-memory sample that initialises it.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Row-chunked data, persisted or not according to the policy.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Weights chunked like the rows of X.
    sample : ndarray of shape (n_sample, n_features)
        The rows the initialisation sees: all of X when it fits in the sample (at most
        :data:`INIT_SAMPLE_SIZE` rows and :data:`INIT_SAMPLE_BYTES` bytes), else that
        many rows drawn uniformly.
    sample_weights : ndarray of shape (n_sample,) or None
        Their weights.
    persisted : bool
        Whether X was persisted (kept in the memory of the workers).
    """

    X: Any
    sample_weight: Any | None
    sample: np.ndarray
    sample_weights: np.ndarray | None
    persisted: bool


def prepare_dask_fit(
    estimator: Any,
    X: Any,
    sample_weight: Any,
    *,
    reset: bool,
    persist: PersistPolicy,
    random_state: np.random.RandomState,
    allow_nan: bool = False,
) -> DaskFitData:
    """Validate Dask input for ``fit``, apply the persistence policy and draw the start's sample.

    Parameters
    ----------
    estimator : GaussianMixture
        The estimator being fitted (its feature records are set or checked; its
        ``verbose`` decides whether the dashboard link is printed).
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        The data.
    sample_weight : array-like or dask.array.Array of shape (n_samples,), or None
        Non-negative weights.
    reset : bool
        False on a warm start (features are checked instead of recorded).
    persist : {"auto", True, False}
        ``True`` keeps X in the workers' memory for the whole fit, ``False`` re-reads it
        from its source at every iteration, ``"auto"`` persists when X takes at most
        :data:`PERSIST_MEMORY_FRACTION` of the workers' memory limits (or of this
        machine's available memory when no distributed client is active).
    random_state : numpy.random.RandomState
        Draws the sample (only when X does not fit in it whole, so
        that smaller data consume the same random numbers as the in-memory path).
    allow_nan : bool, default=False
        Accept NaN in the sample (missing values, ``missing="em"``).

    Returns
    -------
    DaskFitData

    Notes
    -----
    The sample is the only data pulled to the client: at most
    :data:`INIT_SAMPLE_SIZE` rows and :data:`INIT_SAMPLE_BYTES` bytes, fetched by one
    Dask computation.
    """
    dask = require_dask()
    check_persist(persist)
    X = check_dask_data(estimator, X, reset=reset)
    weights = _check_dask_weights(sample_weight, X)
    client = _active_client()
    if client is not None and estimator.verbose >= 1:
        print(f"Dask dashboard: {client.dashboard_link}", file=sys.stdout, flush=True)
    persisted = should_persist(persist, X.nbytes, client)
    if persisted:
        X = X.persist()
        weights = None if weights is None else weights.persist()

    n_samples, n_features = X.shape
    sample_size = min(INIT_SAMPLE_SIZE, INIT_SAMPLE_BYTES // (n_features * X.dtype.itemsize))
    sample_size = max(sample_size, estimator.n_components)
    if n_samples <= sample_size:
        rows, row_weights = X, weights
        indices = np.arange(n_samples)
    else:
        # A Generator draws k of n without materialising a permutation of all n rows.
        generator = np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
        indices = np.sort(generator.choice(n_samples, size=sample_size, replace=False))
        rows = X[indices]
        row_weights = None if weights is None else weights[indices]
    # Pieces are joined here, on the client, not on a worker that may be short of memory.
    pieces, weight_pieces = dask.compute(
        list(rows.to_delayed().ravel()),
        None if row_weights is None else list(row_weights.to_delayed().ravel()),
    )
    sample = np.concatenate(pieces)
    sample_weights = None if weight_pieces is None else np.concatenate(weight_pieces)
    finite = np.isfinite(sample) | (np.isnan(sample) if allow_nan else False)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        raise not_finite_error("X", (int(indices[row]), int(column)))
    if sample_weights is not None:
        _check_block_values(np.nan_to_num(sample) if allow_nan else sample, sample_weights, 0)
        if not np.any(sample_weights > 0):
            raise no_positive_weight_error("the rows drawn to initialise")
    return DaskFitData(X, weights, sample, sample_weights, persisted)


def dask_weighted_mean(values: Any, sample_weight: Any) -> float:
    """Mean of a lazy 1-D Dask array, optionally weighted, computed in one pass.

    Parameters
    ----------
    values : dask.array.Array of shape (n_samples,)
        E.g. the log-densities from ``score_samples``.
    sample_weight : array-like or dask.array.Array of shape (n_samples,), or None
        Non-negative weights.

    Returns
    -------
    float
    """
    dask = require_dask()
    values = values.astype(np.float64)
    if sample_weight is None:
        return float(dask.compute(values.mean())[0])
    weights = _check_dask_weights(sample_weight, values[:, None]).astype(np.float64)
    numerator, denominator, smallest = dask.compute(
        (values * weights).sum(), weights.sum(), weights.min()
    )
    if smallest < 0:
        raise negative_weight_error(int(dask.compute(weights.argmin())[0]))
    if not denominator > 0:
        raise no_positive_weight_error("the rows to score")
    return float(numerator / denominator)
