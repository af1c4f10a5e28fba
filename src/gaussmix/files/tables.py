"""The command's in-memory data files read to numbers (text, Parquet, .npy); its CSV outputs.

What a file holds is decided by its first bytes, not by its name: ``.npy`` and Parquet by
their magic numbers, gzip, bzip2, xz and zip compression likewise (so ``rows.csv.gz`` or a
misnamed file read the same), anything else is UTF-8 text whose delimiter (comma, tab,
semicolon, bar or runs of blanks) is the one that splits every sampled line into the same
number of fields. ``-`` reads standard input.

Two layouts that a plain ``pandas.read_csv`` reads without an error but wrongly are caught
(:func:`read_table`; cases in ``tests/test_cli_input.py``):

* a first line of numbers only is not taken for column names: the file is refused, with
  ``header=False`` (``--no-header``) or ``header=True`` (``--header``) as the fix;
* a row index, as ``DataFrame.to_csv`` (an unnamed first column) or R's ``write.table``
  (a header one field short) write it, is not fitted as a feature.

Errors name the file, the line and the column, since the person reading them is looking
at the file, not at a DataFrame.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import io
import lzma
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.exceptions import DataFileError
from gaussmix.files.atomic import atomic_write

__all__ = ["STDIN", "DataFileWarning", "Table", "read_table", "write_table"]

STDIN = "-"
"""The DATA argument that reads standard input."""

# Magic numbers of the binary formats, and of the compressions pandas would otherwise infer
# from the suffix only.
_NPY_MAGIC = b"\x93NUMPY"
_PARQUET_MAGIC = b"PAR1"
_COMPRESSIONS: dict[bytes, str] = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"\x28\xb5\x2f\xfd": "zstd",
}
# Candidate delimiters, in order of preference when several split every line alike: a
# semicolon file with decimal commas splits alike on commas too.
_DELIMITERS = ("\t", ";", "|", ",")
_WHITESPACE = r"\s+"
_SAMPLE_BYTES = 1 << 16
_SAMPLE_LINES = 50
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d*,\d+(?:[eE][-+]?\d+)?\s*$")
# pandas' name for a column whose header cell is empty.
_UNNAMED = re.compile(r"^Unnamed: \d+$")
# A first column counting 0, 1, …, n − 1 (or 1, …, n) is only called a row index from this
# many rows on: two or three rows may count by chance.
_INDEX_MIN_ROWS = 3


class DataFileWarning(UserWarning):
    """Something in a data file that is probably a mistake, read the likely way."""


@dataclass(frozen=True)
class Table:
    """Numeric data read from a file.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        The numbers, float64.
    feature_names : list of str
        Column names (``x0``, ``x1``, … for .npy files and text without a header).
    named : bool
        Whether the names come from the file.
    """

    values: np.ndarray
    feature_names: list[str]
    named: bool


def _pandas() -> Any:
    return import_optional("pandas", "cli", "Reading data files")


# ----------------------------------------------------------------- the source
@dataclass(frozen=True)
class _Source:
    """A file, or standard input held in memory, and how messages call it."""

    label: str
    path: Path | None
    content: bytes | None

    def open(self) -> IO[bytes]:
        if self.content is not None:
            return io.BytesIO(self.content)
        assert self.path is not None
        return self.path.open("rb")

    def head(self, size: int) -> bytes:
        with self.open() as stream:
            return stream.read(size)


def _source(path: str | Path) -> _Source:
    if str(path) == STDIN:
        return _Source("standard input", None, sys.stdin.buffer.read())
    source = Path(path)
    if not source.is_file():
        raise DataFileError(
            f"the data file must exist; got {str(source)!r}, which is not a file. Check the path."
        )
    return _Source(repr(str(source)), source, None)


def _kind(head: bytes) -> str:
    """``"npy"``, ``"parquet"``, a compression name, or ``"text"``, from the first bytes."""
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    for magic, compression in _COMPRESSIONS.items():
        if head.startswith(magic):
            return compression
    return "text"


@contextlib.contextmanager
def _decompressed(source: _Source, compression: str | None) -> Iterator[IO[bytes]]:
    """The source's bytes, decompressed; a zip archive must hold exactly one file."""
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(source.open())
        if compression is None:
            yield raw
        elif compression == "gzip":
            yield stack.enter_context(gzip.GzipFile(fileobj=raw))
        elif compression == "bz2":
            yield stack.enter_context(bz2.BZ2File(raw))
        elif compression == "xz":
            yield stack.enter_context(lzma.LZMAFile(raw))
        elif compression == "zip":
            archive = stack.enter_context(zipfile.ZipFile(raw))
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                shown = ", ".join(info.filename for info in members[:3])
                raise DataFileError(
                    f"a zip data file must hold exactly one CSV file; {source.label} holds "
                    f"{len(members)} ({shown}{', …' if len(members) > 3 else ''}). Zip one "
                    "file, or export the sheet as CSV."
                )
            yield stack.enter_context(archive.open(members[0]))
        else:
            raise DataFileError(
                f"{compression} compression is not supported; {source.label} is "
                f"{compression}-compressed. Decompress it, or recompress it with gzip, bzip2, "
                "xz or zip."
            )


