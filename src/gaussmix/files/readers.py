"""Open Parquet and Zarr datasets lazily, as Dask collections ready for ``GaussianMixture.fit``.

Both readers return without reading the data: rows are read chunk by chunk by the
tasks of each EM iteration (or once, when the fit persists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

from gaussmix.backends.dask import require_dask

__all__ = ["read_parquet", "read_zarr"]


def read_parquet(path: str | PathLike, columns: Sequence[str] | None = None) -> Any:
    """Open a Parquet file or directory of files as a lazy Dask dataframe.

    Parameters
    ----------
    path : str or path-like
        A file, a directory of part files, or a glob; any URL fsspec understands.
    columns : sequence of str, optional
        Columns to read (the features); all columns when omitted.

    Returns
    -------
    dask.dataframe.DataFrame
        One partition per row group or file; column names become
        ``feature_names_in_`` when fitted.

    Raises
    ------
    ImportError
        When dask or pyarrow is missing.
    """
    require_dask()
    try:
        import dask.dataframe as dd
    except ImportError as error:
        raise ImportError(
            "Reading Parquet needs dask and pyarrow: pip install 'gaussmix[dask]'"
        ) from error
    return dd.read_parquet(path, columns=None if columns is None else list(columns))


def read_zarr(path: str | PathLike, component: str | None = None) -> Any:
    """Open a 2-D Zarr array as a lazy Dask array chunked like the store.

    Parameters
    ----------
    path : str or path-like
        The Zarr store (a directory, or a URL fsspec understands).
    component : str, optional
        Path of the array inside a Zarr group; None when the store is the array itself.

    Returns
    -------
    dask.array.Array of shape (n_samples, n_features)

    Raises
    ------
    ImportError
        When dask or zarr is missing.
    """
    dask = require_dask()
    try:
        import zarr  # noqa: F401  (dask.array.from_zarr needs it; fail here with the extra's name)
    except ImportError as error:
        raise ImportError("Reading Zarr needs zarr: pip install 'gaussmix[dask]'") from error
    return dask.array.from_zarr(str(path), component=component)
