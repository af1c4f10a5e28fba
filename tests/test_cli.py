"""The gaussmix command end to end: subprocesses on Old Faithful, errors, Ctrl-C, --json.

Each subprocess costs about a second of Python start-up, so the end-to-end tests are
few; option handling that needs no new process is tested in-process with click's runner.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gaussmix
from gaussmix import GaussianMixture
from gaussmix.cli import cli
from gaussmix.covariance import MCLUST_MODELS

# gaussmix fit's convergence defaults (those of select_model).
CLI_FIT = {"tol": 1e-5, "convergence": "relative", "max_iter": 1000}


def _run(*arguments, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gaussmix", *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def faithful_csv(tmp_path):
    source = resources.files("gaussmix").joinpath("data", "faithful.csv")
    with resources.as_file(source) as path:
        shutil.copy(path, tmp_path / "faithful.csv")
    return tmp_path / "faithful.csv"


def test_fit_predict_score_sample_info(tmp_path, faithful_csv):
    fitted = _run(
        "fit", faithful_csv, "-k", "2", "--seed", "0", "-o", "m.gmm", "--json", cwd=tmp_path
    )
    assert fitted.returncode == 0, fitted.stderr
    summary = json.loads(fitted.stdout)
    data = pd.read_csv(faithful_csv)
    model = gaussmix.load(tmp_path / "m.gmm")
    reference = GaussianMixture(2, random_state=0, **CLI_FIT).fit(data)
    assert summary["converged"] is True
    assert summary["log_likelihood"] == pytest.approx(reference.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(summary["means"], reference.means_, rtol=1e-12)

    predicted = _run("predict", "m.gmm", faithful_csv, "-o", "labels.csv", "--proba", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    labels = pd.read_csv(tmp_path / "labels.csv")
    np.testing.assert_array_equal(labels["label"], model.predict(data))
    np.testing.assert_allclose(
        labels[["proba_0", "proba_1"]], model.predict_proba(data), rtol=1e-12
    )

    scored = _run("score", "m.gmm", faithful_csv, "--json", cwd=tmp_path)
    assert json.loads(scored.stdout)["mean_log_likelihood"] == pytest.approx(
        model.score(data), rel=1e-12
    )

    sampled = _run("sample", "m.gmm", "-n", "30", "--seed", "1", "-o", "s.csv", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    samples = pd.read_csv(tmp_path / "s.csv")
    assert list(samples.columns) == ["eruptions", "waiting", "component"]
    model.random_state = 1
    np.testing.assert_allclose(samples[["eruptions", "waiting"]], model.sample(30)[0], rtol=1e-12)

    described = json.loads(_run("info", "m.gmm", "--json", cwd=tmp_path).stdout)
    assert described["feature_names"] == ["eruptions", "waiting"]
    assert described["fit"]["converged"] is True


def _write_errors(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (tmp_path / "words.csv").write_text("a,b\n1,2\n3,four\n")
    (tmp_path / "three.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    np.save(tmp_path / "three.npy", np.ones((4, 3)))
    model = GaussianMixture(1).fit(np.random.default_rng(0).normal(size=(20, 2)))
    gaussmix.save(model, tmp_path / "two.gmm")
    (tmp_path / "pickled.gmm").write_bytes(b"\x80\x04K\x01.")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("fit", "missing.csv"), "must exist"),
        (("fit", "ragged.csv"), "line 3"),
        (("fit", "words.csv"), "column 'b'.*line 3"),
        (("predict", "two.gmm", "three.npy"), "2 features"),
        (("fit", "three.csv", "-k", "0"), "-k"),
        (("info", "pickled.gmm"), "pickle"),
    ],
)
def test_user_errors_exit_2_with_one_message(tmp_path, arguments, message):
    _write_errors(tmp_path)
    result = _run(*arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1
    assert __import__("re").search(message, errors[0])
    assert result.stdout == ""


class _Child:
    """A child process whose stderr is read line by line in a thread, so that every wait
    has a timeout; leaving the ``with`` block kills the child if it still runs."""

    def __init__(self, arguments: list, cwd: Path, environment: dict | None = None):
        self.process = subprocess.Popen(
            [str(argument) for argument in arguments],
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # A shell may start background jobs with SIGINT ignored; Ctrl-C must reach it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def __enter__(self) -> _Child:
        return self

    def __exit__(self, *exception: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=60)
        self.process.stderr.close()

    def wait_for(self, start: str, timeout: float = 300) -> None:
        """Read stderr until a line starting with ``start`` (fails at the end of output)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert line is not None, f"the child ended before {start!r}:\n{self.stderr()}"
            self.seen.append(line)
            if line.startswith(start):
                return

    def interrupt(self, timeout: float = 120) -> int:
        """Send SIGINT and wait for the child to end; its exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def stderr(self) -> str:
        self.reader.join(timeout=60)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.seen.append(line)
        return "".join(self.seen)


def test_verbose_fit_writes_one_line_per_iteration(tmp_path, faithful_csv):
    output = str(tmp_path / "m.gmm")
    result = CliRunner().invoke(
        cli, ["fit", str(faithful_csv), "-k", "2", "--seed", "0", "-o", output, "-v", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("start ")]
    model = gaussmix.load(tmp_path / "m.gmm")
    assert len(lines) == model.n_iter_
    assert lines[0].startswith("start 1 iteration 1 mean log-likelihood ")
    assert lines[0].endswith("change -")
    last = float(lines[-1].split("mean log-likelihood ")[1].split()[0])
    assert last == pytest.approx(model.lower_bound_, abs=1e-6)


_ENDLESS_FIT = ["fit", "-k", "3", "--tol", "0", "--max-iter", "100000000", "-o", "m.gmm"]


def test_ctrl_c_writes_the_current_model_and_exits_130(tmp_path, faithful_csv):
    # SIGINT goes once the child has reported a complete EM iteration (--verbose writes
    # the line when the iteration ends), however long imports and compiling took.
    arguments = [sys.executable, "-m", "gaussmix", *_ENDLESS_FIT, faithful_csv, "--verbose"]
    with _Child(arguments, tmp_path) as child:
        child.wait_for("start 1 iteration 1 ")
        returncode = child.interrupt()
        errors = child.stderr()
    assert returncode == 130, errors
    assert "Traceback" not in errors
    assert "not converged" in errors
    model = gaussmix.load(tmp_path / "m.gmm")
    assert model.converged_ is False and model.n_iter_ >= 1
    # A complete model: the estimator kept its feature records through the interrupt.
    assert model.n_features_in_ == 2
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    assert not list(tmp_path.glob(".m.gmm*"))


# Runs the command with a numba listener that reports the first compilation of a gaussmix
# kernel and then never lets it end, blocking SIGINT in the compiling thread as native
# code does (no Python signal handler runs there). Only an interrupt acted on elsewhere
# can then stop the program.
_NEVER_ENDING_COMPILE = """
import signal, sys, threading
from numba.core import event

