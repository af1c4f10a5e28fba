"""Every covariance type against scikit-learn, on the shapes of bench_em.py's P1–P3.

Usage::

    python benchmarks/bench_covariance_types.py     # writes results_covariance_types.md

``bench_em.py`` measures P1–P5, whose covariances are full or diagonal. The goal here is that
gaussmix be never slower for any covariance type. This script fits scikit-learn and gaussmix
for full, tied, diag and spherical covariances. It uses the data of P2 (1M × 8, K = 8), P3
(200k × 16, K = 16) and P1 (1M × 2, K = 3), the same start for both (``bench_em.starting_point``),
``tol=0`` and 4 iterations, and keeps the best of 2 fits of each. It reports seconds per
iteration (fit time / 4, which includes the final E-step on both sides), the ratio, and the
relative difference of the final lower bounds.
"""

from __future__ import annotations

import platform
import time
import warnings
from pathlib import Path

import numpy as np

from bench_em import Workload, make_data, make_estimator, starting_point

SHAPES = {"P2": (1_000_000, 8, 8), "P3": (200_000, 16, 16), "P1": (1_000_000, 2, 3)}
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
N_ITER = 4
RESULTS = Path(__file__).with_name("results_covariance_types.md")


def best_fit(side: str, X: np.ndarray, workload: Workload, start: dict):
    """Best wall-clock seconds of 2 fits of one side (``bench_em`` sides), and its lower bound."""
    times = []
    for _ in range(2):
        model = make_estimator(side, workload, start, N_ITER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            began = time.perf_counter()
            model.fit(X)
            times.append(time.perf_counter() - began)
    return min(times), model.lower_bound_


def main() -> None:
    """Run every shape and covariance type, print and write the table."""
    lines = [
        "# Every covariance type: gaussmix against scikit-learn",
        "",
        f"Command: `python benchmarks/bench_covariance_types.py` ({N_ITER} iterations, tol=0, "
        "best of 2 fits, same data and start for both).",
        f"Machine: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}; float64.",
        "",
        "| shape | N | D | K | covariance | scikit-learn s/it | gaussmix s/it | ratio "
        "| lower bound rel. diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name, (n_samples, n_features, n_components) in SHAPES.items():
        for covariance_type in COVARIANCE_TYPES:
            workload = Workload(name, n_samples, n_features, n_components, covariance_type)
            X = make_data(workload)
            start = starting_point(X, workload)
            theirs, their_bound = best_fit("sklearn", X, workload, start)
            ours, our_bound = best_fit("gaussmix64", X, workload, start)
            difference = abs(our_bound - their_bound) / abs(their_bound)
            line = (
                f"| {name} | {n_samples:,} | {n_features} | {n_components} | {covariance_type} "
                f"| {theirs / N_ITER:.3f} | {ours / N_ITER:.3f} | {theirs / ours:.1f}× "
                f"| {difference:.1e} |"
            )
            print(line, flush=True)
            lines.append(line)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