# ------------------------------------------------------------ delimited text
@dataclass(frozen=True)
class _Dialect:
    """How a text file is split: delimiter, decimal mark, and its first line's cells."""

    separator: str
    decimal: str
    first_row: list[str]
    fields: int
    """Fields of the data lines (the first line may have one fewer: a row index)."""

    def split(self, line: str) -> list[str]:
        if self.separator == _WHITESPACE:
            return line.split()
        return next(csv.reader([line], delimiter=self.separator), [])


def _sample_lines(stream: IO[bytes], label: str) -> list[str]:
    sample = stream.read(_SAMPLE_BYTES)
    if b"\x00" in sample:
        raise DataFileError(
            f"DATA must be delimited text (CSV, TSV; optionally gzip/bzip2/xz/zip "
            f"compressed), Parquet or .npy; {label} is binary (it starts with "
            f"{sample[:8]!r}). Export it as CSV."
        )
    try:
        text = sample.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the sample's end is not an error of the file.
        if error.start < len(sample) - 4:
            raise DataFileError(
                f"a text data file must be UTF-8; {label} is not (byte {error.start} is "
                f"{sample[error.start : error.start + 1]!r}). Save it as UTF-8."
            ) from None
        text = sample[: error.start].decode("utf-8-sig")
    lines = text.splitlines()
    if len(sample) == _SAMPLE_BYTES and lines:
        lines = lines[:-1]  # probably cut short
    return [line for line in lines if line.strip()][:_SAMPLE_LINES]


def _field_counts(lines: list[str], separator: str) -> list[int]:
    if separator == _WHITESPACE:
        return [len(line.split()) for line in lines]
    return [len(row) for row in csv.reader(lines, delimiter=separator)]


def _separator(lines: list[str]) -> tuple[str, int]:
    """The delimiter that splits every data line alike, and their number of fields.

    The first line may have one field fewer (R's ``write.table`` header). Without a
    consistent delimiter (a ragged file), the one the first line uses most is returned,
    so that the parser names the line at fault.
    """
    if not lines:
        return ",", 1
    for separator in (*_DELIMITERS, _WHITESPACE):
        counts = _field_counts(lines, separator)
        data = counts[1:] or counts
        fields = data[0]
        consistent = all(count == fields for count in data)
        if fields > 1 and consistent and counts[0] in (fields, fields - 1):
            return separator, fields
    used = max(_DELIMITERS, key=lines[0].count)
    if lines[0].count(used) == 0:
        return ",", 1
    return used, _field_counts(lines[:1], used)[0]


def _is_number(cell: str, decimal: str) -> bool:
    text = cell.strip()
    if decimal == ",":
        text = text.replace(",", ".")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _dialect(lines: list[str]) -> _Dialect:
    separator, fields = _separator(lines)
    probe = _Dialect(separator, ".", [], fields)
    cells = [cell for line in lines[1:] for cell in probe.split(line)]
    decimal = "," if separator == ";" and any(_DECIMAL_COMMA.match(cell) for cell in cells) else "."
    first = probe.split(lines[0]) if lines else []
    return _Dialect(separator, decimal, first, fields)


