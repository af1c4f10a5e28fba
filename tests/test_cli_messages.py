"""What the command prints around the work: one-line errors and warnings, uncut output,
progress rows, the compile notice, a fast ``--help`` and ``info``'s description.

Subprocesses (about a second of start-up each) are used only where the real process
matters: the imports of ``--help`` and output redirected to a pipe.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gaussmix
from gaussmix import GaussianMixture
from gaussmix.cli import cli
from gaussmix.cli_progress import FitProgress
from gaussmix.em import IterationInfo
from gaussmix.exceptions import CollapsedComponentWarning

SOURCE = Path(gaussmix.__file__).parents[1]


def _run(*arguments, cwd, env=None):
    environment = {**os.environ, "PYTHONPATH": str(SOURCE), **(env or {})}
    return subprocess.run(
        [sys.executable, *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env=environment,
    )


@pytest.fixture
def faithful_csv(tmp_path):
    with resources.as_file(resources.files("gaussmix").joinpath("data", "faithful.csv")) as path:
        target = tmp_path / "faithful.csv"
        target.write_bytes(path.read_bytes())
    return target


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["fit", "DATA", "-k", "0"], r"'-k' / '--n-components': 0 is not in the range x>=1"),
        (["fit", "DATA", "-c", "banana"], r"'banana' is not one of 'EEE'"),
        (["fit"], r"Missing argument 'DATA'"),
        (["fitt", "DATA"], r"No such command 'fitt'"),
        (["score", "--nope"], r"No such option '--nope'"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(faithful_csv, arguments, message):
    arguments = [str(faithful_csv) if part == "DATA" else part for part in arguments]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert __import__("re").search(message, lines[0])
    assert "--help" in lines[0]  # where the fix is explained


def test_more_components_than_rows_is_refused_before_any_progress(tmp_path):
    (tmp_path / "three.csv").write_text("a,b\n1,2\n3,5\n4,4\n")
    result = CliRunner().invoke(
        cli, ["fit", str(tmp_path / "three.csv"), "-k", "5", "-o", str(tmp_path / "m.gmm")]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: -k/--n-components must be at most the number of rows; got -k 5 for the 3 rows "
        f"of {tmp_path / 'three.csv'}. Use fewer components or more data."
    ]
    assert not (tmp_path / "m.gmm").exists()


# --------------------------------------------------------------------- warnings
def test_python_warnings_are_one_clean_line(tmp_path, faithful_csv, monkeypatch):
    fit = GaussianMixture.fit

    def warning_fit(self, X, *rest, **options):
        warnings.warn("a component\n   collapsed; re-seeded", CollapsedComponentWarning, 2)
        return fit(self, X, *rest, **options)

    monkeypatch.setattr(GaussianMixture, "fit", warning_fit)
    arguments = ["fit", str(faithful_csv), "-o", str(tmp_path / "m.gmm")]
    result = CliRunner().invoke(cli, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["warning: a component collapsed; re-seeded"]
    json.loads(result.stdout)
    quiet = CliRunner().invoke(cli, [*arguments, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_redirected_output_is_neither_wrapped_nor_cut(tmp_path, faithful):
    # Two long column names make the summary table 150 columns wide, and an index
    # column makes a warning; stdout and stderr are pipes, not terminals.
    names = ["eruption duration in minutes " * 2, "waiting time to the next eruption " * 2]
    frame = faithful.set_axis([name.strip() for name in names], axis=1)
    frame.to_csv(tmp_path / "wide.csv")
    result = _run("-m", "gaussmix", "fit", "wide.csv", "--seed", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # rich marks what it cuts with "…" at the cut.
    assert not [line for line in result.stdout.splitlines() if "…" in line]
    table = [line for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert len({len(line) for line in table}) == 1 and len(table[0]) > 140
    for name in frame.columns:
        assert f"mean {name}" in result.stdout
    assert "converged after" in result.stdout
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1
    assert "tables.py" not in result.stderr and "DataFileWarning" not in result.stderr
    rows = [line for line in result.stderr.splitlines() if line.startswith("start 1")]
    assert len(rows) == 1 and rows[0].rstrip().endswith(" s")


@pytest.fixture(scope="module")
def faithful():
    with resources.as_file(resources.files("gaussmix").joinpath("data", "faithful.csv")) as path:
        return pd.read_csv(path)


# --------------------------------------------------------------------- progress
def _info(init, iteration, log_likelihood, change, converged=False):
    return IterationInfo(init, iteration, log_likelihood, change, 0.0, converged)


def _task(progress, init):
    task_id = progress.tasks[init]
    return next(task for task in progress.progress.tasks if task.id == task_id)


def test_a_converged_start_fills_its_bar_and_stops_its_clock():
    progress = FitProgress(None, n_init=3, max_iter=100, tol=1e-3, enabled=False)
    with progress:
        assert _task(progress, 0).fields["state"] == "k-means start"
        progress(_info(0, 1, -5.0, math.inf))
        running = _task(progress, 0)
        assert (running.completed, running.total, running.fields["state"]) == (1, 100, "iterating")
        progress(_info(0, 2, -4.5, 0.5))
        progress(_info(0, 3, -4.4995, 5e-4, converged=True))
        done = _task(progress, 0)
        assert done.completed == done.total == 3 and done.finished
        assert done.fields["state"] == "converged"
        stopped = done.fields["stopped"]
        assert stopped is not None
        # The next start shows at once, before its first iteration.
        assert _task(progress, 1).fields["state"] == "k-means start"
        progress(_info(1, 1, -6.0, math.inf))
        progress(_info(1, 2, -5.0, 1.0))
        # Start 2 stopped short of the criterion when start 3 began: discarded.
        progress(_info(2, 1, -4.0, math.inf))
        assert _task(progress, 1).fields["state"] == "discarded"
        for iteration in range(2, 101):
            progress(_info(2, iteration, -3.9, 0.01))
        assert _task(progress, 2).fields["state"] == "max_iter"
        assert progress.kept(-3.9, 100) == 2
        assert _task(progress, 2).fields["state"] == "max_iter, kept"
        assert _task(progress, 0).fields["stopped"] == stopped


def test_a_start_re_seeded_after_a_small_change_goes_on():
    progress = FitProgress(None, n_init=2, max_iter=50, tol=1e-3, enabled=False)
    with progress:
        progress(_info(0, 1, -5.0, math.inf))
        progress(_info(0, 2, -5.0, 1e-5))  # a small change, but a re-seed restarts it
        progress(_info(0, 3, -4.0, math.inf))
        assert _task(progress, 0).fields["state"] == "iterating"
        progress(_info(0, 4, -4.0, 0.0, converged=True))
    assert progress.ended == {0: "converged"}
    assert 1 not in progress.tasks  # never began: its row is removed


def test_fit_reports_the_start_it_kept(tmp_path, faithful_csv, faithful):
    # Four starts of three iterations end at different log-likelihoods.
    last: dict[int, float] = {}

    def record(info):
        last[info.init] = info.log_likelihood

    options = {"n_init": 4, "max_iter": 3, "random_state": 0}
    reference = GaussianMixture(3, callback=record, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(faithful)
    best = max(last.values())
    assert sorted(last.values()).count(best) == 1  # a unique best start
    expected = next(init for init, value in sorted(last.items()) if value == best) + 1

    arguments = ["fit", str(faithful_csv), "-k", "3", "--n-init", "4", "--max-iter", "3"]
    arguments += ["--seed", "0", "-o", str(tmp_path / "m.gmm")]
    document = json.loads(CliRunner().invoke(cli, [*arguments, "--json"]).stdout)
    assert document["kept_start"] == expected
    assert document["log_likelihood"] == pytest.approx(reference.log_likelihood_, rel=1e-12)
    shown = CliRunner().invoke(cli, arguments)
    assert f"of start {expected} (the best of 4)" in shown.stdout
    kept = [line for line in shown.stderr.splitlines() if "kept" in line]
    assert len(kept) == 1 and kept[0].startswith(f"start {expected} ")


@pytest.mark.parametrize(
    ("cold", "notice"),
    [(True, "Compiling the numba kernels"), (None, "Loading the numba kernels"), (False, None)],
)
def test_the_first_compile_is_announced(tmp_path, faithful_csv, monkeypatch, cold, notice):
    monkeypatch.setattr("gaussmix.cli_progress.kernels_need_compiling", lambda: cold)
    result = CliRunner().invoke(cli, ["fit", str(faithful_csv), "-o", str(tmp_path / "m.gmm")])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Fitting 2 full components to 272 rows")
    if notice is None:
        assert "numba" not in result.stderr
    else:
        assert lines[1].startswith(notice)


def test_a_cold_numba_cache_is_detected(tmp_path, faithful):
    pytest.importorskip("numba")
    from gaussmix.cli_progress import kernels_need_compiling

    # This process has fitted (compiled or loaded the kernels from the cache) by now.
    GaussianMixture(2, random_state=0).fit(faithful.to_numpy())
    assert kernels_need_compiling() is False
    # An empty cache folder: the next fit would compile.
    check = "from gaussmix.cli_progress import kernels_need_compiling as c; print(c())"
    result = _run("-c", check, cwd=tmp_path, env={"NUMBA_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# ---------------------------------------------------------------------- startup
@pytest.mark.parametrize("arguments", [["--help"], ["--version"], ["fit", "--help"]])
def test_help_and_version_import_neither_sklearn_nor_pandas_nor_numba(tmp_path, arguments):
    result = _run("-X", "importtime", "-m", "gaussmix", *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "gaussmix" in result.stdout
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "click" in imported  # the import log is read right
    assert not imported & {"sklearn", "pandas", "numba"}


def test_every_command_has_accurate_help():
    runner = CliRunner()
    commands = ["fit", "select", "predict", "score", "sample", "info", "plot", "demo"]
    group = runner.invoke(cli, ["--help"])
    assert group.exit_code == 0
    for command in commands:
        text = runner.invoke(cli, [command, "--help"])
        assert text.exit_code == 0, text.output
        assert f"Usage: cli {command}" in text.stdout or f"Usage: gaussmix {command}" in (
            text.stdout
        )
        # Each option the command takes is listed.
        for parameter in cli.commands[command].params:
            for option in parameter.opts:
                if option.startswith("-"):
                    assert option in text.stdout, (command, option)
    for command in ("fit", "predict", "score", "plot"):
        text = runner.invoke(cli, [command, "--help"]).stdout
        assert "--no-header" in text and "--index-col" in text


# ------------------------------------------------------------------------- info
def test_info_shows_covariances_in_the_data_units_and_what_bic_needs(tmp_path, faithful):
    values = faithful.to_numpy()
    centre, scale = values.mean(axis=0), values.std(axis=0)
    model = GaussianMixture(2, covariance_type="diag", random_state=0)
    model.fit((values - centre) / scale)
    del model.n_samples_fit_  # as in a file written before the training rows were recorded
    gaussmix.save(model, tmp_path / "m.gmm", standardization=(centre, scale))
    runner = CliRunner()
    document = json.loads(runner.invoke(cli, ["info", str(tmp_path / "m.gmm"), "--json"]).stdout)
    # Σ in data units: diag(scale) Σ_standardised diag(scale), from the (K, D) variances.
    expected = [np.diag(variances * scale**2) for variances in model.covariances_]
    np.testing.assert_allclose(document["covariances"], expected, rtol=1e-12)
    assert document["n_samples"] is None and document["bic"] is None
    text = runner.invoke(cli, ["info", str(tmp_path / "m.gmm")]).stdout
    assert "Covariance of component 1" in text
    assert "training rows: not recorded" in text
    assert f"{expected[1][1, 1]:.4g}" in text


def test_info_gives_bic_when_the_training_rows_are_known(tmp_path, faithful, monkeypatch):
    model = GaussianMixture(2, covariance_type="VEV", random_state=0).fit(faithful)
    gaussmix.save(model, tmp_path / "m.gmm")
    from gaussmix import cli as cli_module

    read = cli_module.read_model_file

    def with_rows(path):
        stored = read(path)
        stored.model.n_samples_fit_ = len(faithful)
        return stored

    monkeypatch.setattr(cli_module, "read_model_file", with_rows)
    result = CliRunner().invoke(cli, ["info", str(tmp_path / "m.gmm"), "--json"])
    document = json.loads(result.stdout)
    assert document["n_samples"] == 272
    assert document["bic"] == pytest.approx(model.bic(faithful), rel=1e-10)
    np.testing.assert_allclose(document["covariances"], model.covariances_, rtol=1e-12)
