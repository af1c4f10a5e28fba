"""select_model against R mclust's Mclust on five data sets, and the parallel plan.

``python benchmarks/bench_select.py`` (the mclust comparison) runs, interleaved per data
set, ``select_model(X, n_components=range(1, 10), covariance_types="all")`` with its
defaults and R mclust 6's ``Mclust(X, G = 1:9)`` through ``Rscript``. R's time is taken
twice: its work inside R (``system.time``) and the wall time of the whole ``Rscript``
process (R start-up and loading mclust included). Ours is timed in this process after one
warm-up fit (imports and the compiled kernels loaded), and also as the wall time of a
fresh Python process running the same call. Then the two BIC tables (14 models × G = 1..9)
are compared cell by cell.

``python benchmarks/bench_select.py --fresh-breakdown`` times a fresh Python process phase
by phase (imports, numba and its cached kernels, the first and a second select_model).

``python benchmarks/bench_select.py --plan`` times select_model's fits one after the other,
in two joblib threads (with and without select_model's short GIL switch interval) and in
two joblib worker processes, on Old Faithful (272 × 2) and on 10,000 × 5 simulated data
(``--plan-data``, ``--plan-modes`` choose others): the measurement behind select_model's
default ``n_jobs``.

Both write their section of ``benchmarks/results_select.md`` (the other section is kept).
The data sets are the package's bundled copies (``gaussmix/data``, read by
``gaussmix.datasets``).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, select_model
from gaussmix.selection import SelectionInterrupted

HERE = Path(__file__).resolve().parent
# The bundled copies (gaussmix.datasets reads the same files).
DATA = files("gaussmix") / "data"
RESULTS = HERE / "results_select.md"
DATASETS = ("faithful", "iris", "diabetes", "banknote", "thyroid")
COUNTS = range(1, 10)
# "worse" means our BIC (lower is better) above mclust's by more than this, relative.
RELATIVE_TOLERANCE = 1e-6

R_SCRIPT = r"""
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
X <- as.matrix(data[, sapply(data, is.numeric), drop = FALSE])
timing <- system.time(fit <- Mclust(X, G = 1:9, verbose = FALSE))
bic <- unclass(fit$BIC)
cells <- data.frame(
  n_components = rep(as.integer(rownames(bic)), ncol(bic)),
  covariance_type = rep(colnames(bic), each = nrow(bic)),
  bic_mclust = sprintf("%.17g", as.vector(bic))
)
write.csv(cells, args[2], row.names = FALSE, quote = FALSE)
summary <- list(
  seconds = timing[["elapsed"]], model = fit$modelName, G = fit$G,
  bic_mclust = sprintf("%.17g", fit$bic), loglik = sprintf("%.17g", fit$loglik),
  version = as.character(packageVersion("mclust")), r = R.version.string
)
writeLines(paste(names(summary), unlist(summary), sep = "\t"), args[3])
"""

FRESH_PYTHON = r"""
import sys, time, warnings
import numpy as np, pandas as pd
started = time.perf_counter()
from gaussmix import select_model
frame = pd.read_csv(sys.argv[1])
X = frame.select_dtypes("number").to_numpy(dtype=float)
warnings.simplefilter("ignore")
select_model(X, n_components=range(1, 10), covariance_types="all")
print(time.perf_counter() - started)
"""


# A fresh process timed phase by phase: where the seconds of the "fresh" column go.
FRESH_PHASES = r"""
import json, sys, time, warnings
marks = [("start", time.perf_counter())]
def mark(label):
    marks.append((label, time.perf_counter()))