def _has_header(dialect: _Dialect, header: bool | None, label: str) -> bool:
    if header is not None:
        return header
    first = dialect.first_row
    if first and all(_is_number(cell, dialect.decimal) for cell in first):
        shown = ", ".join(cell.strip() for cell in first[:4]) + (", …" if len(first) > 4 else "")
        raise DataFileError(
            f"the first line of a data file must name the columns; the first line of {label} "
            f"holds only numbers ({shown}), so the file seems to have no header row. Pass "
            "--no-header to read every line as data (columns x0, x1, …), or --header if "
            "those numbers are the column names."
        )
    return True


def _read_text(source: _Source, compression: str | None, header: bool | None) -> _Frame:
    pd = _pandas()
    with _decompressed(source, compression) as stream:
        dialect = _dialect(_sample_lines(stream, source.label))
    has_header = _has_header(dialect, header, source.label)
    with _decompressed(source, compression) as stream:
        try:
            # Blank lines kept so that the line numbers in messages match the file's.
            frame = pd.read_csv(
                stream,
                sep=dialect.separator,
                decimal=dialect.decimal,
                header=0 if has_header else None,
                skip_blank_lines=False,
                encoding="utf-8-sig",
            )
        except pd.errors.EmptyDataError:
            raise DataFileError(
                f"a data file must hold a header row and data; {source.label} is empty. "
                "Check the file."
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            shown = "TSV" if dialect.separator == "\t" else "delimited text"
            raise DataFileError(
                f"a {shown} file must have the same number of fields on every line; "
                f"{source.label} could not be parsed: {str(error).strip()}. Fix that line."
            ) from None
    first_line = 1 + int(has_header)
    if not has_header:
        frame.columns = [f"x{index}" for index in range(frame.shape[1])]
        return _Frame(
            frame,
            named=False,
            locate=lambda row: f"line {row + first_line}",
            decimal=dialect.decimal,
        )
    # A header one name short of the data: pandas made the first field the index.
    implicit_index = len(dialect.first_row) == dialect.fields - 1
    unnamed_first = bool(dialect.first_row) and (
        dialect.first_row[0].strip() == "" or bool(_UNNAMED.match(str(frame.columns[0])))
    )
    return _Frame(
        frame,
        named=True,
        locate=lambda row: f"line {row + first_line}",
        implicit_index=implicit_index,
        unnamed_first=unnamed_first,
        decimal=dialect.decimal,
    )


# ----------------------------------------------------------------- the frame
@dataclass
class _Frame:
    """A table before its columns are checked: where each row is, and its first column."""

    frame: Any
    named: bool
    locate: Callable[[int], str]
    implicit_index: bool = False
    unnamed_first: bool = False
    decimal: str = "."


def _counts_rows(values: Any) -> tuple[int, int] | None:
    """``(first, last)`` when the values are the integers first, first + 1, … (first 0 or 1)."""
    numbers = np.asarray(values)
    if numbers.shape[0] < _INDEX_MIN_ROWS or numbers.dtype.kind not in "iuf":
        return None
    start = numbers[0]
    if start not in (0, 1):
        return None
    expected = np.arange(start, start + numbers.shape[0])
    if not np.array_equal(numbers, expected):
        return None
    return int(start), int(expected[-1])


def _resolve_index_col(table: _Frame, index_col: str, label: str) -> Any:
    names = [str(name) for name in table.frame.columns]
    if index_col in names:
        return table.frame.columns[names.index(index_col)]
    position = index_col[1:] if not table.named and index_col.startswith("x") else index_col
    if position.isdigit():
        offset = int(table.implicit_index)
        if table.implicit_index and int(position) == 0:
            return None  # the index pandas already took out
        if int(position) - offset < len(names):
            return table.frame.columns[int(position) - offset]
    raise DataFileError(
        f"--index-col must name a column of the data or give its position (0 for the first); "
        f"got {index_col!r}, and {label} has the columns {names}. Choose one of those."
    )


def _drop_row_index(table: _Frame, index_col: str | None, label: str) -> None:
    """Take the row index out of the features: the one named, or one written by pandas or R."""
    frame = table.frame
    if index_col is not None:
        column = _resolve_index_col(table, index_col, label)
        if column is not None:
            table.frame = frame.drop(columns=[column])
        return
    if table.implicit_index:
        counted = _counts_rows(frame.index)
        if counted is None:
            raise DataFileError(
                f"every line of a data file must have as many fields as the header row; the "
                f"header of {label} names {frame.shape[1]} columns and its data lines have "
                f"{frame.shape[1] + 1} fields. If the first field is a row index (R's "
                "write.table writes one), pass --index-col 0; otherwise fix the header row."
            )
        warnings.warn(
            f"the header row of {label} has one name fewer than its data lines, so their first "
            f"field is a row index (as R's write.table writes it): it numbers the rows "
            f"{counted[0]}…{counted[1]} and is not fitted. Pass --index-col 0 to say so.",
            DataFileWarning,
            stacklevel=4,
        )
        return
    if frame.shape[1] == 0:
        return
    first = frame.columns[0]
    counted = _counts_rows(frame[first])
    if table.unnamed_first:
        if counted is None:
            raise DataFileError(
                f"every data column must have a name; the first column of {label} has none, as "
                "DataFrame.to_csv writes its row index. Pass --index-col 0 if it is a row index "
                "(or write the file with index=False), or name it in the header row to fit it."
            )
        warnings.warn(
            f"the first column of {label} has no name and numbers the rows "
            f"{counted[0]}…{counted[1]}, as DataFrame.to_csv writes its index: it is read as "
            "the row index, not a feature. Pass --index-col 0 to say so, or name it in the "
            "header row to fit it.",
            DataFileWarning,
            stacklevel=4,
        )
        table.frame = frame.drop(columns=[first])
        return
    if counted is not None and frame.shape[1] > 1:
        option = "0" if not table.named else str(first)
        warnings.warn(
            f"column {str(first)!r} of {label} numbers the rows {counted[0]}…{counted[1]} and is "
            f"fitted as a feature; if it is a row index, pass --index-col {option} (or leave it "
            "out with --columns).",
            DataFileWarning,
            stacklevel=4,
        )


def _select(table: _Frame, columns: list[str], label: str) -> None:
    frame = table.frame
    names = [str(name) for name in frame.columns]
    if table.named:
        unknown = [name for name in columns if name not in names]
        if unknown:
            raise DataFileError(
                f"the data file must have the columns {columns}; {label} lacks {unknown} (it has "
                f"{names}). Choose existing columns."
            )
        table.frame = frame[[frame.columns[names.index(name)] for name in columns]].copy()
        return
    indices = []
    for name in columns:
        index = int(name[1:]) if name.startswith("x") and name[1:].isdigit() else None
        if index is None and name.isdigit():
            index = int(name)
        if index is None or index >= frame.shape[1]:
            raise DataFileError(
                f"columns of data without a header are named x0…x{frame.shape[1] - 1} (or 0, "
                f"1, …); got {name!r} for {label}. Choose one of those."
            )
        indices.append(index)
    selected = frame.iloc[:, indices].copy()
    selected.columns = [names[index] for index in indices]
    table.frame = selected


def _numeric(table: _Frame, label: str, allow_missing: bool = False) -> np.ndarray:
    """The frame as float64, or an error naming the first bad cell's line and column."""
    pd = _pandas()
    frame = table.frame
    values_out = np.empty(frame.shape, dtype=np.float64)
    for position, column in enumerate(frame.columns):
        values = frame[column]
        text = values
        if table.decimal == "," and not pd.api.types.is_numeric_dtype(values):
            # pandas parsed the decimal commas of numeric columns only; a column holding
            # one bad cell is text, where the others must still count as numbers.
            text = values.str.replace(",", ".", regex=False)
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna().to_numpy() & values.notna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise DataFileError(
                f"every value of column {str(column)!r} must be a number; {table.locate(row)} "
                f"of {label} holds {values.iloc[row]!r}. Fix the value, or choose numeric "
                "columns with --columns."
            )
        column_values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(column_values)
        if missing.any() and not allow_missing:
            row = int(np.argmax(missing))
            raise DataFileError(
                f"every value of column {str(column)!r} must be present; {table.locate(row)} of "
                f"{label} has none there. Fill or remove that line, or pass --missing em "
                "to treat empty cells as missing values."
            )
        infinite = np.isinf(column_values)
        if infinite.any():
            row = int(np.argmax(infinite))
            raise DataFileError(
                f"every value of column {str(column)!r} must be finite; {table.locate(row)} of "
                f"{label} holds {column_values[row]}. Fix or remove that line."
            )
        values_out[:, position] = column_values
    return values_out


# -------------------------------------------------------------------- public
def read_table(
    path: str | Path,
    columns: list[str] | None = None,
    *,
    header: bool | None = None,
    index_col: str | None = None,
    columns_if_named: list[str] | None = None,
    allow_missing: bool = False,
    observed_rows: bool = False,
) -> Table:
    """Read numeric data from delimited text, Parquet or .npy, decided by the file's bytes.

    Parameters
    ----------
    path : str or Path
        The file, or ``"-"`` for standard input. Text may be gzip, bzip2, xz or zip
        compressed; its delimiter is detected (comma, tab, semicolon, bar or blanks, and a
        decimal comma with semicolons).
    columns : list of str, optional
        Columns to keep, in this order (names; ``x0``… or positions for data without
        names). When given, no row index is looked for.
    header : bool or None, default=None
        Whether text starts with a header row. None: it must, and a first line of numbers
        only is refused (a header-less file would lose its first row to column names).
    index_col : str, optional
        A column (name or 0-based position) that is a row index: left out of the features.
        Without it, an unnamed first column counting the rows (``DataFrame.to_csv``) or a
        header one field short (R's ``write.table``) is left out with a
        :class:`DataFileWarning`, and a named first column counting the rows is warned about.
    columns_if_named : list of str, optional
        Columns to keep when the file names its columns (a model's features); data without
        names are read whole.
    allow_missing : bool, default=False
        Read empty cells (and NA, NaN) as NaN instead of refusing them.
    observed_rows : bool, default=False
        With ``allow_missing``, refuse a line whose cells are all empty, naming it (data to
        fit: such a row tells a fit nothing; predictions accept it).

    Returns
    -------
    Table

    Raises
    ------
    DataFileError
        If the file is missing, cannot be parsed (naming the line), has numbers for a header,
        an unnamed first column that does not count the rows, lacks a requested column, or
        holds a value that is not a finite number (naming its line and column).
    """
    source = _source(path)
    kind = _kind(source.head(8))
    if kind == "npy":
        table = _Frame(_npy_frame(source), named=False, locate=lambda row: f"row {row + 1}")
    elif kind == "parquet":
        table = _Frame(_parquet_frame(source), named=True, locate=lambda row: f"row {row + 1}")
    else:
        table = _read_text(source, None if kind == "text" else kind, header)
    if columns_if_named is not None and table.named:
        columns = columns_if_named
    if columns is not None:
        _select(table, columns, source.label)
    elif kind != "npy":
        _drop_row_index(table, index_col, source.label)
    names = [str(name) for name in table.frame.columns]
    if not table.named:
        names = [f"x{index}" for index in range(len(names))] if columns is None else names
    values = _numeric(table, source.label, allow_missing)
    empty = np.isnan(values).all(axis=1) if observed_rows and values.shape[1] else None
    if empty is not None and empty.any():
        first = table.locate(int(np.argmax(empty)))
        raise DataFileError(
            f"every line of data to fit must have at least one value; {first} "
            f"of {source.label} has none ({int(empty.sum())} such lines). A row with nothing "
            "observed tells the fit nothing: remove those lines."
        )
    if values.shape[0] == 0:
        raise DataFileError(f"a data file must hold at least one row; {source.label} has none.")
    if values.shape[1] == 0:
        raise DataFileError(f"a data file must hold at least one column; {source.label} has none.")
    return Table(values, names, named=table.named)


def _npy_frame(source: _Source) -> Any:
    with source.open() as stream:
        try:
            values = np.load(stream, allow_pickle=False)
        except ValueError as error:
            raise DataFileError(
                f"a .npy data file must hold a numeric array; {source.label} does not "
                f"({error}). Save it with numpy.save on a float array."
            ) from None
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if values.ndim != 2 or values.dtype.kind not in "biuf":
        raise DataFileError(
            "a .npy data file must hold a 2-D numeric array (n_samples, n_features); "
            f"{source.label} holds shape {values.shape} of dtype {values.dtype}."
        )
    return _pandas().DataFrame(values, columns=[f"x{index}" for index in range(values.shape[1])])


def _parquet_frame(source: _Source) -> Any:
    pd = _pandas()
    try:
        with source.open() as stream:
            frame = pd.read_parquet(stream)
    except ImportError:
        raise DataFileError(
            "reading Parquet needs pyarrow: pip install pyarrow (or convert the file to CSV)."
        ) from None
    frame.columns = [str(name) for name in frame.columns]
    return frame


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
