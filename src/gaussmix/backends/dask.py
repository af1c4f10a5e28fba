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

import asyncio
import functools
import operator
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gaussmix import fused
from gaussmix.backends.base import Executor, PosteriorFunction
from gaussmix.backends.numpy import NumpyBackend, default_chunk_size, posterior_rows
from gaussmix.blas_threads import one_blas_thread
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
    "FUSED_MIN_WORKER_MEMORY",
    "INIT_SAMPLE_BYTES",
    "INIT_SAMPLE_SIZE",
    "DaskBackend",
    "DaskFitData",
    "PersistPolicy",
    "check_dask_data",
    "check_persist",
    "dask_backend",
    "dask_weighted_mean",
    "fused_on_workers",
    "is_dask_collection",
    "persist_rows",
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

#: Workers with a smaller ``memory_limit`` keep the array kernels: numba, LLVM and the
#: compiled kernels of both dtypes add about 108 MiB to a worker process (200 → 308 MiB,
#: ``distributed`` 2026.8, numba 0.68), which a lean out-of-core worker cannot spare (at a
#: 400 MB cap the nanny paused it at 80 %, ``tests/backends/test_dask.py``).
FUSED_MIN_WORKER_MEMORY = 2**30

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
    use_fused: bool,
) -> ChunkMoments | np.ndarray:
    """The task run on one Dask chunk: its moments, in cache-sized row blocks.

    With the compiled kernels the whole chunk is one call (:func:`gaussmix.fused.block_moments`,
    a packed float64 vector); otherwise the array kernels visit it chunk by chunk
    (:class:`~gaussmix.kernels.ChunkMoments`). Either way in the calling worker thread only:
    the worker's threads are the parallelism, and BLAS is held to one thread.
    """
    if check_offset is not None:
        _check_block_values(block, weights, check_offset)
    with one_blas_thread():
        if use_fused:
            rows = np.ascontiguousarray(block)
            weights = None if weights is None else np.ascontiguousarray(weights)
            return fused.block_moments(
                rows, 0, rows.shape[0], chunk_size, weights, prepared, moment
            )
        executor = NumpyBackend(block, weights, chunk_size, n_threads=1, use_fused=False)
        return executor.sum_moments(prepared, moment)


def _sum_in_order(parts: list[Any]) -> Any:
    return functools.reduce(operator.add, parts)


def _tree_of_chunks(
    dask: Any,
    blocks: list[Any],
    weights: list[Any],
    offsets: list[int | None],
    shared: Any,
    settings: tuple[SecondMoment, int, bool],
) -> Any:
    """One task per chunk, summed by a tree of fan-in 8 on the workers: the packed total."""
    task = dask.delayed(_block_moments, pure=True)
    parts = [
        task(block, block_weights, shared, *settings[:2], offset, settings[2])
        for block, block_weights, offset in zip(blocks, weights, offsets, strict=True)
    ]
    add = dask.delayed(_sum_in_order, pure=True)
    while len(parts) > 1:
        parts = [add(parts[i : i + _SUM_FAN_IN]) for i in range(0, len(parts), _SUM_FAN_IN)]
    (total,) = dask.compute(parts[0])
    return total


def _group_moments(
    indices: list[int],
    blocks: list[np.ndarray],
    weights: list[np.ndarray | None],
    prepared: PreparedParameters,
    settings: tuple[SecondMoment, int, bool],
    offsets: list[int | None],
) -> list[tuple[int, Any]]:
    """The task of one worker: the moments of the chunks it holds, pre-summed where exact.

    Returns ``(first chunk, moments)`` pairs. A run of chunks that opens a group of the
    fan-in-8 tree (chunk ``8j`` and the chunks after it, held here) is added here in order,
    as the tree's first level adds it; any other chunk comes back alone, so that
    :func:`_finish_tree` adds everything in the tree's order, bit for bit.
    """
    moment, chunk_size, use_fused = settings
    pieces: list[list[Any]] = []  # [first, last, moments, whether it may grow]
    for index, block, block_weights, offset in zip(indices, blocks, weights, offsets, strict=True):
        value = _block_moments(
            block, block_weights, prepared, moment, chunk_size, offset, use_fused
        )
        last = pieces[-1] if pieces else None
        if last is not None and last[3] and index == last[1] + 1 and index % _SUM_FAN_IN:
            last[1], last[2] = index, last[2] + value
        else:
            pieces.append([index, index, value, index % _SUM_FAN_IN == 0])
    return [(first, value) for first, _, value, _ in pieces]


