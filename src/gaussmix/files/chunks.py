"""Read data sources chunk by chunk: Parquet row groups, CSV blocks, Zarr and HDF5 datasets.

Every reader here is a function of no arguments that returns a fresh iterator over the
source's chunks, so the source can be read again from its start on every pass of EM.
A chunk is whatever the format gives (a pyarrow table, a pandas DataFrame, a NumPy
block); :func:`chunk_table` turns each into plain NumPy rows, weights and column names.
Nothing here validates values or imports the estimator.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix.exceptions import InvalidInputError

__all__ = [
    "CSV_CHUNK_ROWS",
    "DATASET_CHUNK_ROWS",
    "ChunkTable",
    "chunk_table",
    "dataset_chunks",
    "is_dataset",
    "open_zarr",
    "path_chunks",
    "resolve_paths",
]

#: Rows per chunk read from a CSV file (pandas' ``chunksize``).
CSV_CHUNK_ROWS = 65536
#: Rows per read from a Zarr or HDF5 dataset: the storage chunks' rows rounded up to
#: about this many, so that small storage chunks do not cost one Python round each.
DATASET_CHUNK_ROWS = 65536

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class ChunkTable:
    """One chunk as plain arrays.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
        The feature values, in the chunk's own dtype (not yet validated).
    weights : ndarray of shape (n_rows,) or None
        Per-row weights, from an ``(X, w)`` pair or the weight column.
    names : tuple of str or None
        Column names of a tabular chunk whose columns are all strings.
    """

    rows: np.ndarray
    weights: np.ndarray | None
    names: tuple[str, ...] | None


def is_dataset(obj: Any) -> bool:
    """Whether ``obj`` is a Zarr array or an h5py dataset (read by row slices).

    Parameters
    ----------
    obj : object

    Returns
    -------
    bool
    """
    package = type(obj).__module__.split(".")[0]
    return package in ("zarr", "h5py") and hasattr(obj, "shape") and hasattr(obj, "dtype")


def dataset_chunks(dataset: Any) -> Callable[[], Iterator[np.ndarray]]:
    """A re-readable reader of a 2-D Zarr array or h5py dataset, by row slices.

    Parameters
    ----------
    dataset : zarr.Array or h5py.Dataset of shape (n_rows, n_features)

    Returns
    -------
    callable
        Each call returns an iterator of NumPy blocks of whole storage chunks of rows.
    """
    shape = tuple(dataset.shape)
    if len(shape) != 2:
        raise InvalidInputError(
            f"A dataset source must be 2-D (rows × features); got shape {shape}. Pass a "
            "2-D array or reshape it."
        )
    storage = getattr(dataset, "chunks", None)
    storage_rows = int(storage[0]) if storage else DATASET_CHUNK_ROWS
    step = storage_rows * max(1, DATASET_CHUNK_ROWS // storage_rows)

    def read() -> Iterator[np.ndarray]:
        for start in range(0, shape[0], step):
            yield np.asarray(dataset[start : start + step])

    return read


def open_zarr(path: str | PathLike) -> Any:
    """Open a Zarr array store for reading.

    Parameters
    ----------
    path : str or path-like
        A directory ending in ``.zarr`` that holds one 2-D array.

    Returns
    -------
    zarr.Array
    """
    try:
        import zarr
    except ImportError as error:
        raise ImportError(
            "Reading a Zarr store chunk by chunk needs zarr: pip install 'gaussmix[dask]' "
            "(or zarr)."
        ) from error
    return zarr.open_array(os.fspath(path), mode="r")


def resolve_paths(paths: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
    """The files of a path, a folder, a glob or a list of paths, in a fixed order.

    Parameters
    ----------
    paths : str, path-like or sequence of them
        A file, a folder (its Parquet and CSV files, sorted by name), a glob pattern
        (its matches, sorted), or a list of any of these (kept in the given order).

    Returns
    -------
    list of Path

    Raises
    ------
    InvalidInputError
        When nothing matches, or a file's format is neither Parquet nor CSV.
    """
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    found: list[Path] = []
    for entry in paths:
        text = os.fspath(entry)
        if _GLOB_CHARACTERS & set(text):
            matches = [Path(match) for match in sorted(glob.glob(text)) if Path(match).is_file()]
        elif Path(text).is_dir():
            matches = sorted(
                path
                for path in Path(text).iterdir()
                if path.is_file() and _format(path, strict=False) is not None
            )
        else:
            matches = [Path(text)] if Path(text).is_file() else []
        if not matches:
            raise InvalidInputError(
                f"A file source must name existing Parquet or CSV files; {text!r} matches "
                "none. Check the path, the folder or the glob pattern."
            )
        found.extend(matches)
    for path in found:
        _format(path, strict=True)
    return found


def _format(path: Path, strict: bool) -> str | None:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if strict and name.endswith((".h5", ".hdf5")):
        raise InvalidInputError(
            f"An HDF5 file holds named datasets, so pass the dataset itself; got the file "
            f"{str(path)!r}. Use h5py.File(path)['name'] (pip install h5py) as the source."
        )
    if strict:
        raise InvalidInputError(
            f"A file source must hold Parquet ({', '.join(PARQUET_SUFFIXES)}) or CSV "
            f"({', '.join(CSV_SUFFIXES)}) files; got {str(path)!r}. Rename or convert it."
        )
    return None


def path_chunks(
    paths: Sequence[Path], columns: Sequence[str] | None = None
) -> Callable[[], Iterator[Any]]:
    """A re-readable reader of Parquet and CSV files: row groups and CSV blocks, in order.

    Parameters
    ----------
    paths : sequence of Path
        From :func:`resolve_paths`.
    columns : sequence of str, optional
        The columns to read (features and any weight column); all when omitted.

    Returns
    -------
    callable
        Each call returns an iterator of pyarrow tables (one per Parquet row group,
        read with pyarrow, no Dask) and pandas DataFrames (``CSV_CHUNK_ROWS`` rows of a
        CSV file).
    """
    paths = list(paths)
    selected = None if columns is None else list(columns)

    def read() -> Iterator[Any]:
        for path in paths:
            if _format(path, strict=True) == "parquet":
                yield from _parquet_row_groups(path, selected)
            else:
                yield from _csv_blocks(path, selected)

    return read


def _parquet_row_groups(path: Path, columns: list[str] | None) -> Iterator[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError(
            "Reading Parquet files chunk by chunk needs pyarrow: pip install pyarrow "
            "(or 'gaussmix[dask]')."
        ) from error
    with pq.ParquetFile(path) as parquet:
        for group in range(parquet.num_row_groups):
            # One decoding thread: the E-step's threads keep the cores busy, and the
            # reader runs beside them (1.5·10⁶ × 8 rows, K = 8: 0.46 instead of 0.50 s
            # per pass on the shared 2-core machine, benchmarks/bench_stream.py).
            yield parquet.read_row_group(group, columns=columns, use_threads=False)


def _csv_blocks(path: Path, columns: list[str] | None) -> Iterator[Any]:
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError(
            "Reading CSV files chunk by chunk needs pandas: pip install 'gaussmix[cli]'."
        ) from error
    separator = "\t" if ".tsv" in path.name.lower() else ","
    with pd.read_csv(path, sep=separator, usecols=columns, chunksize=CSV_CHUNK_ROWS) as reader:
        yield from reader


def chunk_table(chunk: Any, weight_column: str | None, index: int) -> ChunkTable:
    """A chunk of any accepted kind as rows, weights and column names.

    Parameters
    ----------
    chunk : ndarray, DataFrame, pyarrow Table/RecordBatch or (X, w) pair
        What the source yielded.
    weight_column : str or None
        The column of a tabular chunk that holds the sample weights (removed from the
        features).
    index : int
        Position of the chunk in the pass (for error messages).

    Returns
    -------
    ChunkTable
    """
    weights = None
    if isinstance(chunk, tuple):
        if len(chunk) != 2 or weight_column is not None:
            raise InvalidInputError(
                "A source chunk given as a tuple must be an (X, sample_weight) pair, and "
                f"then sample_weight must not name a column; chunk {index} is a tuple of "
                f"{len(chunk)} with sample_weight={weight_column!r}. Yield X or (X, w)."
            )
        chunk, weights = chunk
        weights = None if weights is None else np.asarray(weights)
    if hasattr(chunk, "to_pandas") and hasattr(chunk, "column_names"):
        return _arrow_table(chunk, weight_column, index, weights)
    if hasattr(chunk, "columns") and hasattr(chunk, "to_numpy"):
        return _frame_table(chunk, weight_column, index, weights)
    if weight_column is not None:
        raise _no_columns_error(weight_column, index, type(chunk).__name__)
    rows = np.asarray(chunk)
    return ChunkTable(rows, weights, None)


def _arrow_table(
    table: Any, weight_column: str | None, index: int, weights: np.ndarray | None
) -> ChunkTable:
    names = [str(name) for name in table.column_names]
    if weight_column is not None:
        if weight_column not in names:
            raise _missing_column_error(weight_column, index, names)
        weights = table.column(weight_column).to_numpy()
        names = [name for name in names if name != weight_column]
    columns = [table.column(name).to_numpy() for name in names]
    rows = np.column_stack(columns) if columns else np.empty((table.num_rows, 0))
    return ChunkTable(rows, weights, tuple(names))


def _frame_table(
    frame: Any, weight_column: str | None, index: int, weights: np.ndarray | None
) -> ChunkTable:
    names = list(frame.columns)
    if weight_column is not None:
        if weight_column not in names:
            raise _missing_column_error(weight_column, index, [str(name) for name in names])
        weights = frame[weight_column].to_numpy()
        frame = frame.drop(columns=[weight_column])
        names = list(frame.columns)
    named = all(isinstance(name, str) for name in names)
    return ChunkTable(frame.to_numpy(), weights, tuple(names) if named else None)


def _missing_column_error(column: str, index: int, names: Iterable[str]) -> InvalidInputError:
    return InvalidInputError(
        f"sample_weight names the weight column {column!r}, which every chunk must hold; "
        f"chunk {index} has columns {list(names)}. Check the column's name."
    )


def _no_columns_error(column: str, index: int, kind: str) -> InvalidInputError:
    return InvalidInputError(
        f"sample_weight names the weight column {column!r}, but chunk {index} is a {kind} "
        "without column names. Yield DataFrames (or Parquet/CSV files) with that column, "
        "or (X, w) pairs."
    )