import numpy as np, pandas as pd
mark("numpy and pandas")
import sklearn.base, sklearn.cluster
mark("scikit-learn (with SciPy)")
from gaussmix import select_model
import gaussmix.selection
mark("gaussmix.selection")
import numba
from gaussmix import _compiled, _compiled_em, _compiled_hierarchical, _compiled_msteps
mark("numba and the compiled modules")
from gaussmix import precompile
precompile.compile_kernels()
mark("compiled kernels loaded from numba's cache")
frame = pd.read_csv(sys.argv[1])
X = frame.select_dtypes("number").to_numpy(dtype=float)
warnings.simplefilter("ignore")
select_model(X, n_components=range(1, 10), covariance_types="all")
mark("first select_model")
select_model(X, n_components=range(1, 10), covariance_types="all")
mark("second select_model (as warm)")
phases = [(label, at - before) for (_, before), (label, at) in zip(marks, marks[1:])]
print(json.dumps(phases))
"""


def load(name: str) -> np.ndarray:
    """The numeric columns of a bundled data set (the class label is dropped)."""
    frame = pd.read_csv(DATA / f"{name}.csv")
    return frame.select_dtypes("number").to_numpy(dtype=float)


def make_data(n_samples: int = 10_000, n_features: int = 5, seed: int = 0) -> np.ndarray:
    """Four Gaussian clusters of different sizes, volumes and orientations."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(4, size=n_samples, p=[0.4, 0.3, 0.2, 0.1])
    centres = rng.normal(scale=4.0, size=(4, n_features))
    mixing = rng.normal(size=(4, n_features, n_features)) * rng.uniform(0.3, 1.5, (4, 1, 1))
    noise = rng.normal(size=(n_samples, n_features))
    return centres[labels] + np.einsum("nd,nde->ne", noise, mixing[labels])


# ---------------------------------------------------------------------------- machine
def machine() -> str:
    """CPU model, cores, memory, load and versions, in one paragraph."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    import joblib
    import numba
    import sklearn

    return (
        f"{model}, {cores} cores available to the process, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, scikit-learn {sklearn.__version__}, numba {numba.__version__}, "
        f"joblib {joblib.__version__}. Load average (1, 5, 15 min) when the section was "
        f"written: {load}. **The machine is shared with other engineers' jobs: timings are "
        "noisy; medians of the repeats are shown.**"
    )


def write_section(name: str, lines: list[str]) -> None:
    """Replace the section ``name`` of results_select.md, keeping the other one."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# select_model benchmark\n"
    block = "\n".join([begin, *lines, end])
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)
    print("\n".join(lines), flush=True)


