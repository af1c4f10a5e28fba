"""Evidence: the whole BIC table of ``select_model`` against mclust's ``mclustBIC``.

For each bundled data set (faithful, iris, diabetes, banknote, thyroid; numeric columns)
this runs R mclust's ``mclustBIC(X, G = 1:9)`` (all 14 models, its defaults: hierarchical
start ``hc(X, "VVV", use = "SVD")``, ``emControl()``) through ``Rscript`` and our
``select_model(X)`` (same G, all models, its defaults), and lists every cell where

* ours is worse: our BIC (lower is better) above −BIC_mclust by more than
  ``1e-6·|BIC| + 0.01``;
* ours is NA (a degenerate fit, recorded with its error) where mclust has a value;
* and, for information, the reverse: cells where ours is better by as much, or where
  mclust is NA and we have a value.

Run: ``PYTHONPATH=src python benchmarks/compare_table_mclust.py`` (needs ``Rscript`` with
mclust); ``--output`` names the results file (default ``benchmarks/results_table_mclust.md``),
``--datasets`` a comma-separated subset. This is a benchmark, not a test: the test suite
never calls R.
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gaussmix import datasets, select_model

HERE = Path(__file__).resolve().parent
LOADERS = {
    "faithful": datasets.load_old_faithful,
    "iris": datasets.load_iris,
    "diabetes": datasets.load_diabetes,
    "banknote": datasets.load_banknote,
    "thyroid": datasets.load_thyroid,
}
COUNTS = range(1, 10)
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 0.01

R_PROGRAM = r"""
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
bic <- unclass(mclustBIC(X, G = 1:9, verbose = FALSE))
cells <- data.frame(
  n_components = rep(as.integer(rownames(bic)), ncol(bic)),
  covariance_type = rep(colnames(bic), each = nrow(bic)),
  bic_mclust = sprintf("%.17g", as.vector(bic))
)
write.csv(cells, args[2], row.names = FALSE, quote = FALSE)
"""


def run_mclust(X: np.ndarray, directory: Path) -> pd.DataFrame:
    """mclust's BIC table (higher is better) as rows (n_components, covariance_type, bic)."""
    directory.mkdir(parents=True, exist_ok=True)
    np.savetxt(directory / "X.csv", X, delimiter=",", fmt="%.17g")
    program = directory / "bic.R"
    program.write_text(R_PROGRAM)
    subprocess.run(
        ["Rscript", str(program), str(directory / "X.csv"), str(directory / "bic.csv")],
        check=True,
        timeout=1800,
        capture_output=True,
    )
    return pd.read_csv(directory / "bic.csv", na_values=["NA"])