class NeverEnding(event.Listener):
    def on_start(self, compilation):
        function = compilation.data["dispatcher"].py_func
        if function.__module__ == "gaussmix._compiled":
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
            print(f"compiling {function.__name__}", file=sys.stderr, flush=True)
            threading.Event().wait()

    def on_end(self, compilation):
        pass

event.register("numba:compile", NeverEnding())
from gaussmix.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX signals")
@pytest.mark.parametrize("rows", ["one block", "many blocks"])
def test_ctrl_c_during_compilation_stops_the_command(tmp_path, faithful_csv, rows):
    pytest.importorskip("numba")
    data = faithful_csv
    if rows == "many blocks":  # the first compilation then starts in the backend's pool
        data = tmp_path / "many.npy"
        np.save(data, np.random.default_rng(0).normal(size=(300_000, 2)))
    cache = tmp_path / "empty-numba-cache"  # nothing to load: the kernels are compiled
    cache.mkdir()
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    arguments = [sys.executable, "-c", _NEVER_ENDING_COMPILE, *_ENDLESS_FIT, data]
    with _Child(arguments, tmp_path, environment) as child:
        child.wait_for("compiling ")
        returncode = child.interrupt()
        errors = child.stderr()
    assert returncode == 130, errors
    assert "before the first EM iteration ended; nothing written" in errors
    assert "Traceback" not in errors
    assert not list(tmp_path.glob("*.gmm"))