# ----------------------------------------------------------------------- comparison
def run_mclust(name: str, directory: Path) -> dict:
    """Mclust(X, G = 1:9) on one data set: R's own seconds, wall seconds, its choice and table."""
    script = directory / "mclust.R"
    script.write_text(R_SCRIPT)
    cells, summary = directory / f"{name}_bic.csv", directory / f"{name}_summary.tsv"
    started = time.perf_counter()
    subprocess.run(
        ["Rscript", str(script), str(DATA / f"{name}.csv"), str(cells), str(summary)],
        check=True,
        timeout=3600,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    fields = dict(line.split("\t", 1) for line in summary.read_text().splitlines())
    table = pd.read_csv(cells, na_values=["NA"])
    return {
        "seconds": float(fields["seconds"]),
        "wall": wall,
        "model": fields["model"],
        "G": int(fields["G"]),
        "bic_mclust": float(fields["bic_mclust"]),
        "version": fields["version"],
        "r": fields["r"],
        "table": table,
    }


def _out_of_time(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_ours(X: np.ndarray, budget: float, n_jobs: int | None = None) -> dict:
    """select_model with its defaults, timed in this process, stopped after ``budget`` s.

    ``n_jobs`` None is select_model's default plan. The stop is select_model's own Ctrl-C
    path (an alarm raises KeyboardInterrupt), so an unfinished run still gives the fits
    that had finished.
    """
    previous = signal.signal(signal.SIGALRM, _out_of_time)
    signal.setitimer(signal.ITIMER_REAL, budget)
    started = time.perf_counter()
    try:
        result = select_model(X, n_components=COUNTS, covariance_types="all", n_jobs=n_jobs)
    except SelectionInterrupted as stop:
        result = stop.selection
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - started
    if result is None:
        return {
            "seconds": seconds,
            "complete": False,
            "model": "—",
            "G": "—",
            "bic": math.nan,
            "table": pd.DataFrame(
                columns=["covariance_type", "n_components", "bic", "error", "n_iter"]
            ),
            "n_iter": 0,
            "n_done": 0,
        }
    return {
        "seconds": seconds,
        "complete": result.complete,
        "n_done": len(result.results_),
        "model": result.best_params_["covariance_type"],
        "G": result.best_params_["n_components"],
        "bic": float(result.results_["bic"].min()),
        "table": result.results_,
        "n_iter": int(result.results_["n_iter"].sum()),
    }


def run_fresh(name: str, budget: float) -> float:
    """Wall seconds of a new Python process importing gaussmix and running select_model."""
    started = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-c", FRESH_PYTHON, str(DATA / f"{name}.csv")],
            check=True,
            timeout=budget + 120,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        return math.nan
    return time.perf_counter() - started


def compare_tables(ours: pd.DataFrame, mclust: pd.DataFrame) -> dict:
    """Cell-by-cell comparison of our BIC (lower is better) with −BIC_mclust.

    Cells that an interrupted run did not reach count as neither fitted nor failed here.
    """
    merged = ours.merge(mclust, on=["covariance_type", "n_components"], how="right")
    reached = merged["bic"].notna() | merged["error"].notna()
    reference = -merged["bic_mclust"]
    fitted_ours = np.isfinite(merged["bic"]) & (merged["error"].fillna("") == "")
    fitted_mclust = np.isfinite(reference)
    both = fitted_ours & fitted_mclust
    difference = merged["bic"] - reference
    worse = both & (difference > RELATIVE_TOLERANCE * reference.abs())
    better = both & (difference < -RELATIVE_TOLERANCE * reference.abs())
    return {
        "cells": len(merged),
        "both": int(both.sum()),
        "worse": int(worse.sum()),
        "better": int(better.sum()),
        "not_reached": int((~reached).sum()),
        "failed_here_only": int((fitted_mclust & ~fitted_ours & reached).sum()),
        "failed_mclust_only": int((fitted_ours & ~fitted_mclust).sum()),
        "largest_worse": float(difference[worse].max()) if worse.any() else 0.0,
        "worst_cell": (
            f"{merged.loc[difference[worse].idxmax(), 'covariance_type']},"
            f"{int(merged.loc[difference[worse].idxmax(), 'n_components'])}"
            if worse.any()
            else ""
        ),
    }


def comparison(
    datasets: tuple[str, ...], repeats: int, fresh: bool, budget: float, sequential: bool
) -> None:
    if shutil.which("Rscript") is None:
        raise SystemExit("Rscript is not on PATH: the comparison needs R with mclust.")
    warnings.simplefilter("ignore", ConvergenceWarning)
    # Warm-up: imports, the compiled kernels and the hierarchical code loaded once.
    GaussianMixture(2, covariance_type="EVE", init_params="hierarchical").fit(load("faithful"))
    rows, tables = [], []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for name in datasets:
            X = load(name)
            ours_seconds, r_seconds, r_wall, fresh_wall, one_job = [], [], [], [], []
            for _ in range(repeats):
                ours = run_ours(X, budget)
                ours_seconds.append(ours["seconds"])
                if sequential:
                    one_job.append(run_ours(X, budget, n_jobs=1)["seconds"])
                mclust = run_mclust(name, directory)
                r_seconds.append(mclust["seconds"])
                r_wall.append(mclust["wall"])
                if fresh and ours["complete"]:
                    fresh_wall.append(run_fresh(name, budget))
            table = compare_tables(ours["table"], mclust["table"])
            tables.append((name, table))
            rows.append(
                {
                    "name": name,
                    "shape": f"{X.shape[0]} × {X.shape[1]}",
                    "ours": statistics.median(ours_seconds),
                    "sequential": statistics.median(one_job) if one_job else math.nan,
                    "complete": ours["complete"],
                    "n_done": ours["n_done"],
                    "fresh": statistics.median(fresh_wall) if fresh_wall else math.nan,
                    "r": statistics.median(r_seconds),
                    "r_wall": statistics.median(r_wall),
                    "ours_choice": f"{ours['model']}, {ours['G']}",
                    "ours_bic": ours["bic"],
                    "r_choice": f"{mclust['model']}, {mclust['G']}",
                    "r_bic": mclust["bic_mclust"],
                    "n_iter": ours["n_iter"],
                    "version": f"mclust {mclust['version']}, {mclust['r']}",
                }
            )
            print(rows[-1] | table, flush=True)
    write_section("mclust", comparison_lines(rows, tables, repeats))


def comparison_lines(rows: list[dict], tables: list[tuple[str, dict]], repeats: int) -> list[str]:
    def seconds(value: float) -> str:
        return "—" if not math.isfinite(value) else f"{value:.2f}"

    lines = [
        "## select_model against mclust's Mclust(X, G = 1:9)",
        "",
        machine(),
        f"R: {rows[0]['version']}. Repeats per data set: {repeats} (ours and R interleaved).",
        "",
        '`select_model(X, n_components=range(1, 10), covariance_types="all")` with its '
        'defaults (hierarchical start, `tol=1e-5`, `convergence="relative"`, `reg_covar=0`, '
        "`max_iter=1000`, `n_jobs=None`) against `Mclust(X, G = 1:9)` (its defaults). "
        'Our seconds: in-process after a warm-up fit; "fresh": wall time of a new Python '
        "process importing gaussmix and running the same call. R: `system.time` inside R, "
        "and the wall time of the `Rscript` process.",
        "",
        "| data | n × d | ours (s) | ours, n_jobs=1 (s) | ours, fresh process (s) "
        "| mclust in R (s) | Rscript wall (s) "
        "| ours: model, G | our BIC (lower better) | mclust: model, G | mclust BIC (higher "
        "better) | EM iterations (ours, all fits) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours_seconds = seconds(row["ours"])
        if not row["complete"]:
            ours_seconds = f"> {row['ours']:.0f} (stopped; {row['n_done']} of 126 fits done)"
        lines.append(
            f"| {row['name']} | {row['shape']} | {ours_seconds} | "
            f"{seconds(row['sequential'])} | {seconds(row['fresh'])} | {seconds(row['r'])} | "
            f"{seconds(row['r_wall'])} | "
            f"{row['ours_choice']} | {row['ours_bic']:.3f} | {row['r_choice']} | "
            f"{row['r_bic']:.3f} | {row['n_iter']} |"
        )
    total = {key: sum(row[key] for row in rows) for key in ("ours", "sequential", "r")}
    lines += [
        f"| **all** | | {seconds(total['ours'])} | {seconds(total['sequential'])} | | "
        f"{seconds(total['r'])} | | | | | | |",
        "",
        f"Sum of the medians: mclust's seconds / ours = {total['r'] / total['ours']:.2f}"
        + (
            f" (with n_jobs=1: {total['r'] / total['sequential']:.2f})."
            if math.isfinite(total["sequential"])
            else "."
        ),
    ]
    lines += [
        "",
        "BIC tables, cell by cell (14 models × G = 1..9 = 126 cells per data set). "
        f'"worse": our BIC above −BIC_mclust by more than {RELATIVE_TOLERANCE:g} relative; '
        '"better": below by as much; "failed here only": mclust fitted the cell, we did '
        'not (degenerate fit recorded with its error); "failed in mclust only": the reverse '
        '(NA in mclust\'s table); "not reached": cells a stopped run had not fitted yet.',
        "",
        "| data | cells fitted by both | worse | better | failed here only | failed in mclust "
        "only | not reached | largest worse difference (cell) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, table in tables:
        largest = f"{table['largest_worse']:.3g} ({table['worst_cell']})" if table["worse"] else "—"
        lines.append(
            f"| {name} | {table['both']} | {table['worse']} | {table['better']} | "
            f"{table['failed_here_only']} | {table['failed_mclust_only']} | "
            f"{table['not_reached']} | {largest} |"
        )
    totals = {key: sum(table[key] for _, table in tables) for key in ("both", "worse", "better")}
    failed = sum(table["failed_here_only"] for _, table in tables)
    lines += [
        f"| **all** | {totals['both']} | {totals['worse']} | {totals['better']} | {failed} | "
        f"{sum(table['failed_mclust_only'] for _, table in tables)} | "
        f"{sum(table['not_reached'] for _, table in tables)} | |",
        "",
    ]
    return lines


# ------------------------------------------------------------------- fresh process
def fresh_breakdown(datasets: tuple[str, ...], repeats: int) -> None:
    """Phases of a fresh Python process running select_model, median of ``repeats``."""
    import json

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=120)
    interpreter = time.perf_counter() - started
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    lines = [
        "## Where a fresh process's seconds go",
        "",
        machine(),
        "",
        f"`python benchmarks/bench_select.py --fresh-breakdown`: one new Python process per "
        f"data set and repeat ({repeats}), timed phase by phase (seconds, medians); the "
        f"interpreter alone starts in {interpreter:.2f} s. The kernels are loaded "
        "explicitly (`precompile.compile_kernels`, which also runs each once on a few rows) "
        "so that the first select_model's time is its own.",
        "",
    ]
    header = None
    for name in datasets:
        runs = []
        for _ in range(repeats):
            done = subprocess.run(
                [sys.executable, "-c", FRESH_PHASES, str(DATA / f"{name}.csv")],
                check=True,
                timeout=900,
                capture_output=True,
                text=True,
                env=env,
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        labels = [label for label, _ in runs[0]]
        if header is None:
            header = labels
            lines += [
                "| data | " + " | ".join(labels) + " | fresh call (all but the second) |",
                "|---|" + "---|" * (len(labels) + 1),
            ]
        medians = [statistics.median(run[i][1] for run in runs) for i in range(len(labels))]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{value:.2f}" for value in medians)
            + f" | {sum(medians[:-1]) + interpreter:.2f} |"
        )
        print(lines[-1], flush=True)
    write_section("fresh", [*lines, ""])


# ----------------------------------------------------------------------- parallel plan
# Modes of --plan: label, joblib backend ("sequential": n_jobs=1), and whether select_model's
# short GIL switch interval (gaussmix/gil_handoff.py) is left out.
PLAN_MODES = {
    "seq": ("sequential (n_jobs=1)", "sequential", False),
    "threads": ("2 threads (switch interval 0.1 ms: the default plan)", "threading", False),
    "threads-5ms": ("2 threads, switch interval left at 5 ms", "threading", True),
    "loky-cold": ("2 processes, first call (workers start)", "loky-cold", False),
    "loky": ("2 processes, workers reused", "loky", False),
}


def _plan_run(X: np.ndarray, backend: str, default_interval: bool):
    """One select_model in a mode of --plan; the table it gave."""
    import contextlib

    import joblib

    import gaussmix.selection

    if backend == "sequential":
        return select_model(X, n_jobs=1).results_
    if backend == "loky-cold":
        # A new executor: loky keeps its workers between calls otherwise.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
        backend = "loky"
    shorten = gaussmix.selection.short_switch_interval
    if default_interval:
        gaussmix.selection.short_switch_interval = contextlib.nullcontext
    try:
        with joblib.parallel_config(backend=backend):
            return select_model(X, n_jobs=2).results_
    finally:
        gaussmix.selection.short_switch_interval = shorten


def plan(repeats: int, names: list[str], keys: list[str]) -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    GaussianMixture(2, covariance_type="EVE", init_params="hierarchical").fit(load("faithful"))
    data = {
        ("simulated 10,000 × 5" if name == "simulated" else name): (
            make_data() if name == "simulated" else load(name)
        )
        for name in names
    }
    modes = {PLAN_MODES[key][0]: PLAN_MODES[key][1:] for key in keys}
    lines = [
        "## Parallel plan: what select_model's default n_jobs rests on",
        "",
        machine(),
        "",
        "select_model over the 14 models × G = 1..9 with its defaults; seconds, median of "
        f'{repeats} run(s) per mode, modes interleaved. "first call": a fresh set of loky '
        'worker processes (each imports gaussmix and loads the compiled kernels); "reused": '
        'the same workers again. "switch interval left at 5 ms": the threads without '
        "select_model's shorter GIL switch interval (`gaussmix/gil_handoff.py`).",
        "",
        "| data | " + " | ".join(modes) + " |",
        "|---|" + "---|" * len(modes),
    ]
    identical = []
    total = dict.fromkeys(modes, 0.0)
    for label, X in data.items():
        timings: dict[str, list[float]] = {mode: [] for mode in modes}
        tables = []
        for _ in range(repeats):
            for mode, (backend, default_interval) in modes.items():
                started = time.perf_counter()
                tables.append(_plan_run(X, backend, default_interval))
                timings[mode].append(time.perf_counter() - started)
                print(label, mode, f"{timings[mode][-1]:.2f}", flush=True)
        identical.append(all(table.equals(tables[0]) for table in tables))
        for mode, values in timings.items():
            total[mode] += statistics.median(values)
        lines.append(
            f"| {label} | "
            + " | ".join(f"{statistics.median(values):.2f}" for values in timings.values())
            + " |"
        )
    if len(data) > 1:
        lines.append("| **sum of medians** | " + " | ".join(f"{t:.2f}" for t in total.values()))
        lines[-1] += " |"
    lines += [
        "",
        f"Results tables identical (DataFrame.equals) in every mode and repeat: {all(identical)}.",
        "Load average (1, 5, 15 min) at the end: "
        + ", ".join(f"{value:.1f}" for value in os.getloadavg())
        + ".",
        "",
    ]
    write_section("plan", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--plan", action="store_true", help="time the parallel modes")
    parser.add_argument(
        "--fresh-breakdown", action="store_true", help="time a fresh process phase by phase"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per data set and mode")
    parser.add_argument(
        "--no-fresh", action="store_true", help="skip the fresh-process runs of ours"
    )
    parser.add_argument(
        "--datasets", default=",".join(DATASETS), help="comma-separated subset of the data sets"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="also time select_model(n_jobs=1), interleaved (a column of its own)",
    )
    parser.add_argument(
        "--plan-data",
        default="faithful,simulated",
        help="--plan's data: bundled names and 'simulated' (10,000 × 5), comma-separated",
    )
    parser.add_argument(
        "--plan-modes",
        default=",".join(PLAN_MODES),
        help=f"--plan's modes, comma-separated, among {', '.join(PLAN_MODES)}",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=900.0,
        help="seconds after which one select_model run is stopped (its finished fits are kept)",
    )
    arguments = parser.parse_args()
    if arguments.plan:
        plan(arguments.repeats, arguments.plan_data.split(","), arguments.plan_modes.split(","))
        return
    datasets = tuple(name for name in arguments.datasets.split(",") if name)
    if arguments.fresh_breakdown:
        fresh_breakdown(datasets, arguments.repeats)
        return
    comparison(
        datasets,
        arguments.repeats,
        fresh=not arguments.no_fresh,
        budget=arguments.budget,
        sequential=arguments.sequential,
    )


if __name__ == "__main__":
    main()
