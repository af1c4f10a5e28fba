"""Data files with a label column: the features as :func:`gaussmix.files.tables.read_table`
reads them, and the labels of one named column (numbers or text).

The file is recognised and parsed exactly as ``read_table`` does (delimiter, compression,
header and row-index rules, errors naming line and column); the label column is taken out
before the features are checked, so it may hold text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaussmix.exceptions import DataFileError
from gaussmix.files.tables import (
    Table,
    _drop_row_index,
    _Frame,
    _kind,
    _numeric,
    _parquet_frame,
    _read_text,
    _select,
    _source,
)

__all__ = ["read_labelled_table"]


def read_labelled_table(
    path: str | Path,
    label: str,
    columns: list[str] | None = None,
    *,
    header: bool | None = None,
    index_col: str | None = None,
) -> tuple[Table, np.ndarray]:
    """Read the features and the labels of a delimited-text or Parquet data file.

    Parameters
    ----------
    path : str or Path
        The file, or ``"-"`` for standard input.
    label : str
        The label column: its name, or for text without a header ``x<i>`` / ``<i>``
        (0-based position).
    columns : list of str, optional
        Feature columns to keep, in order; None: every column but the label.
    header : bool or None, default=None
        As for :func:`~gaussmix.files.tables.read_table`.
    index_col : str, optional
        A row-index column, left out of the features.

    Returns
    -------
    table : Table
        The features, float64.
    labels : ndarray of shape (n_samples,)
        The label column as read (integers, floats or strings).

    Raises
    ------
    DataFileError
        For a file read_table refuses, a missing label column, a row without a label, or
        a feature that is not a number.
    """
    source = _source(path)
    kind = _kind(source.head(8))
    if kind == "npy":
        raise DataFileError(
            f"a data file with a label column must be delimited text or Parquet; {source.label} "
            "is a .npy array. Write it as CSV with a header row."
        )
    table = (
        _read_text(source, None if kind == "text" else kind, header)
        if kind != "parquet"
        else _parquet_frame_table(source)
    )
    names = [str(name) for name in table.frame.columns]
    position = _label_position(label, names, table.named, source.label)
    labels = table.frame.iloc[:, position]
    table.frame = table.frame.drop(columns=[table.frame.columns[position]])
    missing = labels.isna().to_numpy()
    if missing.any():
        where = table.locate(int(np.argmax(missing)))
        raise DataFileError(
            f"every row must have a label in column {label!r}; {where} of {source.label} has "
            "none. Fill it in or drop the row."
        )
    if columns is not None:
        _select(table, columns, source.label)
    else:
        _drop_row_index(table, index_col, source.label)
    feature_names = [str(name) for name in table.frame.columns]
    values = _numeric(table, source.label)
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise DataFileError(
            f"a labelled data file must hold at least one row and one feature column besides "
            f"{label!r}; {source.label} has shape {values.shape}."
        )
    return Table(values, feature_names, named=table.named), labels.to_numpy()


def _parquet_frame_table(source: object) -> _Frame:
    return _Frame(_parquet_frame(source), named=True, locate=lambda row: f"row {row + 1}")


def _label_position(label: str, names: list[str], named: bool, where: str) -> int:
    if label in names:
        return names.index(label)
    if not named:
        text = label[1:] if label.startswith("x") else label
        if text.isdigit() and int(text) < len(names):
            return int(text)
    raise DataFileError(
        f"the label column must be one of the file's columns; {where} has no column {label!r} "
        f"(it has {names}). Pass --label with one of them."
    )
