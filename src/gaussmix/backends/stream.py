"""The streaming executor: exact EM over a source that yields its rows again, chunk by chunk.

A *source* is anything that can give the data again from the start on every pass: a
callable returning an iterator of chunks (NumPy arrays, DataFrames, pyarrow tables, or
``(X, w)`` pairs), a Parquet/CSV file, folder, glob or list of files, or a Zarr array or
h5py dataset. :func:`scan_source` reads it once (checking every chunk and drawing the
start's sample); :class:`StreamExecutor` then runs every E-step as one pass, each chunk
summed by the in-memory executor of :mod:`gaussmix.backends.numpy` (with the fused
kernels when numba is installed), so memory is bounded by a chunk and the statistics are
those of the whole data, summed in chunk order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial, reduce
from operator import add
from os import PathLike
from typing import Any

import numpy as np

from gaussmix import fused
from gaussmix.backends.base import Executor, PosteriorFunction, default_n_threads
from gaussmix.backends.dask import INIT_SAMPLE_BYTES, INIT_SAMPLE_SIZE
from gaussmix.backends.numpy import _in_order, _pool, posterior_rows, rows_per_task
from gaussmix.covariance.forms import SecondMoment
from gaussmix.exceptions import InvalidInputError
from gaussmix.files.chunks import (
    ChunkTable,
    chunk_table,
    dataset_chunks,
    is_dataset,
    open_zarr,
    path_chunks,
    resolve_paths,
)
from gaussmix.kernels import ChunkMoments, PreparedParameters, chunk_moments
from gaussmix.validation import negative_weight_error, not_finite_error

__all__ = [
    "ChunkSource",
    "StreamExecutor",
    "StreamedData",
    "as_source",
    "is_source",
    "scan_source",
]

_END = object()


@dataclass(frozen=True)
class ChunkSource:
    """A re-readable source of row chunks, before any check.

    Parameters
    ----------
    read : callable
        Returns a fresh iterator over the chunks on every call.
    weight_column : str or None, default=None
        Column of tabular chunks that holds the sample weights.
    description : str, default="the source"
        How errors name it.
    read_ahead : bool, default=False
        Read the next chunk in a background thread while the current one is summed:
        gaussmix's own file readers (pyarrow and pandas decode without the GIL). A user's
        callable and datasets are read in the calling thread (a database cursor may be
        bound to the thread that opened it).
    """

    read: Callable[[], Any]
    weight_column: str | None = None
    description: str = "the source"
    read_ahead: bool = False

    def tables(self) -> Iterator[ChunkTable]:
        """One pass: every chunk as a :class:`~gaussmix.files.chunks.ChunkTable`, in order."""
        chunks = self.read()
        try:
            iterator = iter(chunks)
        except TypeError as error:
            raise InvalidInputError(
                "A callable source must return an iterable of chunks (arrays, DataFrames or "
                f"(X, w) pairs) on every call; {self.description} returned "
                f"{type(chunks).__name__}. Return a generator, e.g. lambda: iter(chunks)."
            ) from error
        for index, chunk in enumerate(iterator):
            yield chunk_table(chunk, self.weight_column, index)


def is_source(X: Any) -> bool:
    """Whether ``fit`` streams X: a callable, a path or list of paths, a Zarr/HDF5 dataset.

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    if type(X) is np.ndarray:  # the usual input, without the abstract-class tests
        return False
    if isinstance(X, (ChunkSource, str, PathLike)) or is_dataset(X):
        return True
    if isinstance(X, (list, tuple)) and X:
        return all(isinstance(entry, (str, PathLike)) for entry in X)
    return callable(X) and not hasattr(X, "shape")


