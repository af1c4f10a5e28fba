"""``gaussmix fit`` on files read chunk by chunk: streamed exact EM and online EM.

``--stream`` (or a glob as DATA) fits a folder, a glob or a file of Parquet/CSV data by
exact EM, one pass over the files per iteration (the progress row counts passes), memory
bounded by a chunk (a Parquet row group, 65,536 CSV rows). ``--online`` makes one pass of
online EM (:meth:`gaussmix.GaussianMixture.partial_fit`) in batches of ``--batch-size``
rows, then one more pass for the log-likelihood of the result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix.exceptions import InvalidInputError

# The engine (and SciPy with it) is imported inside the functions that fit, so that
# `gaussmix --help` stays light (tests/test_imports.py).

__all__ = [
    "OnlineBatches",
    "StreamTable",
    "criteria",
    "fit_input",
    "streamed_input",
    "wants_stream",
]

# Batches between the progress lines of --online.
_REPORT_EVERY = 100


@dataclass(frozen=True)
class StreamTable:
    """The columns of a chunked file source (what the fit's report names).

    Parameters
    ----------
    feature_names : list of str
    named : bool, default=True
        The names come from the files.
    """

    feature_names: list[str]
    named: bool = True

    @property
    def n_features(self) -> int:
        """Number of columns."""
        return len(self.feature_names)


@dataclass(frozen=True)
class OnlineBatches:
    """A source visited once in batches of ``batch_size`` rows, for online EM.

    Parameters
    ----------
    source : gaussmix.backends.stream.ChunkSource
    batch_size : int
    feature_names : list of str
    """

    source: Any
    batch_size: int
    feature_names: list[str]

    def batches(self) -> Iterator[Any]:
        """The rows as DataFrames of ``batch_size`` rows (the last may be shorter)."""
        import pandas as pd

        from gaussmix.backends.stream import _reblocked

        rows = ((np.asarray(table.rows, dtype=np.float64), None) for table in self.source.tables())
        for block, _ in _reblocked(rows, self.batch_size):
            yield pd.DataFrame(block, columns=self.feature_names)


def wants_stream(data: Path, stream: bool, online: bool) -> bool:
    """Whether ``gaussmix fit`` streams DATA: ``--stream``, ``--online``, a glob, or a
    folder of delimited text files (Dask reads folders of Parquet files and Zarr stores,
    not text).

    Parameters
    ----------
    data : Path
    stream, online : bool

    Returns
    -------
    bool
    """
    return stream or online or bool(set("*?[") & set(str(data))) or _is_text_folder(data)


def _is_text_folder(data: Path) -> bool:
    """A folder holding CSV/TSV files and no Parquet file."""
    from gaussmix.files.chunks import CSV_SUFFIXES, PARQUET_SUFFIXES

    if not data.is_dir():
        return False
    names = [entry.name.lower() for entry in data.iterdir() if entry.is_file()]
    return any(name.endswith(CSV_SUFFIXES) for name in names) and not any(
        name.endswith(PARQUET_SUFFIXES) for name in names
    )


def streamed_input(
    data: Path,
    columns: list[str] | None,
    *,
    online: bool,
    batch_size: int,
    standardize: bool = False,
) -> tuple[Any, StreamTable]:
    """What ``fit`` receives for a chunked file source, and its columns.

    Parameters
    ----------
    data : Path
        A Parquet/CSV file, a folder of them or a glob.
    columns : list of str or None
        Columns to read; all when None.
    online : bool
        Batches for online EM instead of a source for exact EM.
    batch_size : int
        Rows per batch (online EM).
    standardize : bool, default=False
        Refused: standardising needs the means first (one more pass).

    Returns
    -------
    X : gaussmix.backends.stream.ChunkSource or OnlineBatches
    table : StreamTable
    """
    if standardize:
        raise InvalidInputError(
            "--standardize must not be combined with --stream or --online (it needs a pass "
            "for the means first); standardise the files, or fit them in memory."
        )
    from gaussmix.backends.stream import ChunkSource
    from gaussmix.files.chunks import chunk_table, path_chunks, resolve_paths

    paths = resolve_paths(os.fspath(data))
    label = str(paths[0]) if len(paths) == 1 else f"{data} ({len(paths)} files)"
    source = ChunkSource(path_chunks(paths, columns), None, label)
    first = next(iter(source.read()), None)
    if first is None:
        raise InvalidInputError(f"DATA must hold at least one row; {label} holds none.")
    first_table = chunk_table(first, None, 0)
    names = first_table.names
    if names is None:
        names = tuple(f"x{index}" for index in range(np.shape(first_table.rows)[1]))
    table = StreamTable(list(names))
    if online:
        return OnlineBatches(source, int(batch_size), table.feature_names), table
    return source, table


def fit_input(model: Any, X: Any, announce: Callable[[str], None] | None = None) -> None:
    """``model.fit(X)``, or for :class:`OnlineBatches` ``partial_fit`` batch after batch.

    Parameters
    ----------
    model : GaussianMixture
    X : array, Dask collection, ChunkSource or OnlineBatches
    announce : callable, optional
        Receives a progress line every 100 batches of online EM.
    """
    if not isinstance(X, OnlineBatches):
        model.fit(X)
        return
    rows = 0
    for number, batch in enumerate(X.batches(), start=1):
        model.partial_fit(batch)
        rows += batch.shape[0]
        if announce is not None and number % _REPORT_EVERY == 0:
            announce(f"batch {number} ({rows} rows): mean log-likelihood {model.lower_bound_:.6f}")


def criteria(model: Any, X: Any) -> tuple[int, float, float, float]:
    """Rows, mean log-likelihood, BIC and AIC of a fitted model on what it was fitted to.

    Parameters
    ----------
    model : GaussianMixture
    X : array, Dask collection, ChunkSource or OnlineBatches

    Returns
    -------
    n_rows : int
    log_likelihood : float
        Mean per row: ``log_likelihood_`` of an exact fit; for online EM one more pass
        over the batches under the final parameters.
    bic, aic : float
    """
    from gaussmix.backends.stream import ChunkSource

    if isinstance(X, OnlineBatches):
        total, n_rows = 0.0, 0
        for batch in X.batches():
            total += float(np.sum(model.score_samples(batch)))
            n_rows += batch.shape[0]
        mean = total / n_rows
    elif isinstance(X, ChunkSource):
        n_rows, mean = int(model.n_samples_fit_), float(model.log_likelihood_)
    else:
        rows = X.shape[0]
        n_rows = int(rows) if isinstance(rows, (int, np.integer)) else len(X)
        return n_rows, float(model.log_likelihood_), float(model.bic(X)), float(model.aic(X))
    parameters = model._n_parameters()
    bic = -2.0 * mean * n_rows + parameters * math.log(n_rows)
    return n_rows, mean, bic, -2.0 * mean * n_rows + 2.0 * parameters
