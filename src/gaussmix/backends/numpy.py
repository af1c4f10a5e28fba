"""The in-memory executors: row blocks of a NumPy array spread over the cores and summed in
order, or, for data that fit in one task, all rows in one call in the calling thread."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache, partial, reduce
from operator import add
from typing import Any

import numpy as np

from gaussmix import fused
from gaussmix.backends.base import Executor, PosteriorFunction, default_n_threads
from gaussmix.covariance.base import ScatterKind
from gaussmix.covariance.forms import SecondMoment
from gaussmix.kernels import ChunkMoments, PreparedParameters, chunk_moments, posterior
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "NumpyBackend",
    "SmallDataBackend",
    "default_chunk_size",
    "default_n_threads",
    "numpy_backend",
    "posterior_rows",
]

# The array kernels' largest per-chunk temporaries are (K × D × rows). About 256k
# elements (2 MiB in float64) was measured fastest on workloads P1, P2 and P4 of
# benchmarks/bench_em.py (1,000,000 rows × 2 features, K = 3; 1,000,000 × 8, K = 8, full
# and diagonal; single thread, AMD EPYC): smaller chunks pay NumPy's per-call overhead on
# ~20 calls per chunk, larger ones fall out of cache.
_SCRATCH_ELEMENTS = 2**18
# The fused kernels write one (K·D × rows) buffer per chunk (the projection GEMM's output)
# and read it a few times, so it should stay in a core's L2: 512 KiB on the 2-core AMD EPYC.
# OpenBLAS writes that output at 59 GFLOP/s on 2 threads for P3 of benchmarks/bench_em.py
# (200,000 × 16, K = 16) when it is
# 256 KiB (128 rows), 31 GFLOP/s at 2 MiB (1,024 rows): the E-step took 80 instead of
# 100 ms. Below 256 rows the loops over rows grow too short. The Python cost is per block
# of chunks, not per chunk.
_FUSED_SCRATCH_BYTES = 2**19
_FUSED_MIN_ROWS = 256
# Largest (K·D × rows) float64 buffer that the default chunk size allows, per thread.
_MAX_SCRATCH_BYTES = 32 * 2**20
# Chunks per task of the fused kernels: one compiled call runs them all, so the ~30 µs of
# Python and the GIL hand-off per task are shared by 8 chunks, while P3 of
# benchmarks/bench_em.py (200,000 × 16, K = 16) still has 25 tasks to spread over the
# threads.
_CHUNKS_PER_BLOCK = 8


def default_chunk_size(
    n_components: int, n_features: int, itemsize: int = 8, fused_kernels: bool | None = None
) -> int:
    """Rows per chunk so that the per-chunk (rows × K × D) scratch stays cache-sized.

    Parameters
    ----------
    n_components, n_features : int
        K and D.
    itemsize : int, default=8
        Bytes per value of the data (4 for float32).
    fused_kernels : bool or None, default=None
        Whether the chunks go to the compiled kernels; None: whether numba is installed.
        Dask workers keep the array kernels.

    Returns
    -------
    int
        For the compiled kernels, a 512 KiB (K·D × rows) buffer, between 256 and 32,768
        rows; for the array kernels 2¹⁸ elements, between 256 and 32,768 rows. Fewer
        (down to 16) where K·D is so large that one (K·D × rows) float64 buffer would
        pass 32 MiB.
    """
    width = max(1, n_components * n_features)
    # Python's min and max: np.clip of scalars costs ~15 µs, paid by every small fit.
    if fused.available() if fused_kernels is None else fused_kernels:
        rows = max(_FUSED_MIN_ROWS, min(_FUSED_SCRATCH_BYTES // (itemsize * width), 32768))
    else:
        rows = max(256, min(_SCRATCH_ELEMENTS // width, 32768))
    # The lower bounds above keep chunks long enough for their loops (and, for the array
    # kernels, for NumPy's per-call cost); for K·D in the tens of thousands they would
    # cost hundreds of MiB per thread instead.
    return max(16, min(rows, _MAX_SCRATCH_BYTES // (8 * width)))


def posterior_rows(
    rows: Any, prepared: PreparedParameters, use_fused: bool, chunk_size: int | None = None
) -> tuple[Any, Any]:
    """``log p(x_n)`` and the responsibilities of some rows, fused where possible.

    Parameters
    ----------
    rows : ndarray or tensor of shape (n_samples, n_features)
        A chunk of rows, or (fused) a block of chunks.
    prepared : PreparedParameters
        The mixture, in the namespace and dtype of ``rows``.
    use_fused : bool
        Whether the compiled kernels may be used (``NumpyBackend.use_fused``).
    chunk_size : int or None, default=None
        Rows per chunk for the compiled kernels, which visit a block chunk by chunk in
        one call; None makes the rows one chunk. The array kernels take the rows whole.

    Returns
    -------
    log_norm : array of shape (n_samples,)
    responsibilities : array of shape (n_samples, n_components)
    """
    if use_fused and _fusable(rows):
        return fused.posterior(np.ascontiguousarray(rows), prepared, chunk_size)
    return posterior(rows, prepared)


def _fusable(rows: Any) -> bool:
    return (
        fused.available()
        and isinstance(rows, np.ndarray)
        and rows.dtype in (np.float32, np.float64)
        and rows.shape[0] > 0
    )


@cache
def _pool(n_threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="gaussmix")


def _in_order(
    pool: ThreadPoolExecutor, function: Callable[[Any], Any], tasks: Iterable[Any], window: int
) -> Iterator[Any]:
    """``function(task)`` for each task, computed on ``pool``, yielded in task order.

    At most ``window`` tasks are submitted ahead of the one being yielded
    (``ThreadPoolExecutor.map`` would submit them all at once, holding every task's input).
    """
    pending: deque[Future[Any]] = deque()
    try:
        for task in tasks:
            pending.append(pool.submit(function, task))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # An error or an interrupt stops the walk: tasks not yet started are dropped.
        for future in pending:
            future.cancel()


class NumpyBackend(Executor):
    """Visits row blocks of an in-memory array on all cores and sums their statistics.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, float32 or float64, already validated.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None means all ones.
    chunk_size : int
        Rows per chunk.
    n_threads : int or None, default=None
        Threads visiting chunks; None uses every core this process may run on.
    use_fused : bool or None, default=None
        Evaluate chunks with the compiled kernels of :mod:`gaussmix.fused`; None uses
        them when numba is installed. False keeps the array kernels (the tests compare
        the two).

    Notes
    -----
    NumPy and BLAS release the GIL, so chunks run in parallel in a thread pool. Callers
    hold BLAS itself to one thread (:func:`gaussmix.blas_threads.one_blas_thread`; the
    estimator does, for a whole fit), which the backend cannot do from within: its
    methods also run inside Dask's worker threads. The per-chunk results are summed in
    chunk order whatever the thread that computed them, so a fit is deterministic.
    """

    def __init__(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        chunk_size: int,
        n_threads: int | None = None,
        use_fused: bool | None = None,
    ):
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = int(chunk_size)
        self._n_threads = default_n_threads() if n_threads is None else int(n_threads)
        self._use_fused = fused.available() if use_fused is None else bool(use_fused)

    @property
    def n_threads(self) -> int:
        """Threads visiting chunks (the calling thread alone when 1)."""
        return self._n_threads

    @property
    def use_fused(self) -> bool:
        """Whether the compiled kernels evaluate the chunks, a block of 8 per task."""
        return self._use_fused

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(rows, weights)`` chunks in order (views of X).

        Yields
        ------
        rows : ndarray of shape (chunk, n_features)
        weights : ndarray of shape (chunk,) or None
        """
        for start in range(0, self.X.shape[0], self.chunk_size):
            stop = start + self.chunk_size
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            yield self.X[start:stop], weights

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(rows, weights)`` blocks of ``_CHUNKS_PER_BLOCK`` chunks, in order.

        The fused kernels visit a block's chunks in one compiled call. Blocks depend only
        on the data and the chunk size, never on the number of threads, so the sums (and
        the fit) are the same whatever the thread count.

        Yields
        ------
        rows : ndarray of shape (block, n_features), C-contiguous
        weights : ndarray of shape (block,) or None
        """
        block_rows = self.chunk_size * _CHUNKS_PER_BLOCK
        for start in range(0, self.X.shape[0], block_rows):
            stop = start + block_rows
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            yield np.ascontiguousarray(self.X[start:stop]), weights

    def _map(
        self,
        function: Callable[[np.ndarray, np.ndarray | None], Any],
        combine: Callable[[Iterable[Any]], Any],
    ) -> Any:
        """``combine`` of the results of ``function(rows, weights)`` over chunks, in order.

        ``combine`` consumes the results as they come, so (for a reduction) only the few
        chunks in flight are held, never one result per chunk.
        """
        return self._run(self.chunks(), lambda block: function(*block), combine, self.chunk_size)

    def _run(
        self,
        tasks: Iterable[Any],
        function: Callable[[Any], Any],
        combine: Callable[[Iterable[Any]], Any],
        task_rows: int,
    ) -> Any:
        """``combine`` of ``function(task)`` over the tasks, in task order, on the pool.

        ``task_rows`` (rows per task) tells whether there is more than one task.
        """
        if self.n_threads == 1 or self.X.shape[0] <= task_rows:
            return combine(function(task) for task in tasks)
        return combine(_in_order(_pool(self.n_threads), function, tasks, 2 * self.n_threads))

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """The chunks' moments, each task's on the pool, summed in task order.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`.
        moment : {"diagonal", "full"}
            The second moment to accumulate.

        Returns
        -------
        ChunkMoments
            NumPy float64 arrays.
        """
        if not self.use_fused:
            return self._map(
                lambda rows, weights: chunk_moments(rows, weights, prepared, moment),
                lambda chunks: reduce(add, chunks),
            )
        packed = self._run(
            self.blocks(),
            lambda block: fused.block_moments(
                block[0], 0, block[0].shape[0], self.chunk_size, block[1], prepared, moment
            ),
            lambda blocks: reduce(np.add, blocks),
            self.chunk_size * _CHUNKS_PER_BLOCK,
        )
        return fused.unpack(packed, prepared, moment)

    def posterior_function(self, prepared: PreparedParameters) -> PosteriorFunction:
        """:func:`posterior_rows` with this executor's kernels and chunk size.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`.

        Returns
        -------
        callable
            ``rows -> (log_norm, responsibilities)``.
        """
        return partial(
            posterior_rows, prepared=prepared, use_fused=self.use_fused, chunk_size=self.chunk_size
        )

    def map_rows(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Apply a row-wise function task by task and gather the results in order.

        Parameters
        ----------
        function : callable
            Maps a (rows, n_features) array to an array with one leading entry per row.
            With the fused kernels each task is a block of ``_CHUNKS_PER_BLOCK`` chunks
            (as for the statistics), which :func:`posterior_rows`, given ``chunk_size``,
            visits chunk by chunk in one compiled call; otherwise one chunk.

        Returns
        -------
        ndarray
            One entry per row of X. Each task's result is copied into it as it arrives,
            so the peak is the output plus the tasks in flight (concatenating at the end
            would hold the output twice).
        """
        n_rows = self.X.shape[0]

        def gather(blocks: Iterable[np.ndarray]) -> np.ndarray:
            output = None
            start = 0
            for block in blocks:
                if output is None:
                    output = np.empty((n_rows, *block.shape[1:]), block.dtype)
                output[start : start + block.shape[0]] = block
                start += block.shape[0]
            return output if output is not None else np.empty(0, self.X.dtype)

        if not self.use_fused:
            return self._map(lambda rows, _: function(rows), gather)
        return self._run(
            self.blocks(),
            lambda block: function(block[0]),
            gather,
            self.chunk_size * _CHUNKS_PER_BLOCK,
        )


def rows_per_task(chunk_size: int, use_fused: bool) -> int:
    """Rows of one task of :class:`NumpyBackend`: a block of chunks (fused) or one chunk.

    Parameters
    ----------
    chunk_size : int
        Rows per chunk.
    use_fused : bool
        Whether the compiled kernels evaluate the chunks.

    Returns
    -------
    int
    """
    return int(chunk_size) * (_CHUNKS_PER_BLOCK if use_fused else 1)


def numpy_backend(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    chunk_size: int,
    n_threads: int | None = None,
    use_fused: bool | None = None,
) -> NumpyBackend | SmallDataBackend:
    """The executor for in-memory data: :class:`SmallDataBackend` when X is one task.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, float32 or float64, already validated.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights in the dtype of X; None means all ones.
    chunk_size : int
        Rows per chunk.
    n_threads : int or None, default=None
        Threads of :class:`NumpyBackend`; None uses every core this process may run on.
    use_fused : bool or None, default=None
        Use the compiled kernels; None uses them when numba is installed.

    Returns
    -------
    NumpyBackend or SmallDataBackend
        :class:`SmallDataBackend` when all rows fit in one task of
        :func:`rows_per_task` (eight chunks with the compiled kernels, one without):
        :class:`NumpyBackend` would then run that one task in the calling thread as
        well, so nothing is lost to parallelism and the per-iteration Python and thread
        pool work is saved. A ``chunk_size`` below ``n_samples / 8`` (compiled kernels)
        or ``n_samples`` (array kernels) therefore always gives :class:`NumpyBackend`.
        Results agree to rounding (the tests hold them to 1e-12).
    """
    use_fused = fused.available() if use_fused is None else bool(use_fused)
    # Measured on the shared 2-core AMD EPYC (benchmarks/results_small.md, K = 3): within
    # one task the small-data executor took 13-30 µs per E-step on Old Faithful (272 × 2)
    # against 95-185 µs for the chunked executor and ~190-260 µs for the array kernels
    # (so it uses the fused kernels whenever numba is installed), and stayed ahead up to
    # the switch (87,376 × 2: 2.2 against 2.3 ms); cutting those rows into 16 tasks for
    # 2 threads was slower at every size up to 350,000 rows there.
    if X.shape[0] <= rows_per_task(chunk_size, use_fused):
        return SmallDataBackend(X, sample_weight, chunk_size, use_fused=use_fused)
    return NumpyBackend(X, sample_weight, chunk_size, n_threads=n_threads, use_fused=use_fused)


class SmallDataBackend(Executor):
    """All rows in one call, in the calling thread: the executor of data that fit in one task.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, float32 or float64, already validated (copied once to C order if it
        is not).
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights in the dtype of X; None means all ones.
    chunk_size : int
        Rows per chunk of the compiled kernels, which visit them in order within one
        call (so that a chunk's scratch stays in cache).
    use_fused : bool or None, default=None
        Evaluate the rows with the compiled kernels; None uses them when numba is
        installed. Without them, the array kernels take all rows as one chunk.

    Notes
    -----
    The :class:`~gaussmix.backends.base.Executor` contract of :class:`NumpyBackend`,
    without its pool, blocks and per-chunk reductions. With numba an
    E-step is one compiled call from the parameters to the statistics
    (:func:`gaussmix.fused.whole_statistics`); without it, one call of each array
    kernel. Choose it through :func:`numpy_backend`.
    """

    def __init__(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        chunk_size: int,
        use_fused: bool | None = None,
    ):
        self.X = np.ascontiguousarray(X)
        self.sample_weight = sample_weight
        self.chunk_size = max(1, int(chunk_size))
        self._use_fused = fused.available() if use_fused is None else bool(use_fused)

    @property
    def n_threads(self) -> int:
        """1: everything runs in the calling thread."""
        return 1

    @property
    def use_fused(self) -> bool:
        """Whether an E-step is one compiled call (:func:`gaussmix.fused.whole_statistics`)."""
        return self._use_fused

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """The moments of all rows: one compiled call, or the array kernels on all of X.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`.
        moment : {"diagonal", "full"}
            The second moment to accumulate.

        Returns
        -------
        ChunkMoments
            NumPy float64 arrays.
        """
        if not self.use_fused:
            return chunk_moments(self.X, self.sample_weight, prepared, moment)
        n_rows = self.X.shape[0]
        packed = fused.block_moments(
            self.X, 0, n_rows, self.chunk_size, self.sample_weight, prepared, moment
        )
        return fused.unpack(packed, prepared, moment)

    posterior_function = NumpyBackend.posterior_function

    def statistics(self, parameters: MixtureParameters, kind: ScatterKind) -> SufficientStatistics:
        """E-step over all rows: the summed sufficient statistics under ``parameters``.

        Parameters
        ----------
        parameters : MixtureParameters
            The current mixture.
        kind : {"trace", "diagonal", "full"}
            The scatter kind of the covariance model.

        Returns
        -------
        SufficientStatistics

        Notes
        -----
        With the compiled kernels, :func:`gaussmix.fused.whole_statistics` computes what
        :meth:`Executor.statistics` computes (preparation, moments, unwhitening) in one
        call: 15 instead of 185 µs an E-step on Old Faithful, 272 × 2, K = 3
        (``benchmarks/bench_small.py``).
        """
        if self._use_fused:
            return fused.whole_statistics(
                self.X, self.sample_weight, parameters, kind, self.chunk_size
            )
        return super().statistics(parameters, kind)

    def map_rows(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Apply a row-wise function to all rows at once.

        Parameters
        ----------
        function : callable
            Maps a (rows, n_features) array to an array with one leading entry per row;
            it receives all of X (with the fused kernels, :func:`posterior_rows` given
            ``chunk_size`` visits it chunk by chunk in one compiled call).

        Returns
        -------
        ndarray
            One entry per row of X.
        """
        return function(self.X)