def as_source(X: Any, sample_weight: Any = None) -> ChunkSource:
    """The :class:`ChunkSource` of anything :func:`is_source` accepts.

    Parameters
    ----------
    X : callable, str, path-like, list of paths, zarr.Array, h5py.Dataset or ChunkSource
        The source.
    sample_weight : str or None, default=None
        The weight column of tabular chunks (DataFrames, Parquet, CSV); None: no column
        (a callable may still yield ``(X, w)`` pairs).

    Returns
    -------
    ChunkSource
    """
    if sample_weight is not None and not isinstance(sample_weight, str):
        raise InvalidInputError(
            "With a chunked source, sample_weight must be the name of a weight column (or "
            f"None, and the source yields (X, w) pairs); got {type(sample_weight).__name__}. "
            "Weights given as one array cannot be matched to chunks."
        )
    if isinstance(X, ChunkSource):
        return X if sample_weight is None else replace(X, weight_column=sample_weight)
    if is_dataset(X):
        if sample_weight is not None:
            raise InvalidInputError(
                f"A dataset source has no columns to take weights from; got sample_weight="
                f"{sample_weight!r}. Pass a callable that yields (X, w) pairs instead."
            )
        return ChunkSource(dataset_chunks(X), None, f"the dataset of shape {tuple(X.shape)}")
    if callable(X):
        return ChunkSource(X, sample_weight, f"the callable {getattr(X, '__name__', X)!r}")
    if isinstance(X, (str, PathLike)) and os.fspath(X).rstrip("/").endswith(".zarr"):
        return as_source(open_zarr(X), sample_weight)
    paths = resolve_paths(X)
    names = [os.fspath(path) for path in paths]
    shown = names[0] if len(names) == 1 else f"{names[0]} … ({len(names)} files)"
    return ChunkSource(path_chunks(paths), sample_weight, shown, read_ahead=True)


