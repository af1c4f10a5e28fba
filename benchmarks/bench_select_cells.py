"""Per-cell overhead of select_model: the time of a cell outside its EM iterations.

A cell is one (covariance model, G) fit. Its time is split into the EM loop
(``gaussmix.em.run_em``, timed by wrapping it) and everything else: validation, the
start's M-step, the executor, the final E-step, the criteria and the bookkeeping.

    python benchmarks/bench_select_cells.py [--repeats 5] [--data faithful]

Prints the median over repeats of (total − EM) / cells, in milliseconds of CPU time of
this process (``time.process_time``: less sensitive than wall time to other processes on a
shared machine; the fits of small data run in the calling thread). Run it with the
source of another version first on ``PYTHONPATH`` (``--engine gaussmix.estimator`` for
versions whose estimator calls ``run_em`` itself) to compare.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
import warnings

import gaussmix.em as em
from gaussmix import datasets, select_model

_LOADERS = {
    "faithful": datasets.load_old_faithful,
    "iris": datasets.load_iris,
    "banknote": datasets.load_banknote,
    "thyroid": datasets.load_thyroid,
}


def _timed_run_em(spent: list[float]):
    original = em.run_em

    def run_em(*arguments, **options):
        started = time.process_time()
        try:
            return original(*arguments, **options)
        finally:
            spent.append(time.process_time() - started)

    return run_em


def measure(
    name: str, repeats: int, engine_name: str = "gaussmix.fitting"
) -> tuple[float, float, int]:
    """Median per-cell overhead and total per-cell time (ms), and the number of cells."""
    X = _LOADERS[name]().data
    spent: list[float] = []
    wrapped = _timed_run_em(spent)
    # The engine calls run_em through its own module's name.
    engine = importlib.import_module(engine_name)
    original = engine.run_em
    engine.run_em = wrapped
    overheads, totals, cells = [], [], 0
    try:
        select_model(X, n_jobs=1)  # warm-up: numba compilation or cache loading
        for _ in range(repeats):
            spent.clear()
            started = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = select_model(X, n_jobs=1)
            total = time.process_time() - started
            cells = len(result.results_)
            overheads.append((total - sum(spent)) / cells * 1e3)
            totals.append(total / cells * 1e3)
    finally:
        engine.run_em = original
    return statistics.median(overheads), statistics.median(totals), cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", nargs="*", default=["faithful", "iris"], choices=list(_LOADERS))
    parser.add_argument(
        "--engine", default="gaussmix.fitting", help="module whose run_em the fits call"
    )
    options = parser.parse_args()
    print("| data | cells | overhead per cell (ms, median) | total per cell (ms) |")
    print("|---|---|---|---|")
    for name in options.data:
        overhead, total, cells = measure(name, options.repeats, options.engine)
        print(f"| {name} | {cells} | {overhead:.3f} | {total:.3f} |")


if __name__ == "__main__":
    main()
