"""Reading data files for the command line: numbers out, or errors naming line and column."""

from __future__ import annotations

import numpy as np
import pytest

from gaussmix.exceptions import DataFileError
from gaussmix.tables import read_table, write_table


def test_csv_tsv_and_npy_give_the_same_numbers(tmp_path):
    values = np.array([[1.5, 2.0], [3.0, -4.25], [5.0, 6.0]])
    (tmp_path / "a.csv").write_text("u,v\n1.5,2\n3,-4.25\n5,6\n")
    (tmp_path / "a.tsv").write_text("u\tv\n1.5\t2\n3\t-4.25\n5\t6\n")
    np.save(tmp_path / "a.npy", values)
    for name in ("a.csv", "a.tsv", "a.npy"):
        table = read_table(tmp_path / name)
        np.testing.assert_array_equal(table.values, values)
    assert read_table(tmp_path / "a.csv").feature_names == ["u", "v"]
    assert read_table(tmp_path / "a.npy").feature_names == ["x0", "x1"]
    selected = read_table(tmp_path / "a.csv", ["v"])
    np.testing.assert_array_equal(selected.values, values[:, [1]])
    np.testing.assert_array_equal(read_table(tmp_path / "a.npy", ["x1"]).values, values[:, [1]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("u,v\n1,2\n3,4,5\n", "line 3"),
        ("u,v\n1,2\n3,4\n5,abc\n", "column 'v'.*line 4 .*'abc'"),
        ("u,v\n1,2\n\n5,6\n", "column 'u'.*line 3"),
        ("", "empty"),
    ],
)
def test_errors_name_the_line_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataFileError, match=message):
        read_table(path)


def test_missing_file_binary_file_and_missing_column(tmp_path):
    with pytest.raises(DataFileError, match="must exist"):
        read_table(tmp_path / "none.csv")
    # The bytes decide, not the suffix: an Excel (OLE) file is binary, whatever its name.
    (tmp_path / "data.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00")
    with pytest.raises(DataFileError, match=r"is binary.*Export it as CSV"):
        read_table(tmp_path / "data.xls")
    (tmp_path / "a.csv").write_text("u,v\n1,2\n")
    with pytest.raises(DataFileError, match=r"lacks \['w'\]"):
        read_table(tmp_path / "a.csv", ["w"])
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(DataFileError, match="numeric"):
        read_table(tmp_path / "s.npy")


def test_write_table_round_trip(tmp_path):
    columns = {"label": np.array([0, 1, 1]), "p": np.array([0.25, 0.5, 1.0])}
    path = write_table(tmp_path / "out.csv", columns)
    assert path.read_text().splitlines() == ["label,p", "0,0.25", "1,0.5", "1,1.0"]
