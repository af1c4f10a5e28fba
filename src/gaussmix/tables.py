"""Data files of the command line: CSV/TSV with a header, Parquet and .npy, read to numbers.

Errors name the file, the line and the column, since the person reading them is looking
at the file, not at a DataFrame.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.atomic import atomic_write
from gaussmix.exceptions import DataFileError

__all__ = ["SUFFIXES", "Table", "read_table", "write_table"]

SUFFIXES = (".csv", ".tsv", ".tab", ".parquet", ".pq", ".npy")
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


@dataclass(frozen=True)
class Table:
    """Numeric data read from a file.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        The numbers, float64.
    feature_names : list of str
        Column names (``x0``, ``x1``, … for .npy files).
    named : bool
        Whether the names come from the file (False for .npy).
    """

    values: np.ndarray
    feature_names: list[str]
    named: bool


def _pandas() -> Any:
    return import_optional("pandas", "cli", "Reading data files")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataFileError(
            f"a data file must end in one of {', '.join(SUFFIXES)}; got {str(path)!r}. "
            "Save the data as CSV with a header row, Parquet or .npy."
        )
    return suffix


def _read_frame(path: Path, suffix: str) -> Any:
    pd = _pandas()
    if suffix in _SEPARATORS:
        try:
            # Blank lines kept so that the line numbers in messages match the file's.
            return pd.read_csv(path, sep=_SEPARATORS[suffix], skip_blank_lines=False)
        except pd.errors.EmptyDataError:
            raise DataFileError(
                f"a data file must hold a header row and data; {str(path)!r} is empty. "
                "Check the file."
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise DataFileError(
                f"a {suffix} file must have the same number of fields on every line; "
                f"{str(path)!r} could not be parsed: {str(error).strip()}. Fix that line."
            ) from None
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise DataFileError(
            "reading Parquet needs pyarrow: pip install pyarrow (or convert the file to CSV)."
        ) from None


def _numeric(frame: Any, path: Path) -> np.ndarray:
    """The frame as float64, or an error naming the first bad cell's line and column."""
    pd = _pandas()
    for column in frame.columns:
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna().to_numpy() & values.notna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise DataFileError(
                f"every value of column {column!r} must be a number; line {row + 2} of "
                f"{str(path)!r} holds {values.iloc[row]!r}. Fix the value, or choose numeric "
                "columns with --columns."
            )
        missing = numbers.isna().to_numpy()
        if missing.any():
            row = int(np.argmax(missing))
            raise DataFileError(
                f"every value of column {column!r} must be present; line {row + 2} of "
                f"{str(path)!r} has none there. Fill or remove that line."
            )
        frame[column] = numbers.astype(np.float64)
    return frame.to_numpy(dtype=np.float64)


def read_table(path: str | Path, columns: list[str] | None = None) -> Table:
    """Read numeric data from a CSV/TSV (with a header row), Parquet or .npy file.

    Parameters
    ----------
    path : str or Path
        The file; the suffix decides how it is read.
    columns : list of str, optional
        Columns to keep, in this order (names for tables, ``x0``… or indices for .npy).

    Returns
    -------
    Table

    Raises
    ------
    DataFileError
        If the file is missing, cannot be parsed (naming the line), lacks a requested
        column, or holds a value that is not a number (naming its line and column).
    """
    source = Path(path)
    suffix = _suffix(source)
    if not source.is_file():
        raise DataFileError(
            f"the data file must exist; got {str(source)!r}, which is not a file. Check the path."
        )
    if suffix == ".npy":
        try:
            values = np.load(source, allow_pickle=False)
        except ValueError as error:
            raise DataFileError(
                f"a .npy data file must hold a numeric array; {str(source)!r} does not "
                f"({error}). Save it with numpy.save on a float array."
            ) from None
        if values.ndim == 1:
            values = values.reshape(-1, 1)
        if values.ndim != 2 or values.dtype.kind not in "biuf":
            raise DataFileError(
                "a .npy data file must hold a 2-D numeric array (n_samples, n_features); "
                f"{str(source)!r} holds shape {values.shape} of dtype {values.dtype}."
            )
        names = [f"x{index}" for index in range(values.shape[1])]
        table = Table(values.astype(np.float64), names, named=False)
    else:
        frame = _read_frame(source, suffix)
        names = [str(name) for name in frame.columns]
        frame.columns = names
        if columns is not None:
            unknown = [name for name in columns if name not in names]
            if unknown:
                raise DataFileError(
                    f"the data file must have the columns {columns}; {str(source)!r} lacks "
                    f"{unknown} (it has {names}). Choose existing columns."
                )
            frame = frame[columns].copy()
            names = list(columns)
            columns = None
        table = Table(_numeric(frame, source), names, named=True)
    if columns is not None:
        table = _select_unnamed(table, columns, source)
    if table.values.shape[0] == 0:
        raise DataFileError(f"a data file must hold at least one row; {str(source)!r} has none.")
    return table


def _select_unnamed(table: Table, columns: list[str], source: Path) -> Table:
    indices = []
    for name in columns:
        index = int(name[1:]) if name.startswith("x") and name[1:].isdigit() else None
        if index is None and name.isdigit():
            index = int(name)
        if index is None or index >= table.values.shape[1]:
            raise DataFileError(
                f"columns of a .npy file are named x0…x{table.values.shape[1] - 1} (or 0, 1, …); "
                f"got {name!r} for {str(source)!r}."
            )
        indices.append(index)
    return Table(table.values[:, indices], [table.feature_names[i] for i in indices], named=False)


def write_table(path: str | Path, columns: dict[str, np.ndarray]) -> Path:
    """Write columns to a CSV (or TSV, by suffix) file with a header row, atomically.

    Parameters
    ----------
    path : str or Path
        Destination.
    columns : dict of str to ndarray of shape (n_samples,)
        Column name to values, in order.

    Returns
    -------
    Path
    """
    destination = Path(path)
    separator = "\t" if destination.suffix.lower() in (".tsv", ".tab") else ","
    buffer = io.StringIO()
    _pandas().DataFrame(columns).to_csv(buffer, sep=separator, index=False)
    return atomic_write(destination, buffer.getvalue().encode())