def _finish_tree(groups: list[list[tuple[int, Any]]]) -> Any:
    """The fan-in-8 tree's total of the pieces of :func:`_group_moments`, in its order."""
    by_group: dict[int, list[tuple[int, Any]]] = {}
    for pieces in groups:
        for first, value in pieces:
            by_group.setdefault(first // _SUM_FAN_IN, []).append((first, value))
    parts = [
        _sum_in_order([value for _, value in sorted(by_group[group], key=operator.itemgetter(0))])
        for group in sorted(by_group)
    ]
    while len(parts) > 1:
        parts = [
            _sum_in_order(parts[i : i + _SUM_FAN_IN]) for i in range(0, len(parts), _SUM_FAN_IN)
        ]
    return parts[0]


def _tree_of_groups(
    dask: Any,
    blocks: list[Any],
    weights: list[Any],
    offsets: list[int | None],
    shared: Any,
    settings: tuple[SecondMoment, int, bool],
    holders: list[str | None],
) -> Any:
    """One task per worker over the chunks it holds; the client finishes the tree's sums.

    One task per worker instead of one per chunk plus the tree: a fixed cost of a few
    tasks an iteration, and no queue of chunk tasks for work stealing to move between
    workers with their 16 MB inputs (``benchmarks/results_dask.md``). Chunks whose
    holder is unknown are one task each, wherever the scheduler puts them.
    """
    members: dict[Any, list[int]] = {}
    for index, holder in enumerate(holders):
        members.setdefault(holder if holder is not None else ("alone", index), []).append(index)
    task = dask.delayed(_group_moments, pure=True)
    tasks = [
        task(
            indices,
            [blocks[i] for i in indices],
            [weights[i] for i in indices],
            shared,
            settings,
            [offsets[i] for i in indices],
        )
        for indices in members.values()
    ]
    return _finish_tree(list(dask.compute(*tasks)))


def _chunk_holders(X: Any, client: Any | None) -> list[str | None] | None:
    """The worker holding each chunk of X, in chunk order; None unless X is in the cluster."""
    if client is None or not _in_cluster_memory(X):
        return None
    graph = X.__dask_graph__()
    futures = [graph[key] for key in _flat_keys(X)]
    held = client.who_has(futures)
    return [min(held.get(future.key, ()), default=None) for future in futures]


def _flat_keys(X: Any) -> list[Any]:
    """The keys of a row-chunked array's chunks, in row order."""
    return [row[0] if isinstance(row, list) else row for row in X.__dask_keys__()]


def _apply_rows(
    block: np.ndarray,
    function: Callable[[np.ndarray], np.ndarray],
    chunk_size: int,
    use_fused: bool,
    block_info: dict | None = None,
) -> np.ndarray:
    """Apply a row-wise function to one Dask chunk, after checking its values.

    With the compiled kernels ``function`` takes the whole chunk (one compiled call visits
    it chunk by chunk); otherwise it is called on cache-sized chunks, in this thread.
    """
    if block_info is not None and 0 in block_info:
        _check_block_values(block, None, int(block_info[0]["array-location"][0][0]))
    with one_blas_thread():
        if block.shape[0] == 0 or use_fused:
            return function(block)
        return NumpyBackend(block, None, chunk_size, n_threads=1, use_fused=False).map_rows(
            function
        )


def _smallest_memory_limit(client: Any) -> float:
    """The smallest ``memory_limit`` of the client's workers in bytes (inf: no limit)."""
    workers = client.scheduler_info().get("workers", {}).values()
    limits = [float(info.get("memory_limit") or 0) for info in workers]
    return min((limit for limit in limits if limit > 0), default=float("inf"))


async def _load_kernels_beside_the_loop(dtype: str) -> bool:
    """:func:`gaussmix.fused.load_block_kernels` in a thread, not in the worker's event loop.

    A cold compilation takes 15–30 s; in the event loop it would stall the worker's
    heartbeats and transfers meanwhile.
    """
    return await asyncio.get_running_loop().run_in_executor(None, fused.load_block_kernels, dtype)


def fused_on_workers(dtype: Any) -> bool:
    """Whether the Dask workers (and this process) run the compiled kernels for ``dtype``.

    The kernels are compiled or loaded from numba's disk cache on every worker *now*, all
    workers at once, so that none compiles in the middle of an iteration: a load takes
    under a second, a cold compilation 15–30 s (once per machine: numba's cache is a
    directory beside gaussmix's sources, or ``NUMBA_CACHE_DIR``, which every worker
    process of that machine reads). Without a distributed client the local scheduler's
    threads are this process's.

    Parameters
    ----------
    dtype : numpy dtype
        The data's dtype, float32 or float64.

    Returns
    -------
    bool
        True when this process and every worker have them; False (the array kernels on
        every worker) when numba is missing or cannot compile anywhere, or when a
        worker's ``memory_limit`` is below :data:`FUSED_MIN_WORKER_MEMORY` (numba is
        then not even imported there).
    """
    dtype = np.dtype(dtype)
    client = _active_client()
    if client is not None and _smallest_memory_limit(client) < FUSED_MIN_WORKER_MEMORY:
        return False
    if not fused.load_block_kernels(dtype):
        return False
    if client is None:
        return True
    ready = client.run(_load_kernels_beside_the_loop, dtype.name)
    return bool(ready) and all(ready.values())


def dask_backend(
    X: Any, sample_weight: Any | None, chunk_size: int | None, n_components: int
) -> DaskBackend:
    """The Dask executor over validated X, its kernels chosen once for the whole fit.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Validated, row-chunked data.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Weights chunked like the rows of X.
    chunk_size : int or None
        Rows per block inside each Dask chunk; None picks the cache-sized default of the
        chosen kernels.
    n_components : int
        K, which sets the default chunk size.

    Returns
    -------
    DaskBackend
        With the compiled kernels when :func:`fused_on_workers` says every worker has them.
    """
    use_fused = fused_on_workers(X.dtype)
    if chunk_size is None:
        chunk_size = default_chunk_size(
            n_components, X.shape[1], np.dtype(X.dtype).itemsize, fused_kernels=use_fused
        )
    return DaskBackend(X, sample_weight, chunk_size, use_fused=use_fused)


class DaskBackend(Executor):
    """Runs the E-step over the row chunks of a Dask array as one Dask computation.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        The data, float32 or float64, one chunk across all columns (whole rows).
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Non-negative weights chunked like the rows of X; None means all ones.
    chunk_size : int
        Rows per block inside each Dask chunk (keeps the kernels' scratch cache-sized).
    use_fused : bool, default=False
        Whether the tasks run the compiled kernels of :mod:`gaussmix.fused` (each Dask
        chunk one compiled call) or the array kernels; :func:`dask_backend` decides,
        once, from what the workers have.

    Notes
    -----
    The first call of :meth:`statistics` also checks every chunk for NaN/inf and
    negative weights, so validating X costs no extra pass over the data. Whatever
    scheduler runs the graph, chunk statistics are added in a fixed tree: results are
    reproducible to the last bit, and lost tasks (a worker dying) are simply recomputed.
    The graph of an E-step is built from the chunks' keys taken once (persisted chunks
    stay where they are, :func:`persist_rows`, and are one task per worker) and the
    parameters as one node.
    """

    def __init__(self, X: Any, sample_weight: Any | None, chunk_size: int, use_fused: bool = False):
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = int(chunk_size)
        self._use_fused = bool(use_fused)
        self._values_checked = False
        self._blocks: list[Any] | None = None
        self._weights: list[Any] | None = None

    @property
    def use_fused(self) -> bool:
        """Whether each task is one call of the compiled kernels (else the array kernels)."""
        return self._use_fused

    def _offsets(self) -> list[int]:
        return [int(start) for start in np.cumsum((0, *self.X.chunks[0]))[:-1]]

    def _chunks(self) -> tuple[list[Any], list[Any]]:
        """The Delayed chunks of X and of the weights, taken (and their graph optimised) once."""
        if self._blocks is None:
            self._blocks = list(self.X.to_delayed().ravel())
            if self.sample_weight is None:
                self._weights = [None] * len(self._blocks)
            else:
                self._weights = list(self.sample_weight.to_delayed().ravel())
        return self._blocks, self._weights

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """The chunks' moments, summed by a fixed tree of fan-in 8, in one ``dask.compute``.

        One task per chunk and the tree's sums on the workers; for chunks held by the
        cluster (persisted), one task per worker over the chunks it holds, the client
        finishing the same tree (:func:`_tree_of_groups`), with the same result bit for bit.

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
        blocks, weights = self._chunks()
        shared = _shared_parameters(dask, prepared)
        check = not self._values_checked
        offsets = self._offsets() if check else [None] * len(blocks)
        settings = (moment, self.chunk_size, self._use_fused)
        holders = _chunk_holders(self.X, _active_client())
        if holders is None:
            total = _tree_of_chunks(dask, blocks, weights, offsets, shared, settings)
        else:
            total = _tree_of_groups(dask, blocks, weights, offsets, shared, settings, holders)
        self._values_checked = True
        if self._use_fused:
            return fused.unpack(total, prepared, moment)
        return total

    def posterior_function(self, prepared: PreparedParameters) -> PosteriorFunction:
        """:func:`gaussmix.backends.numpy.posterior_rows` with this executor's kernels.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`.

        Returns
        -------
        callable
            ``rows -> (log_norm, responsibilities)``; a task calls it on its whole chunk
            (compiled kernels) or on cache-sized chunks of it (array kernels).
        """
        return functools.partial(
            posterior_rows, prepared=prepared, use_fused=self._use_fused, chunk_size=self.chunk_size
        )

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
        kwargs = {"function": function, "chunk_size": self.chunk_size, "use_fused": self._use_fused}
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


def _shared_parameters(dask: Any, prepared: PreparedParameters) -> Any:
    """The E-step's parameters as one node of its graph, fetched once by each worker.

    A few KiB for K = D = 8. Scattering them instead (``client.scatter(broadcast=True)``)
    saves no measurable time (``benchmarks/results_dask.md``) and fails with "No valid
    workers found" while a killed worker restarts and the others are paused; a graph
    node is recomputed wherever it is lost.
    """
    return dask.delayed(prepared, name=f"gaussmix-parameters-{uuid.uuid4().hex}")


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


def _held(block: np.ndarray) -> np.ndarray:
    return block


def _in_cluster_memory(array: Any) -> bool:
    """Whether every chunk of ``array`` is already held by the cluster (a persisted array)."""
    from distributed import Future

    graph = dict(array.__dask_graph__())
    return bool(graph) and all(isinstance(value, Future) for value in graph.values())


def persist_rows(X: Any, sample_weight: Any | None, client: Any | None) -> tuple[Any, Any]:
    """X and its weights kept in memory, chunk ``i`` of both on the same worker, evenly.

    A plain ``X.persist()`` leaves the chunks wherever their reads ran: 5 and 3 of 8 Zarr
    chunks on 2 workers (``benchmarks/bench_dask.py``), so every E-step waited for the
    fuller worker, and work stealing moved 16 MB chunks to the idle one at each iteration
    (10–14 transfers in 6 E-steps), which made persisted data slower than re-read data.
    Here the chunks go in contiguous, equal runs to the workers sorted by address (whole
    groups of the fan-in-8 sum stay on one worker); a chunk whose worker is lost is read
    again wherever there is room (the restriction is loose). One graph persists both.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Row-chunked data (one chunk across the columns).
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Weights chunked like the rows of X.
    client : distributed.Client or None
        The active client; None persists with the local scheduler (this process's memory).

    Returns
    -------
    X, sample_weight : dask.array.Array
        Persisted, with the chunks, dtype and meta of the inputs.
    """
    dask = require_dask()
    arrays = [X] if sample_weight is None else [X, sample_weight]
    if client is not None and all(_in_cluster_memory(array) for array in arrays):
        return X, sample_weight  # persisted by the caller: where the caller put them
    if client is None:
        persisted = dask.persist(*arrays)
        return persisted[0], (persisted[1] if len(persisted) > 1 else None)
    workers = sorted(client.scheduler_info()["workers"])
    n_chunks = len(X.chunks[0])
    parts, names = [], []
    for array in arrays:
        name = f"gaussmix-persisted-{uuid.uuid4().hex}"
        names.append(name)
        for i, block in enumerate(array.to_delayed().ravel()):
            key = (name, i, 0) if array.ndim == 2 else (name, i)
            owner = workers[i * len(workers) // n_chunks] if workers else None
            with dask.annotate(
                workers=None if owner is None else [owner], allow_other_workers=True
            ):
                parts.append(dask.delayed(_held, pure=True)(block, dask_key_name=key))
    futures = client.compute(parts)
    held = []
    for index, (array, name) in enumerate(zip(arrays, names, strict=True)):
        mine = futures[index * n_chunks : (index + 1) * n_chunks]
        graph = {future.key: future for future in mine}
        held.append(
            dask.array.Array(graph, name, chunks=array.chunks, dtype=array.dtype, meta=array._meta)
        )
    return held[0], (held[1] if len(held) > 1 else None)


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
        X, weights = persist_rows(X, weights, client)

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
