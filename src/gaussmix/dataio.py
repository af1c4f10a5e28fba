"""Lazy Parquet and Zarr readers, under their public path; the code is
:mod:`gaussmix.files.readers`."""

from gaussmix.files.readers import read_parquet, read_zarr

__all__ = ["read_parquet", "read_zarr"]
