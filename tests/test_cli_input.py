"""How the command reads DATA: header rows, row indexes, delimiters, compression, stdin.

Each file is written by the tool a user would write it with (pandas' ``to_csv``, R's
``write.table`` layout, gzip, …) and read back through :func:`gaussmix.tables.read_table`
or the command; the numbers must be the frame's, bit for bit.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import warnings
import zipfile
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gaussmix
from gaussmix import GaussianMixture
from gaussmix.cli import cli
from gaussmix.exceptions import DataFileError
from gaussmix.tables import DataFileWarning, read_table

# gaussmix fit's convergence defaults (those of select_model).
CLI_FIT = {"tol": 1e-5, "convergence": "relative", "max_iter": 1000}


@pytest.fixture(scope="module")
def faithful() -> pd.DataFrame:
    with resources.as_file(resources.files("gaussmix").joinpath("data", "faithful.csv")) as path:
        return pd.read_csv(path)


def _read_quietly(*arguments, **options):
    """read_table, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_table(*arguments, **options)


# ------------------------------------------------------------------ header row
def test_a_file_without_header_is_refused_with_the_fix(tmp_path, faithful):
    path = tmp_path / "rows.csv"
    faithful.to_csv(path, header=False, index=False)
    with pytest.raises(DataFileError, match=r"only numbers \(3\.6, 79\).*--no-header"):
        read_table(path)

    table = _read_quietly(path, header=False)
    np.testing.assert_array_equal(table.values, faithful.to_numpy())
    assert table.feature_names == ["x0", "x1"] and not table.named
    # --header: the first line is names, whatever it holds.
    assert _read_quietly(path, header=True).values.shape == (271, 2)


def test_fit_and_predict_without_header(tmp_path, faithful):
    path = tmp_path / "rows.csv"
    faithful.to_csv(path, header=False, index=False)
    runner = CliRunner()
    refused = runner.invoke(cli, ["fit", str(path), "-o", str(tmp_path / "m.gmm")])
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "--no-header" in refused.stderr

    arguments = ["fit", str(path), "--no-header", "--seed", "0", "-o", str(tmp_path / "m.gmm")]
    fitted = runner.invoke(cli, [*arguments, "--json"])
    assert fitted.exit_code == 0, fitted.output
    summary = json.loads(fitted.stdout)
    reference = GaussianMixture(2, random_state=0, **CLI_FIT).fit(faithful.to_numpy())
    assert summary["n_samples"] == 272
    np.testing.assert_allclose(summary["means"], reference.means_, rtol=1e-12)

    predicted = runner.invoke(cli, ["predict", str(tmp_path / "m.gmm"), str(path), "--no-header"])
    assert predicted.exit_code == 0, predicted.output
    labels = pd.read_csv(io.StringIO(predicted.stdout))["label"]
    np.testing.assert_array_equal(labels, reference.predict(faithful.to_numpy()))


# ------------------------------------------------------------------ row index
def test_the_index_written_by_to_csv_is_not_a_feature(tmp_path, faithful):
    path = tmp_path / "indexed.csv"
    faithful.to_csv(path)  # index=True: an unnamed first column 0 … 271
    with pytest.warns(DataFileWarning, match=r"no name and numbers the rows 0…271.*--index-col"):
        table = read_table(path)
    np.testing.assert_array_equal(table.values, faithful.to_numpy())
    assert table.feature_names == ["eruptions", "waiting"]
    # Said explicitly, no warning.
    np.testing.assert_array_equal(_read_quietly(path, index_col="0").values, faithful.to_numpy())

    result = CliRunner().invoke(
        cli, ["fit", str(path), "--seed", "0", "-o", str(tmp_path / "m.gmm"), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["feature_names"] == ["eruptions", "waiting"]
    reference = GaussianMixture(2, random_state=0, **CLI_FIT).fit(faithful)
    np.testing.assert_allclose(summary["means"], reference.means_, rtol=1e-12)
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "row index" in warned[0]


def test_an_unnamed_column_that_does_not_count_the_rows_is_refused(tmp_path, faithful):
    subset = faithful.iloc[[5, 9, 40, 41, 100]]
    path = tmp_path / "subset.csv"
    subset.to_csv(path)
    with pytest.raises(DataFileError, match=r"has none.*--index-col 0"):
        read_table(path)
    np.testing.assert_array_equal(_read_quietly(path, index_col="0").values, subset.to_numpy())
    # Chosen columns need no index rule.
    np.testing.assert_array_equal(
        _read_quietly(path, ["waiting"]).values, subset[["waiting"]].to_numpy()
    )


def test_a_named_column_counting_the_rows_is_warned_about(tmp_path, faithful):
    path = tmp_path / "reset.csv"
    faithful.reset_index().to_csv(path, index=False)
    with pytest.warns(DataFileWarning, match=r"'index'.*fitted as a feature.*--index-col index"):
        table = read_table(path)
    assert table.feature_names == ["index", "eruptions", "waiting"]
    table = _read_quietly(path, index_col="index")
    np.testing.assert_array_equal(table.values, faithful.to_numpy())
    with pytest.raises(DataFileError, match="--index-col must name a column"):
        read_table(path, index_col="row")


def test_r_row_names_are_not_a_feature(tmp_path, faithful):
    # R's write.table(sep=" "): quoted row names, and a header one field short.
    head = faithful.iloc[:4]
    lines = ['"eruptions" "waiting"'] + [
        f'"{row + 1}" {a!r} {b!r}' for row, (a, b) in enumerate(head.itertuples(index=False))
    ]
    path = tmp_path / "r.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(DataFileWarning, match=r"one name fewer.*1…4"):
        table = read_table(path)
    np.testing.assert_array_equal(table.values, head.to_numpy(dtype=float))
    assert table.feature_names == ["eruptions", "waiting"]


# ------------------------------------------------------- delimiters, compression
def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("rows.csv", text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "writer"),
    [
        ("semicolon.csv", lambda frame: frame.to_csv(sep=";", decimal=",", index=False).encode()),
        ("tabs.csv", lambda frame: frame.to_csv(sep="\t", index=False).encode()),
        ("bars.txt", lambda frame: frame.to_csv(sep="|", index=False).encode()),
        ("blanks.dat", lambda frame: frame.to_string(index=False).encode()),
        ("rows.csv.gz", lambda frame: gzip.compress(frame.to_csv(index=False).encode())),
        ("rows.csv.bz2", lambda frame: bz2.compress(frame.to_csv(index=False).encode())),
        ("rows.csv.xz", lambda frame: lzma.compress(frame.to_csv(index=False).encode())),
        ("rows.csv.zip", lambda frame: _zip(frame.to_csv(index=False))),
        ("misnamed.csv", lambda frame: gzip.compress(frame.to_csv(sep=";").encode())),
    ],
)
def test_delimiters_and_compression_are_detected(tmp_path, faithful, name, writer):
    path = tmp_path / name
    path.write_bytes(writer(faithful))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataFileWarning)  # misnamed.csv has its index
        table = read_table(path)
    assert table.feature_names == ["eruptions", "waiting"]
    np.testing.assert_array_equal(table.values, faithful.to_numpy())