def test_select_runs_select_model_on_every_mclust_model(tmp_path, faithful_csv):
    arguments = ["select", str(faithful_csv), "--k", "1-2", "--models", "all"]
    outputs = ["-o", str(tmp_path / "best.gmm"), "--plot", str(tmp_path / "bic.png")]
    result = CliRunner().invoke(cli, [*arguments, *outputs, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    data = pd.read_csv(faithful_csv)
    reference = gaussmix.select_model(data, n_components=[1, 2], random_state=0)
    results = pd.DataFrame(document["results"])
    assert len(results) == 28
    np.testing.assert_allclose(results["bic"], reference.results_["bic"], rtol=1e-12)
    assert document["best"]["covariance_type"] == reference.best_params_["covariance_type"]
    assert document["best"]["n_components"] == reference.best_params_["n_components"]
    assert document["best"]["bic"] == pytest.approx(reference.results_["bic"].min(), rel=1e-12)
    best = gaussmix.load(tmp_path / "best.gmm")
    assert list(best.feature_names_in_) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(best.means_, reference.best_estimator_.means_)
    assert (tmp_path / "bic.png").read_bytes()[:4] == b"\x89PNG"

    # The table: one row per model (all fourteen) and one column per K, nothing cut off.
    table = CliRunner().invoke(cli, [*arguments, "--criterion", "icl"], terminal_width=80)
    assert table.exit_code == 0, table.output
    assert "ICL (lower is better)" in table.stdout
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == list(MCLUST_MODELS)
    assert "…" not in table.stdout
    assert f"{reference.results_['icl'].iloc[0]:.1f}" in table.stdout


def _fake_select_model(calls: dict):
    """A select_model that records its options and returns one real tied fit."""

    def fake_select_model(X, **options):
        calls.update(options, n_components=list(options["n_components"]))
        return gaussmix.select_model(
            X, n_components=[2], covariance_types=["tied"], criterion=options["criterion"]
        )

    return fake_select_model


@pytest.mark.parametrize("spelling", ["-k", "--n-components", "--k"])
def test_select_passes_its_options_to_select_model(faithful_csv, monkeypatch, spelling):
    calls = {}
    monkeypatch.setattr(gaussmix.selection, "select_model", _fake_select_model(calls))
    result = CliRunner().invoke(
        cli,
        [
            "select",
            str(faithful_csv),
            *(spelling, "2,4", "--models", "tied", "--seed", "5", "--criterion", "aic"),
            *("--init", "kmeans", "--tol", "1e-4", "--convergence", "absolute"),
            *("--max-iter", "50", "--n-jobs", "2", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert callable(calls.pop("callback"))
    assert calls == {
        "n_components": [2, 4],
        "covariance_types": ["tied"],
        "criterion": "aic",
        "init_params": "kmeans",
        "random_state": 5,
        "tol": 1e-4,
        "convergence": "absolute",
        "max_iter": 50,
        "n_jobs": 2,
    }
    document = json.loads(result.stdout)
    assert document["best"]["covariance_type"] == "tied"
    assert document["interrupted"] is False


def test_select_defaults_are_select_models(faithful_csv, monkeypatch):
    calls = {}
    monkeypatch.setattr(gaussmix.selection, "select_model", _fake_select_model(calls))
    result = CliRunner().invoke(cli, ["select", str(faithful_csv), "--json"])
    assert result.exit_code == 0, result.output
    defaults = inspect.signature(gaussmix.select_model).parameters
    for name in ("criterion", "init_params", "tol", "convergence", "max_iter", "n_jobs"):
        assert calls[name] == defaults[name].default, name
    assert calls["n_components"] == list(defaults["n_components"].default)


def test_select_prints_the_summary(faithful_csv):
    arguments = ["select", str(faithful_csv), "-k", "2,3", "--models", "EEE,VVV"]
    result = CliRunner().invoke(cli, arguments, terminal_width=100)
    assert result.exit_code == 0, result.output
    reference = gaussmix.select_model(
        pd.read_csv(faithful_csv), n_components=[2, 3], covariance_types=["EEE", "VVV"]
    )
    for line in reference.summary().splitlines():
        assert line in result.stdout


def test_ctrl_c_during_select_keeps_the_finished_fits_and_exits_130(
    tmp_path, faithful_csv, monkeypatch
):
    fit_one = gaussmix.selection._fit_one
    calls = []

    def interrupted_fit(*arguments):
        calls.append(arguments[2:4])
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C during the fourth fit, deterministically
        return fit_one(*arguments)

    monkeypatch.setattr(gaussmix.selection, "_fit_one", interrupted_fit)
    arguments = ["select", str(faithful_csv), "-k", "1-3", "--models", "EEE,VVV", "--n-jobs", "1"]
    best_path = tmp_path / "best.gmm"
    result = CliRunner().invoke(cli, [*arguments, "-o", str(best_path), "--json"])
    assert result.exit_code == 130, result.output
    assert "Interrupted after 3 of 6 fits" in result.stderr
    document = json.loads(result.stdout)
    assert document["interrupted"] is True
    assert (document["n_done"], document["n_fits"]) == (3, 6)
    finished = pd.DataFrame(document["results"])
    assert list(zip(finished["covariance_type"], finished["n_components"], strict=True)) == [
        ("EEE", 1),
        ("VVV", 1),
        ("EEE", 2),
    ]
    best = finished.loc[finished["bic"].idxmin()]
    model = gaussmix.load(best_path)
    assert (model.covariance_type, model.n_components) == (
        best["covariance_type"],
        best["n_components"],
    )
    assert model.bic(pd.read_csv(faithful_csv)) == pytest.approx(best["bic"], rel=1e-12)

    # Text output: the summary of the finished fits, flagged as interrupted.
    calls.clear()
    text = CliRunner().invoke(cli, arguments, terminal_width=100)
    assert text.exit_code == 130
    assert "INTERRUPTED: 3 of 6 fits had finished" in text.stdout

    # Interrupted before any fit finished: nothing to keep.
    calls.clear()
    calls.extend([None] * 3)
    nothing = CliRunner().invoke(cli, [*arguments, "-o", str(tmp_path / "none.gmm")])
    assert nothing.exit_code == 130
    assert "before any fit finished" in nothing.stderr
    assert not (tmp_path / "none.gmm").exists()


def test_select_progress_shows_fits_done_and_the_best():
    from rich.console import Console

    from gaussmix.cli import _SelectProgress
    from gaussmix.selection import SelectionProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = _SelectProgress(console, 4, "bic", enabled=True)
    with progress:
        progress(SelectionProgress(1, 4, "EEE", 1, 10.0, "EEE", 1, 10.0))
        progress(SelectionProgress(2, 4, "VVV", 1, math.nan, "EEE", 1, 10.0))
        task = progress.progress.tasks[0]
        assert (task.completed, task.total) == (2, 4)
        assert task.fields["best"] == "EEE, K = 1, BIC 10.00"


def test_fit_with_an_mclust_code(tmp_path, faithful_csv):
    arguments = ["fit", str(faithful_csv), "-k", "3", "--covariance", "VEV", "--seed", "0"]
    result = CliRunner().invoke(cli, [*arguments, "-o", str(tmp_path / "vev.gmm"), "--json"])
    assert result.exit_code == 0, result.output
    data = pd.read_csv(faithful_csv)
    reference = GaussianMixture(3, covariance_type="VEV", random_state=0, **CLI_FIT).fit(data)
    model = gaussmix.load(tmp_path / "vev.gmm")
    assert model.covariance_type == "VEV"
    np.testing.assert_allclose(model.covariances_, reference.covariances_, rtol=1e-12)
    assert json.loads(result.stdout)["bic"] == pytest.approx(reference.bic(data), rel=1e-12)


def test_plot_and_demo_write_pngs(tmp_path, faithful_csv):
    runner = CliRunner()
    data = pd.read_csv(faithful_csv)
    gaussmix.save(GaussianMixture(2, random_state=0).fit(data), tmp_path / "m.gmm")
    for kind in ("clusters", "density", "uncertainty", "log-likelihood"):
        output = tmp_path / f"{kind}.png"
        result = runner.invoke(
            cli,
            [
                "plot",
                str(tmp_path / "m.gmm"),
                str(faithful_csv),
                "--kind",
                kind,
                "-o",
                str(output),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["output"] == str(output)
        assert output.read_bytes()[:4] == b"\x89PNG"
    result = runner.invoke(cli, ["demo", "-o", str(tmp_path / "demo.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == str(tmp_path / "demo.png")


def test_standardized_fit_predicts_in_the_data_units(tmp_path, faithful_csv):
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "fit",
            str(faithful_csv),
            "-k",
            "2",
            "-c",
            "spherical",
            "--standardize",
            "--seed",
            "0",
            "-o",
            str(tmp_path / "s.gmm"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    data = pd.read_csv(faithful_csv)
    standardised = (data - data.mean()) / data.std(ddof=0)
    reference = GaussianMixture(2, covariance_type="spherical", random_state=0, **CLI_FIT)
    reference.fit(standardised)
    predicted = runner.invoke(cli, ["predict", str(tmp_path / "s.gmm"), str(faithful_csv)])
    labels = pd.read_csv(__import__("io").StringIO(predicted.stdout))["label"]
    np.testing.assert_array_equal(labels, reference.predict(standardised))


def test_k_and_model_lists():
    from gaussmix.cli import _parse_k, _parse_models
    from gaussmix.covariance import available_covariance_types, get_covariance_model

    assert _parse_k("1-3,5, 2") == [1, 2, 3, 5]
    assert _parse_models("sklearn") == ["spherical", "diag", "tied", "full"]
    canonical = {get_covariance_model(name).name for name in available_covariance_types()}
    assert set(_parse_models("all")) == canonical
    assert _parse_models("all") == list(MCLUST_MODELS)
    for text, error in (("3-1", "increasing"), ("a", "numbers"), ("", "at least one")):
        with pytest.raises(gaussmix.InvalidParameterError, match=error):
            _parse_k(text)


# ------------------------------------------------ lazy data: Parquet datasets, Zarr stores
@pytest.fixture
def lazy_faithful(tmp_path, faithful_csv):
    """Old Faithful as a Parquet dataset of two part files and as a Zarr store."""
    pytest.importorskip("pyarrow")
    da = pytest.importorskip("dask.array")
    pytest.importorskip("zarr")
    data = pd.read_csv(faithful_csv)
    (tmp_path / "rows").mkdir()
    data.iloc[:150].to_parquet(tmp_path / "rows" / "part.0.parquet")
    data.iloc[150:].to_parquet(tmp_path / "rows" / "part.1.parquet")
    da.from_array(data.to_numpy(), chunks=(100, 2)).to_zarr(str(tmp_path / "rows.zarr"))
    return SimpleNamespace(frame=data, parquet=tmp_path / "rows", zarr=tmp_path / "rows.zarr")


def test_fit_predict_score_on_a_parquet_dataset(tmp_path, lazy_faithful):
    from gaussmix.dataio import read_parquet

    runner = CliRunner()
    fitted = runner.invoke(
        cli,
        [
            "fit",
            str(lazy_faithful.parquet),
            "-k",
            "2",
            "-c",
            "VEV",
            "--seed",
            "0",
            "-o",
            str(tmp_path / "m.gmm"),
            "--json",
        ],
    )
    assert fitted.exit_code == 0, fitted.output
    # The same lazy fit through the library (initialised from the same sample).
    reference = GaussianMixture(2, covariance_type="VEV", random_state=0, **CLI_FIT)
    reference.fit(read_parquet(lazy_faithful.parquet))
    model = gaussmix.load(tmp_path / "m.gmm")
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-12)
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    summary = json.loads(fitted.stdout)
    assert summary["n_samples"] == 272
    assert summary["bic"] == pytest.approx(reference.bic(lazy_faithful.frame), rel=1e-10)

    for output in ("labels.csv", "labels.parquet"):
        predicted = runner.invoke(
            cli,
            [
                "predict",
                str(tmp_path / "m.gmm"),
                str(lazy_faithful.parquet),
                "--proba",
                "-o",
                str(tmp_path / output),
                "--json",
            ],
        )
        assert predicted.exit_code == 0, predicted.output
        written = (
            pd.read_csv(tmp_path / output)
            if output.endswith(".csv")
            else pd.read_parquet(tmp_path / output)
        )
        np.testing.assert_array_equal(written["label"], model.predict(lazy_faithful.frame))
        np.testing.assert_allclose(
            written[["proba_0", "proba_1"]], model.predict_proba(lazy_faithful.frame), rtol=1e-12
        )
    scored = runner.invoke(
        cli, ["score", str(tmp_path / "m.gmm"), str(lazy_faithful.parquet), "--json"]
    )
    assert scored.exit_code == 0, scored.output
    document = json.loads(scored.stdout)
    assert document["n_samples"] == 272
    assert document["mean_log_likelihood"] == pytest.approx(
        model.score(lazy_faithful.frame), rel=1e-12
    )
    lacking = runner.invoke(cli, ["predict", str(tmp_path / "m.gmm"), str(lazy_faithful.parquet)])
    assert lacking.exit_code == 2
    assert "-o/--output" in lacking.output
    for source, figure in ((lazy_faithful.parquet, "p.png"), (lazy_faithful.zarr, "z.png")):
        drawn = runner.invoke(
            cli, ["plot", str(tmp_path / "m.gmm"), str(source), "-o", str(tmp_path / figure)]
        )
        assert drawn.exit_code == 0, drawn.output
        assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG"


def test_standardized_fit_on_a_zarr_store_through_a_scheduler_address(tmp_path, lazy_faithful):
    distributed = pytest.importorskip("distributed")
    runner = CliRunner()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        fitted = runner.invoke(
            cli,
            [
                "fit",
                str(lazy_faithful.zarr),
                "-k",
                "2",
                "--seed",
                "0",
                "--standardize",
                "--scheduler",
                cluster.scheduler_address,
                "-o",
                str(tmp_path / "z.gmm"),
                "--json",
            ],
        )
        assert fitted.exit_code == 0, fitted.output
        scored = runner.invoke(
            cli,
            [
                "score",
                str(tmp_path / "z.gmm"),
                str(lazy_faithful.zarr),
                "--json",
                "--scheduler",
                cluster.scheduler_address,
            ],
        )
    assert scored.exit_code == 0, scored.output
    stored = gaussmix.io.read_model_file(tmp_path / "z.gmm")
    values = lazy_faithful.frame.to_numpy()
    centre, scale = stored.standardization
    np.testing.assert_allclose(centre, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scale, values.std(axis=0), rtol=1e-12)
    standardised = (values - centre) / scale
    summary = json.loads(fitted.stdout)
    assert summary["feature_names"] == ["x0", "x1"]
    # Means are reported in the data's units.
    np.testing.assert_allclose(summary["means"], stored.model.means_ * scale + centre, rtol=1e-12)
    assert json.loads(scored.stdout)["mean_log_likelihood"] == pytest.approx(
        stored.model.score(standardised), rel=1e-12
    )


def test_fit_and_select_report_the_same_bic_for_the_same_model(tmp_path, faithful_csv):
    # With fit's old default (|Δ mean log-likelihood| < 1e-3) this BIC was 28 above select's.
    runner = CliRunner()
    fitted = runner.invoke(
        cli,
        [
            "fit",
            str(faithful_csv),
            "-k",
            "3",
            "-c",
            "EEE",
            "--seed",
            "0",
            "--json",
            "--quiet",
            "-o",
            str(tmp_path / "m.gmm"),
        ],
    )
    selected = runner.invoke(
        cli, ["select", str(faithful_csv), "-k", "3", "--models", "EEE", "--json", "--quiet"]
    )
    assert fitted.exit_code == 0, fitted.output
    assert selected.exit_code == 0, selected.output
    fit_bic = json.loads(fitted.stdout)["bic"]
    select_bic = json.loads(selected.stdout)["best"]["bic"]
    assert abs(fit_bic - select_bic) < 0.5


def test_info_reports_the_training_rows_and_the_bic_of_a_fitted_model(tmp_path, faithful_csv):
    runner = CliRunner()
    model_path = tmp_path / "m.gmm"
    fitted = runner.invoke(
        cli, ["fit", str(faithful_csv), "-k", "2", "--seed", "0", "--quiet", "-o", str(model_path)]
    )
    assert fitted.exit_code == 0, fitted.output
    shown = runner.invoke(cli, ["info", str(model_path), "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    data = pd.read_csv(faithful_csv)
    model = gaussmix.load(model_path)
    assert document["n_samples"] == len(data)
    assert document["bic"] == pytest.approx(model.bic(data), rel=1e-12)