def run_ours(X: np.ndarray) -> tuple[pd.DataFrame, float]:
    """select_model's results table and its wall seconds."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(X, n_components=COUNTS, covariance_types="all")
    return result.results_, time.perf_counter() - started


_ORDER = {"I": 0, "E": 1, "V": 2}
# Further starts of the proposed rule: VVE from the posteriors of EVE (VVE with equal
# volumes) and VEV, whatever their likelihoods (the cells where ours was worse were VVE).
EXTRA_STARTS = {"VVE": ("EVE", "VEV")}


def nested(inner: str, outer: str) -> bool:
    """Whether mclust model ``inner`` is a special case of ``outer`` (letter by letter)."""
    return inner != outer and all(_ORDER[a] <= _ORDER[b] for a, b in zip(inner, outer, strict=True))


def run_nested_restarts(X: np.ndarray) -> tuple[pd.DataFrame, float]:
    """select_model's table, plus the proposed rule: restart a cell from a nested model.

    The prototype of a rule proposed for ``select_model`` (not in the library): the cells
    are fitted as select_model fits them (its private ``_fit_one``, the shared tree, its
    defaults); then, models in order of parameter count, a cell that failed or whose
    log-likelihood is below that of a model nested in it (same G) is fitted again from
    that model's posterior, VVE also from EVE's and VEV's (``EXTRA_STARTS``), and the best
    fit is kept. From the nested model's posterior,
    the first M-step of the larger model cannot lower the log-likelihood (its parameters
    are feasible there), so the kept fit is at least as likely as every nested one.
    """
    from gaussmix.covariance import MCLUST_MODELS, get_covariance_model
    from gaussmix.hierarchical import build_tree
    from gaussmix.selection import _fit_one, _largest_variance

    started = time.perf_counter()
    options = {"tol": 1e-5, "convergence": "relative", "reg_covar": 0.0, "max_iter": 1000}
    public = {"init_params": "hierarchical", "random_state": None}
    variance = _largest_variance(X, None)
    tree = build_tree(X)
    codes = sorted(
        MCLUST_MODELS, key=lambda code: get_covariance_model(code).n_parameters(3, X.shape[1])
    )
    rows = []
    for count in COUNTS:
        start = tree.responsibilities(X.shape[0], count)
        fits = {
            code: _fit_one(X, None, code, count, start, options, public, variance) for code in codes
        }
        for code in codes:
            row, estimator = fits[code]
            likelihood = -np.inf if estimator is None else row["log_likelihood"]
            inner = [
                name
                for name in codes
                if nested(name, code)
                and fits[name][1] is not None
                and fits[name][0]["log_likelihood"] > likelihood
            ]
            sources = set(EXTRA_STARTS.get(code, ()))
            if inner:
                sources.add(max(inner, key=lambda name: fits[name][0]["log_likelihood"]))
            for source in sorted(sources):
                if fits[source][1] is None:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    posterior = fits[source][1].predict_proba(X)
                again = _fit_one(X, None, code, count, posterior, options, public, variance)
                if again[1] is not None and again[0]["log_likelihood"] > likelihood:
                    fits[code] = again
                    likelihood = again[0]["log_likelihood"]
        rows += [fits[code][0] for code in MCLUST_MODELS]
    return pd.DataFrame(rows), time.perf_counter() - started


def compare(ours: pd.DataFrame, mclust: pd.DataFrame) -> pd.DataFrame:
    """One row per cell with both values, the difference and its classification."""
    merged = mclust.merge(ours, on=["covariance_type", "n_components"], how="left")
    reference = -merged["bic_mclust"]
    ours_bic = merged["bic"].where(merged["error"].fillna("") == "")
    margin = RELATIVE_TOLERANCE * reference.abs() + ABSOLUTE_TOLERANCE
    difference = ours_bic - reference
    status = np.select(
        [
            reference.notna() & ours_bic.isna(),
            reference.isna() & ours_bic.notna(),
            difference > margin,
            difference < -margin,
        ],
        ["NA here only", "NA in mclust only", "worse", "better"],
        default="",
    )
    merged = merged.assign(ours=ours_bic, mclust=reference, difference=difference, status=status)
    return merged


def machine() -> list[str]:
    """lscpu's main lines and the versions of Python, NumPy, R and mclust."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        lscpu = ""
    keep = ("Architecture", "Model name", "CPU(s)", "Thread(s) per core", "L2", "L3")
    lines = [line for line in lscpu.splitlines() if line.split(":")[0].strip() in keep]
    versions = subprocess.run(
        [
            "Rscript",
            "-e",
            'cat(R.version.string, "; mclust", as.character(packageVersion("mclust")))',
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    import numba

    return [
        "```",
        *lines,
        "```",
        "",
        f"Python {platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}; "
        f"{versions}. The machine is shared with other jobs (2 cores): the seconds are rough.",
    ]


def cell_lines(name: str, table: pd.DataFrame, statuses: tuple[str, ...]) -> list[str]:
    """Markdown rows of the cells of the given statuses."""
    rows = []
    for _, cell in table[table["status"].isin(statuses)].iterrows():
        note = str(cell.get("error", "") or "")
        note = (note[:90] + "…") if len(note) > 90 else note
        ours = "NA" if math.isnan(cell["ours"]) else f"{cell['ours']:.3f}"
        theirs = "NA" if math.isnan(cell["mclust"]) else f"{cell['mclust']:.3f}"
        difference = "" if math.isnan(cell["difference"]) else f"{cell['difference']:+.3f}"
        rows.append(
            f"| {name} | {cell['covariance_type']} | {int(cell['n_components'])} | {ours} | "
            f"{theirs} | {difference} | {cell['status']} | {note} |"
        )
    return rows


STATUSES = ("worse", "NA here only", "better", "NA in mclust only")
DIAGNOSIS = [
    "Where the cells differ (diagnosed on 2026-12-01 with `me`/`mstepVVE` in R and our",
    "estimator from the same hierarchical partition): every worse or NA-here-only cell is VVE.",
    "The starting partitions are mclust's (`compare_hc_mclust.py`); the first M-step is not.",
    "mclust's VVE M-step (Fortran `mevve`) is an MM iteration (Browne & McNicholas) that starts",
    "from the identity orientation and unit shapes at the first M-step, continues from where it",
    "stopped at later ones, and stops when its trace term changes by less than",
    "`emControl()$tol[2]` = 1.5e-8 relative; ours solves each M-step to its optimum (Newton on",
    "the rotation). From the same partition our first M-step is more likely (thyroid, G = 2:",
    "log-likelihood −2561.2 against mclust's −2679.6), so the EM paths part at once and end in",
    "different local maxima: higher than mclust's in most VVE cells (up to 670 BIC units),",
    "lower in the cells listed. The two NA-here-only cells collapse (a component onto one or",
    "two rows) at iteration 65 (diabetes, G = 7), long after mclust converged (25 iterations);",
    "re-seeding cannot bring the path back. From mclust's final posterior our EM reaches a",
    "log-likelihood at least mclust's in all eight cells. The prototype restarts VVE from EVE's",
    "and VEV's posteriors and any model from a nested model of higher likelihood",
    "(`run_nested_restarts`).",
]
CELL_HEADER = [
    "| data | model | G | ours | mclust (−BIC) | ours − mclust | status | our error |",
    "|---|---|---|---|---|---|---|---|",
]


def summary_line(name: str, X: np.ndarray, seconds: float, table: pd.DataFrame) -> str:
    counts = table["status"].value_counts()
    return (
        f"| {name} | {X.shape[0]} × {X.shape[1]} | {seconds:.1f} | "
        + " | ".join(str(int(counts.get(key, 0))) for key in STATUSES)
        + " |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=HERE / "results_table_mclust.md")
    parser.add_argument("--datasets", default=",".join(LOADERS))
    parser.add_argument("--title", default="select_model's BIC table against mclustBIC")
    parser.add_argument(
        "--nested-restarts",
        action="store_true",
        help="also apply the proposed nested-model restart rule (prototype, see the docstring)",
    )
    arguments = parser.parse_args()
    names = [name for name in arguments.datasets.split(",") if name]
    runs = {"select_model": run_ours}
    if arguments.nested_restarts:
        runs["select_model + proposed restarts (prototype)"] = run_nested_restarts
    tables: dict[str, list[tuple[str, np.ndarray, float, pd.DataFrame]]] = {r: [] for r in runs}
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            X = LOADERS[name]().data
            mclust = run_mclust(X, Path(scratch) / name)
            for label, run in runs.items():
                ours, seconds = run(X)
                table = compare(ours, mclust)
                tables[label].append((name, X, seconds, table))
                print(label, summary_line(name, X, seconds, table), flush=True)
                print("\n".join(cell_lines(name, table, STATUSES[:2])), flush=True)
    text = [
        f"# {arguments.title}",
        "",
        "`PYTHONPATH=src python benchmarks/compare_table_mclust.py"
        + (" --nested-restarts" if arguments.nested_restarts else "")
        + "`: R mclust's `mclustBIC(X, G = 1:9)` (14 models, its defaults) against "
        '`select_model(X, n_components=range(1, 10), covariance_types="all")` (its defaults). '
        'Our BIC is minimised; the column "mclust" is −BIC_mclust in our sign. A cell is '
        f"*worse* when ours exceeds it by more than {RELATIVE_TOLERANCE:g}·|BIC| + "
        f"{ABSOLUTE_TOLERANCE:g}, *better* when below by as much; *NA here only*: mclust "
        "has a value, our fit was recorded as degenerate (error shown); *NA in mclust only*: "
        "the reverse.",
        "",
        *machine(),
        "",
        *DIAGNOSIS,
    ]
    for label, results in tables.items():
        text += [
            "",
            f"## {label}",
            "",
            "| data | n × d | seconds | worse | NA here only | better | NA in mclust only |",
            "|---|---|---|---|---|---|---|",
            *(summary_line(name, X, seconds, table) for name, X, seconds, table in results),
            "",
            "Cells worse than mclust's, or NA here only:",
            "",
            *CELL_HEADER,
            *(
                [
                    line
                    for name, _, _, table in results
                    for line in cell_lines(name, table, STATUSES[:2])
                ]
                or ["| (none) | | | | | | | |"]
            ),
        ]
    label, results = next(iter(tables.items()))
    text += [
        "",
        f"## For information ({label}): NA in mclust only, and better by more than 1",
        "",
        *CELL_HEADER,
        *(
            line
            for name, _, _, table in results
            for line in cell_lines(
                name,
                table[(table["status"] == "NA in mclust only") | (table["difference"] < -1.0)],
                STATUSES[2:],
            )
        ),
        "",
    ]
    arguments.output.write_text("\n".join(text))


if __name__ == "__main__":
    main()