def test_parquet_and_npy_are_known_by_their_bytes(tmp_path, faithful):
    np.save(tmp_path / "rows.npy", faithful.to_numpy())
    (tmp_path / "rows.npy").rename(tmp_path / "rows.bin")
    np.testing.assert_array_equal(read_table(tmp_path / "rows.bin").values, faithful.to_numpy())
    pytest.importorskip("pyarrow")
    faithful.to_parquet(tmp_path / "rows.dat")
    table = read_table(tmp_path / "rows.dat")
    assert table.feature_names == ["eruptions", "waiting"]
    np.testing.assert_array_equal(table.values, faithful.to_numpy())


def test_standard_input(tmp_path, faithful):
    data = gzip.compress(faithful.to_csv(index=False).encode())
    runner = CliRunner()
    arguments = ["fit", "-", "--seed", "0", "-o", str(tmp_path / "m.gmm"), "--json"]
    result = runner.invoke(cli, arguments, input=data)
    assert result.exit_code == 0, result.output
    reference = GaussianMixture(2, random_state=0, **CLI_FIT).fit(faithful)
    summary = json.loads(result.stdout)
    assert summary["n_samples"] == 272
    np.testing.assert_allclose(summary["means"], reference.means_, rtol=1e-12)
    scored = runner.invoke(cli, ["score", str(tmp_path / "m.gmm"), "-", "--json"], input=data)
    assert scored.exit_code == 0, scored.output
    model = gaussmix.load(tmp_path / "m.gmm")
    assert json.loads(scored.stdout)["mean_log_likelihood"] == pytest.approx(
        model.score(faithful), rel=1e-12
    )
    bad = runner.invoke(cli, ["fit", "-", "-o", str(tmp_path / "b.gmm")], input=b"u,v\n1,2\n3,x\n")
    assert bad.exit_code == 2
    assert re.search(r"column 'v'.*line 3 of standard input", bad.stderr)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv.gz", gzip.compress(b"u,v\n1,2\n3,4\n5,abc\n"), r"column 'v'.*line 4 .*'abc'"),
        ("bad.csv", b"u;v\n1,5;2\n3;4,25\n5;x\n", r"column 'v'.*line 4 .*'x'"),
        ("inf.csv", b"u,v\n1,2\n3,inf\n", r"column 'v' must be finite; line 3"),
        ("ragged.tsv", b"u\tv\n1\t2\n3\t4\t5\n", r"line 3"),
        ("two.zip", b"", r"exactly one CSV file.*holds 2"),
    ],
)
def test_errors_name_the_file_line_and_column(tmp_path, name, content, message):
    path = tmp_path / name
    if name == "two.zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("a.csv", "u\n1\n")
            archive.writestr("b.csv", "u\n2\n")
    else:
        path.write_bytes(content)
    with pytest.raises(DataFileError, match=message) as raised:
        read_table(path)
    assert name in str(raised.value)


def test_header_less_errors_count_lines_from_one(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,2\n3,4\n5,x\n")
    with pytest.raises(DataFileError, match=r"column 'x1'.*line 3 "):
        read_table(path, header=False)
