"""Time the iterative M-steps (VEI, VEE, EVE, VVE, VEV) alone, cold and warm-started, and
select_model over G = 1..9 for these five models, on faithful (272 × 2) and iris (150 × 4).

The M-step inputs are those of real EM runs: every call of ``estimate`` during fits from the
hierarchical start (k-means where that start is singular) is recorded with the covariances
it was given, then replayed cold (``previous=None``) and warm. Writes
``benchmarks/results_msteps.md``.

Run: ``.venv/bin/python benchmarks/bench_msteps.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from gaussmix import (
    CollapsedComponentError,
    CollapsedComponentWarning,
    GaussianMixture,
    select_model,
)
from gaussmix.covariance import get_covariance_model

MODELS = ("VEI", "VEE", "EVE", "VVE", "VEV")
COUNTS = (2, 3, 4, 5, 6)

# The same measurements with the previous implementation (cold start in every M-step,
# plane-rotation sweeps for EVE/VVE, Celeux & Govaert's fixed point for VEI/VEE/VEV, commit
# 2bbfd7e), taken on the shared 2-core machine beside this one; kept here because that code
# is gone. Median µs per M-step on the same recorded inputs, interleaved call by call with
# the new M-steps so that both saw the same load.
BEFORE = """
## Before: the previous implementation (commit 2bbfd7e), same inputs

| data | model | before | after, cold | after, warm |
|---|---|---|---|---|
| faithful | VEI | 644 | 1110 | 844 |
| faithful | VEE | 664 | 971 | 879 |
| faithful | EVE | 665 | 691 | 851 |
| faithful | VVE | 902 | 806 | 949 |
| faithful | VEV | 908 | 1506 | 1378 |
| iris | VEI | 900 | 703 | 755 |
| iris | VEE | 1051 | 818 | 847 |
| iris | EVE | 17930 | 3204 | 1224 |
| iris | VVE | 20971 | 2157 | 1055 |
| iris | VEV | 842 | 1219 | 1170 |

select_model on the five models, G = 1..9, tol=1e-6, one run each at a load of 3 to 4:
faithful 21.4 s before, 9.0 s after (identical results table); iris stopped unfinished
after 900 s before (R mclust takes about 0.5 s for all fourteen models), 4.4 s after.
Where a fit is slower per M-step after (d = 2, VEV), the cost is the warm start's checks
and the objective guard (about 0.2 ms); the gain is on d > 2, where the plane-rotation
sweeps needed hundreds to thousands of sweeps.
"""


def load(name: str) -> np.ndarray:
    """A bundled data set's numeric columns."""
    source = files("gaussmix").joinpath("data", f"{name}.csv")
    with source.open("r", encoding="utf-8") as handle:
        columns = len(handle.readline().split(","))
        numeric = range(columns if name == "faithful" else 4)
        return np.loadtxt(handle, delimiter=",", usecols=numeric)


def record(X: np.ndarray, code: str, n_components: int) -> list[tuple]:
    """(n_k, scatter, previous) of every warm-startable M-step of one 50-iteration fit."""
    model = get_covariance_model(code)
    calls: list[tuple] = []
    original = type(model).estimate

    def spy(self, n_k, scatter, reg_covar, n_features, previous=None):
        covariances = original(self, n_k, scatter, reg_covar, n_features, previous=previous)
        # Only M-steps that succeed (a collapsing one is retried after a re-seed).
        calls.append((n_k.copy(), scatter.copy(), None if previous is None else previous.copy()))
        return covariances

    type(model).estimate = spy
    try:
        for init in ("hierarchical", "kmeans"):
            calls.clear()
            try:
                GaussianMixture(
                    n_components,
                    covariance_type=code,
                    reg_covar=0.0,
                    init_params=init,
                    random_state=0,
                    max_iter=50,
                    tol=1e-6,
                ).fit(X)
                break
            except CollapsedComponentError:
                continue
    finally:
        type(model).estimate = original
    return [call for call in calls if call[2] is not None]


def time_m_steps(calls: list[tuple], code: str, n_features: int, warm: bool) -> float:
    """Median seconds per M-step over the recorded calls."""
    model = get_covariance_model(code)
    times = []
    for n_k, scatter, previous in calls:
        started = time.perf_counter()
        if warm:
            model.estimate(n_k, scatter, 0.0, n_features, previous=previous)
        else:
            model.estimate(n_k, scatter, 0.0, n_features)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", CollapsedComponentWarning)
    lines = [
        "# Iterative M-steps and select_model (`bench_msteps.py`)",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; medians of {arguments.repeats} runs.",
        "",
        "## One M-step (median over the M-steps of 50-iteration fits, G = 2..6), µs",
        "",
        "| data | model | cold | warm |",
        "|---|---|---|---|",
    ]
    for name in ("faithful", "iris"):
        X = load(name)
        for code in MODELS:
            calls = [call for G in COUNTS for call in record(X, code, G)]
            cold = np.median(
                [time_m_steps(calls, code, X.shape[1], False) for _ in range(arguments.repeats)]
            )
            warm = np.median(
                [time_m_steps(calls, code, X.shape[1], True) for _ in range(arguments.repeats)]
            )
            lines.append(f"| {name} | {code} | {cold * 1e6:.0f} | {warm * 1e6:.0f} |")
            print(lines[-1], flush=True)
    lines += [
        "",
        "## select_model(X, range(1, 10), the five models, tol=1e-6), s",
        "",
        "| data | seconds |",
        "|---|---|",
    ]
    for name in ("faithful", "iris"):
        X = load(name)
        seconds = []
        for _ in range(arguments.repeats):
            started = time.perf_counter()
            select_model(X, n_components=range(1, 10), covariance_types=list(MODELS), tol=1e-6)
            seconds.append(time.perf_counter() - started)
        lines.append(f"| {name} | {np.median(seconds):.2f} |")
        print(lines[-1], flush=True)
    Path(__file__).with_name("results_msteps.md").write_text("\n".join(lines) + "\n" + BEFORE)


if __name__ == "__main__":
    main()