@dataclass(frozen=True)
class CheckedSource:
    """A source whose first pass was checked: what it holds, and its chunks on every pass.

    Parameters
    ----------
    source : ChunkSource
    n_rows, n_features : int
        Its shape (``shape`` gives both, as an array's would).
    dtype : numpy.dtype
        float32 or float64: the dtype every chunk is given to the kernels in.
    names : tuple of str or None
        The column names of its tabular chunks.
    weighted : bool, default=False
        Whether any chunk has weights (the others then weigh their rows 1).
    cast : bool, default=False
        Whether ``dtype`` was asked for (the estimator's ``dtype``): every chunk is cast
        to it, instead of having to be of the first chunk's dtype.
    """

    source: ChunkSource
    n_rows: int
    n_features: int
    dtype: np.dtype
    names: tuple[str, ...] | None
    weighted: bool = False
    cast: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_features)``."""
        return (self.n_rows, self.n_features)

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """One pass: ``(rows, weights)`` of every non-empty chunk, checked, in order.

        For gaussmix's file readers the next chunk is read in a background thread while
        the caller works on this one (``ChunkSource.read_ahead``).

        Raises
        ------
        InvalidInputError
            When a chunk differs from the first pass (features, dtype, names), holds
            NaN/inf or negative weights, or the pass yields another number of rows.
        """
        checker = _ChunkChecker(
            self.source.description, self.n_features, self.dtype, self.names, self.cast
        )
        tables = self.source.tables()
        for table in _read_ahead(tables) if self.source.read_ahead else tables:
            rows, weights = checker.check(table)
            if self.weighted and weights is None:
                weights = np.ones(rows.shape[0], self.dtype)
            if rows.shape[0]:
                yield rows, weights
        if checker.n_rows != self.n_rows:
            raise InvalidInputError(
                f"A source must yield the same rows on every pass; {self.source.description} "
                f"yielded {self.n_rows} rows on the first pass and {checker.n_rows} on a later "
                "one. Make the callable start again from the first chunk on every call."
            )


def _read_ahead(iterator: Iterator[Any]) -> Iterator[Any]:
    """The items of ``iterator``, the next one produced in a background thread."""
    with ThreadPoolExecutor(1, thread_name_prefix="gaussmix-read") as reader:
        pending = reader.submit(next, iterator, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = reader.submit(next, iterator, _END)
            yield item


class _ChunkChecker:
    """Checks chunk after chunk against the first: columns, dtype, values, weights."""

    def __init__(
        self,
        description: str,
        n_features: int | None,
        dtype: np.dtype | None,
        names: tuple[str, ...] | None,
        cast: bool = False,
    ):
        self.description = description
        self.n_features = n_features
        self.dtype = dtype
        self.names = names
        self.cast = cast
        self.n_rows = 0
        self.index = 0

    def check(self, table: ChunkTable) -> tuple[np.ndarray, np.ndarray | None]:
        """The chunk's rows in the source's dtype (C order) and its weights, checked."""
        index, offset = self.index, self.n_rows
        rows = _numeric(table.rows, self.description, index)
        if rows.ndim == 1 and self.n_features == 1:
            rows = rows[:, None]
        if rows.ndim != 2:
            raise InvalidInputError(
                f"Every chunk must be 2-D (rows × features); chunk {index} of "
                f"{self.description} has shape {rows.shape}. Yield 2-D blocks of rows."
            )
        if self.n_features is None:
            self.n_features, self.names = rows.shape[1], table.names
        dtype = _kernel_dtype(rows.dtype)
        if self.dtype is None:
            self.dtype = dtype
        elif dtype != self.dtype and rows.dtype.kind == "f" and not self.cast:
            raise InvalidInputError(
                f"Every chunk must have the dtype of the first ({self.dtype}); chunk {index} "
                f"of {self.description} is {rows.dtype}. Cast the chunks, or pass "
                "dtype='float32' or 'float64' to the estimator."
            )
        if rows.shape[1] != self.n_features or table.names != self.names:
            raise InvalidInputError(
                f"Every chunk must have the columns of the first ({self.n_features}: "
                f"{self.names}); chunk {index} of {self.description} has {rows.shape[1]}: "
                f"{table.names}. Yield the same columns in every chunk."
            )
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        # NaN and inf make the sum non-finite: one pass without a boolean temporary (11
        # instead of 15 ms per 10⁶ × 8 float64 rows on the shared 2-core machine). Only a
        # sum that overflows from finite values is then looked at value by value.
        if not np.isfinite(np.sum(rows, dtype=np.float64)):
            finite = np.isfinite(rows)
            if not finite.all():
                row, column = np.argwhere(~finite)[0]
                raise not_finite_error("X", (offset + int(row), int(column)))
        weights = _weights(table.weights, rows.shape[0], self.dtype, offset, index)
        self.n_rows += rows.shape[0]
        self.index += 1
        return rows, weights


def _numeric(values: np.ndarray, description: str, index: int) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        return values
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"Every chunk must be numeric; chunk {index} of {description} has dtype "
            f"{values.dtype} that cannot be read as numbers ({error}). Select numeric columns."
        ) from error


def _kernel_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def _weights(
    weights: np.ndarray | None, n_rows: int, dtype: np.dtype, offset: int, index: int
) -> np.ndarray | None:
    if weights is None:
        return None
    weights = np.asarray(weights)
    if weights.shape != (n_rows,):
        raise InvalidInputError(
            f"A chunk's sample weights must have one value per row; chunk {index} has "
            f"{n_rows} rows and weights of shape {weights.shape}. Yield (X, w) with w of "
            f"shape ({n_rows},)."
        )
    weights = np.ascontiguousarray(weights, dtype=dtype)
    finite = np.isfinite(weights)
    if not finite.all():
        raise not_finite_error("sample_weight", (offset + int(np.argmin(finite)),))
    if np.any(weights < 0):
        first = int(np.argmax(weights < 0))
        raise negative_weight_error(
            offset + first, int(np.count_nonzero(weights < 0)), float(weights[first])
        )
    return weights


@dataclass(frozen=True)
class StreamedData:
    """A scanned source and the in-memory sample its starts are drawn from.

    Parameters
    ----------
    source : CheckedSource
    sample : ndarray of shape (n_sample, n_features)
        All rows when they fit in :func:`sample_capacity`, in order; else a uniform
        reservoir sample of them (Algorithm R, Vitter 1985), in reservoir order.
    sample_weights : ndarray of shape (n_sample,) or None
        Their weights (None when no chunk had weights).
    """

    source: CheckedSource
    sample: np.ndarray
    sample_weights: np.ndarray | None


def sample_capacity(n_features: int, itemsize: int, n_components: int) -> int:
    """Rows the start's sample holds: those of a Dask fit's sample (100,000, 32 MiB).

    Parameters
    ----------
    n_features, itemsize, n_components : int

    Returns
    -------
    int
    """
    rows = min(INIT_SAMPLE_SIZE, INIT_SAMPLE_BYTES // max(1, n_features * itemsize))
    return max(rows, n_components)


def scan_source(
    source: ChunkSource,
    *,
    n_components: int,
    dtype: str | None,
    random_state: np.random.RandomState,
    n_features: int | None = None,
) -> StreamedData:
    """The first pass over a source: every chunk checked, rows counted, the sample drawn.

    Parameters
    ----------
    source : ChunkSource
    n_components : int
        K: the sample holds at least K rows.
    dtype : {"float32", "float64"} or None
        The kernels' dtype; None: float32 chunks stay float32, everything else float64.
    random_state : numpy.random.RandomState
        The fit's generator. The reservoir draws from a generator seeded by its state,
        without advancing it; only when the source has more rows than the sample holds is
        it advanced (by one draw), so a source that fits in the sample gives its rows in
        order and the start of the in-memory fit of the same rows.
    n_features : int, optional
        Features the chunks must have (a warm start).

    Returns
    -------
    StreamedData
    """
    fixed = None if dtype is None else np.dtype(dtype)
    checker = _ChunkChecker(source.description, n_features, fixed, None, fixed is not None)
    reservoir: _Reservoir | None = None
    any_weights = False
    for table in source.tables():
        rows, weights = checker.check(table)
        if reservoir is None:
            capacity = sample_capacity(rows.shape[1], rows.dtype.itemsize, n_components)
            reservoir = _Reservoir(capacity, rows.shape[1], rows.dtype, random_state)
        any_weights = any_weights or weights is not None
        reservoir.add(rows, weights)
    if reservoir is None or checker.n_rows == 0:
        raise InvalidInputError(
            f"A source must yield at least one row; {source.description} yielded none. "
            "Check the files or the callable."
        )
    sample, sample_weights = reservoir.result(any_weights)
    if sample_weights is not None and not np.any(sample_weights > 0):
        raise InvalidInputError(
            f"sample_weight must have a positive value; every weight of the rows of "
            f"{source.description} drawn for the start is zero. Give rows positive weights."
        )
    if reservoir.seen > reservoir.capacity:
        random_state.randint(np.iinfo(np.int32).max)
    checked = CheckedSource(
        source,
        checker.n_rows,
        checker.n_features,
        checker.dtype,
        checker.names,
        any_weights,
        fixed is not None,
    )
    return StreamedData(checked, sample, sample_weights)


class _Reservoir:
    """A uniform sample of ``capacity`` rows from a stream (Algorithm R), weights alongside."""

    def __init__(
        self, capacity: int, n_features: int, dtype: np.dtype, random_state: np.random.RandomState
    ):
        self.capacity = int(capacity)
        self.rows = np.empty((self.capacity, n_features), dtype)
        self.weights = np.ones(self.capacity, dtype)
        self.seen = 0
        # Seeded by the fit's generator without advancing it (see scan_source).
        self.generator = np.random.default_rng(random_state.get_state()[1])

    def add(self, rows: np.ndarray, weights: np.ndarray | None) -> None:
        n_rows = rows.shape[0]
        weights = np.ones(n_rows, rows.dtype) if weights is None else weights
        filled = min(n_rows, max(0, self.capacity - self.seen))
        self.rows[self.seen : self.seen + filled] = rows[:filled]
        self.weights[self.seen : self.seen + filled] = weights[:filled]
        if filled < n_rows:
            # Row i (0-based over the stream) replaces slot j ~ U{0, …, i} when j < capacity.
            positions = self.seen + np.arange(filled, n_rows)
            slots = self.generator.integers(0, positions + 1)
            taken = np.flatnonzero(slots < self.capacity) + filled
            slots = slots[taken - filled]
            # Later rows overwrite earlier ones in the same slot: keep each slot's last.
            last = slots.shape[0] - 1 - np.unique(slots[::-1], return_index=True)[1]
            self.rows[slots[last]] = rows[taken[last]]
            self.weights[slots[last]] = weights[taken[last]]
        self.seen += n_rows

    def result(self, weighted: bool) -> tuple[np.ndarray, np.ndarray | None]:
        size = min(self.seen, self.capacity)
        return self.rows[:size].copy(), self.weights[:size].copy() if weighted else None


class StreamExecutor(Executor):
    """Visits the chunks of a checked source: one pass per E-step, statistics summed in order.

    Parameters
    ----------
    source : CheckedSource
        From :func:`scan_source`; its ``shape`` and ``dtype`` stand for X's.
    chunk_size : int
        Rows per chunk of the kernels.
    n_threads : int or None, default=None
        Threads summing blocks at once; None: every core this process may run on.
    use_fused : bool or None, default=None
        Use the compiled kernels; None: when numba is installed.

    Notes
    -----
    The source's chunks, whatever their sizes (uneven, one row), are cut and joined into
    the tasks of :class:`gaussmix.backends.numpy.NumpyBackend` (a block of 8 chunks with
    the compiled kernels, one chunk without), at the same row offsets as for the whole
    array, and summed in the same order on the same thread pool: the statistics are those
    of the in-memory fit of the same rows to the last bit, and memory is one source chunk
    plus the blocks in flight.
    """

    def __init__(
        self,
        source: CheckedSource,
        chunk_size: int,
        n_threads: int | None = None,
        use_fused: bool | None = None,
    ):
        self.X = source
        self.sample_weight = None
        self.chunk_size = int(chunk_size)
        self._n_threads = default_n_threads() if n_threads is None else int(n_threads)
        self._use_fused = fused.available() if use_fused is None else bool(use_fused)

    @property
    def n_threads(self) -> int:
        """Threads summing blocks at once."""
        return self._n_threads

    @property
    def use_fused(self) -> bool:
        """Whether the compiled kernels evaluate the chunks."""
        return self._use_fused

    def _tasks(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        return _reblocked(self.X.chunks(), rows_per_task(self.chunk_size, self._use_fused))

    def _run(self, function: Callable[[Any], Any], combine: Callable[[Any], Any]) -> Any:
        task_rows = rows_per_task(self.chunk_size, self._use_fused)
        if self._n_threads == 1 or self.X.n_rows <= task_rows:
            return combine(function(task) for task in self._tasks())
        window = 2 * self._n_threads
        return combine(_in_order(_pool(self._n_threads), function, self._tasks(), window))

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """One pass over the source: the tasks' moments, added in row order.

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
        if not self._use_fused:
            return self._run(
                lambda task: chunk_moments(task[0], task[1], prepared, moment),
                lambda parts: reduce(add, parts),
            )
        packed = self._run(
            lambda task: fused.block_moments(
                task[0], 0, task[0].shape[0], self.chunk_size, task[1], prepared, moment
            ),
            lambda parts: reduce(np.add, parts),
        )
        return fused.unpack(packed, prepared, moment)

    def posterior_function(self, prepared: PreparedParameters) -> PosteriorFunction:
        """:func:`gaussmix.backends.numpy.posterior_rows` with this executor's kernels.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`.

        Returns
        -------
        callable
        """
        return partial(
            posterior_rows, prepared=prepared, use_fused=self.use_fused, chunk_size=self.chunk_size
        )

    def map_rows(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``function`` of every task's rows, in the source's order, as one array.

        Parameters
        ----------
        function : callable
            Maps a (rows, n_features) array to an array with one leading entry per row.

        Returns
        -------
        ndarray
            One entry per row of the source (this holds the output, not the data).
        """
        return self._run(lambda task: function(task[0]), lambda parts: np.concatenate(list(parts)))


def _reblocked(
    chunks: Iterator[tuple[np.ndarray, np.ndarray | None]], size: int
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The rows of the chunks cut into blocks of ``size`` rows (the last may be shorter).

    A block inside one chunk is a view of it; a block across chunks is joined by a copy.
    """
    pending: list[tuple[np.ndarray, np.ndarray | None]] = []
    count = 0
    for rows, weights in chunks:
        start, n_rows = 0, rows.shape[0]
        if count:
            start = min(size - count, n_rows)
            pending.append((rows[:start], None if weights is None else weights[:start]))
            count += start
            if count < size:
                continue
            yield _joined(pending)
            pending, count = [], 0
        while n_rows - start >= size:
            stop = start + size
            yield rows[start:stop], None if weights is None else weights[start:stop]
            start = stop
        if start < n_rows:
            pending.append((rows[start:], None if weights is None else weights[start:]))
            count = n_rows - start
    if count:
        yield _joined(pending)


def _joined(parts: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[Any, Any]:
    if len(parts) == 1:
        return parts[0]
    rows = np.concatenate([part[0] for part in parts])
    if parts[0][1] is None:
        return rows, None
    return rows, np.concatenate([part[1] for part in parts])
