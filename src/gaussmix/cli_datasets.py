"""The command's lazy data: Parquet and Zarr opened, standardised and written through Dask.

A directory (a Parquet dataset of part files, or a Zarr store) and any path given with
``--dask`` are opened as Dask collections, so that ``fit``, ``predict`` and ``score`` read
them chunk by chunk rather than into memory. ``--scheduler`` chooses where the chunks
are computed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix.exceptions import DataFileError

__all__ = [
    "LazyTable",
    "is_lazy_source",
    "read_lazy_table",
    "scheduler",
    "standardize_lazily",
    "write_lazy_columns",
]

_ZARR_SUFFIX = ".zarr"
_PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class LazyTable:
    """A dataset opened without reading its rows.

    Attributes
    ----------
    data : dask.dataframe.DataFrame or dask.array.Array
        What ``GaussianMixture.fit`` receives: a dataframe for Parquet (its column names
        become ``feature_names_in_``), a 2-D array for Zarr.
    feature_names : list of str
        Column names; ``x0``, ``x1``, … for a Zarr array.
    named : bool
        Whether the names come from the data (Parquet) rather than positions (Zarr).
    """

    data: Any
    feature_names: list[str]
    named: bool

    @property
    def n_features(self) -> int:
        """Number of columns."""
        return len(self.feature_names)


def _is_zarr(path: Path) -> bool:
    return (
        path.suffix.lower() == _ZARR_SUFFIX
        or (path / ".zarray").is_file()
        or (path / "zarr.json").is_file()
    )


def is_lazy_source(path: Path, forced: bool) -> bool:
    """Whether DATA is read through Dask: directories, Zarr stores, or ``--dask``.

    Parameters
    ----------
    path : Path
        The DATA argument.
    forced : bool
        ``--dask`` (or ``--scheduler``) was given.

    Returns
    -------
    bool
    """
    return forced or path.is_dir() or _is_zarr(path)


def read_lazy_table(path: Path, columns: list[str] | None) -> LazyTable:
    """Open a Parquet file or dataset, or a Zarr store, as a lazy Dask collection.

    Parameters
    ----------
    path : Path
        A Parquet file, a directory of Parquet files, or a Zarr store.
    columns : list of str or None
        Columns to keep (Parquet names, or ``x0``… for Zarr); all when None.

    Returns
    -------
    LazyTable

    Raises
    ------
    DataFileError
        When the path is missing or not a Parquet or Zarr dataset, or a column is unknown.
    ImportError
        When dask, pyarrow or zarr is missing.
    """
    from gaussmix.files.readers import read_parquet, read_zarr

    if not path.exists():
        raise DataFileError(
            f"DATA must be an existing file or directory; {str(path)!r} does not exist. "
            "Check the path."
        )
    if _is_zarr(path):
        array = read_zarr(path)
        if array.ndim != 2:
            raise DataFileError(
                f"a Zarr data store must hold a 2-D array (n_samples, n_features); "
                f"{str(path)!r} has shape {array.shape}. Reshape it when writing."
            )
        names = [f"x{index}" for index in range(array.shape[1])]
        if columns:
            unknown = [name for name in columns if name not in names]
            if unknown:
                raise DataFileError(
                    f"columns of a Zarr array are named x0…x{len(names) - 1}; got {unknown}. "
                    "Pass --columns with those names."
                )
            array = array[:, [names.index(name) for name in columns]]
            names = list(columns)
        return LazyTable(array, names, named=False)
    if path.is_dir() or path.suffix.lower() in _PARQUET_SUFFIXES:
        frame = read_parquet(path, columns=columns)
        non_numeric = [
            str(name) for name, kind in frame.dtypes.items() if not np.issubdtype(kind, np.number)
        ]
        if non_numeric:
            raise DataFileError(
                f"every column must be numeric; {str(path)!r} has non-numeric columns "
                f"{non_numeric}. Select numeric ones with --columns."
            )
        return LazyTable(frame.astype(np.float64), [str(name) for name in frame.columns], True)
    raise DataFileError(
        f"lazy DATA must be Parquet (a .parquet file or a directory of them) or a Zarr store; "
        f"got {str(path)!r}. Convert it, or drop --dask to read CSV/.npy into memory."
    )


def standardize_lazily(table: LazyTable) -> tuple[LazyTable, tuple[np.ndarray, np.ndarray]]:
    """``(x − mean) / std`` of every column, with the two vectors computed in one pass.

    Parameters
    ----------
    table : LazyTable
        The opened dataset.

    Returns
    -------
    table : LazyTable
        The standardised (still lazy) dataset.
    standardization : tuple of ndarray
        The centre and scale, for the model file.

    Raises
    ------
    DataFileError
        When a column is constant.
    """
    import dask

    centre, scale = dask.compute(table.data.mean(axis=0), table.data.std(axis=0))
    centre, scale = np.asarray(centre, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    constant = [name for name, value in zip(table.feature_names, scale, strict=True) if value == 0]
    if constant:
        raise DataFileError(
            f"--standardize needs columns that vary; {constant} are constant. Drop them with "
            "--columns."
        )
    return LazyTable((table.data - centre) / scale, table.feature_names, table.named), (
        centre,
        scale,
    )


@contextlib.contextmanager
def scheduler(address: str | None) -> Iterator[Any]:
    """Where Dask computes: the default scheduler, a local cluster, or a running one.

    Parameters
    ----------
    address : str or None
        None: Dask's default (threads of this process, or a ``distributed.Client``
        already set as default); ``"local"``: a ``distributed.LocalCluster`` started for
        this command and closed after it; anything else: the address of a running
        scheduler (``tcp://host:8786``), connected to with ``distributed.Client``.

    Yields
    ------
    distributed.Client or None
        The client while it is the default scheduler.
    """
    if address is None:
        yield None
        return
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            "--scheduler needs dask.distributed: pip install 'gaussmix[dask]'"
        ) from error
    with contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(distributed.LocalCluster(dashboard_address=":0"))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(address, timeout="10s"))
            except OSError as error:
                raise DataFileError(
                    f"--scheduler must be the address of a running Dask scheduler "
                    f"(tcp://host:8786) or 'local'; could not connect to {address!r} "
                    f"({error}). Start one with `dask scheduler`, or omit --scheduler."
                ) from None
        yield client


def write_lazy_columns(path: Path, columns: dict[str, Any]) -> Path:
    """Write lazy per-row columns (Dask arrays with the same chunks) to CSV or Parquet.

    Parameters
    ----------
    path : Path
        ``*.csv``: one CSV file; anything else: a Parquet dataset (a directory, one file
        per chunk of rows).
    columns : dict of str to dask.array.Array
        Column name to a 1-D Dask array; all chunked alike.

    Returns
    -------
    Path
        The path written.
    """
    import dask
    import dask.dataframe as dd
    import pandas as pd

    names = list(columns)
    blocks = [column.to_delayed().ravel() for column in columns.values()]
    meta = pd.DataFrame({name: pd.Series(dtype=column.dtype) for name, column in columns.items()})

    def frame(*parts: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(dict(zip(names, parts, strict=True)))

    pieces = [dask.delayed(frame)(*parts) for parts in zip(*blocks, strict=True)]
    table = dd.from_delayed(pieces, meta=meta, verify_meta=False)
    if path.suffix.lower() == ".csv":
        table.to_csv(str(path), single_file=True, index=False)
    else:
        table.to_parquet(str(path), write_index=False)
    return path
