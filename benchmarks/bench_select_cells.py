"""Per-cell overhead of select_model: the time of a cell outside its EM iterations.

A cell is one (covariance model, G) fit. Its time is split into the EM loop
(``gaussmix.em.run_em``, timed by wrapping it) and everything else. With the fitting
engine, "everything else" is split further into the start's M-step
(``fitting.initial_parameters``), the posterior passes of the criteria and labels
(``selection.evaluate_rows``: ICL needs the responsibilities), and the rest: validation,
executors, the final E-step, degeneracy checks and bookkeeping.

    python benchmarks/bench_select_cells.py [--repeats 3] [--data faithful iris]

Prints medians over repeats, in milliseconds of CPU time of this process per cell
(``time.process_time``: less sensitive than wall time to other processes on a shared
machine; the fits of small data run in the calling thread). Run it with the source of
another version first on ``PYTHONPATH`` (``--engine gaussmix.estimator`` for versions
whose estimator calls ``run_em`` itself) to compare.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from gaussmix import datasets, select_model

_LOADERS = {
    "faithful": datasets.load_old_faithful,
    "iris": datasets.load_iris,
    "banknote": datasets.load_banknote,
    "thyroid": datasets.load_thyroid,
}


def _timed(function: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def timed(*arguments: Any, **options: Any) -> Any:
        started = time.process_time()
        try:
            return function(*arguments, **options)
        finally:
            spent.append(time.process_time() - started)

    return timed


def _wrap(targets: dict[str, tuple[str, str]]) -> tuple[dict[str, list[float]], Callable[[], None]]:
    """Wrap ``module.name`` for every part that exists in this version; return the undo."""
    spent: dict[str, list[float]] = defaultdict(list)
    undo = []
    for part, (module_name, name) in targets.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if not hasattr(module, name):
            continue
        original = getattr(module, name)
        setattr(module, name, _timed(original, spent[part]))
        undo.append((module, name, original))

    def restore() -> None:
        for module, name, original in undo:
            setattr(module, name, original)

    return spent, restore


def measure(name: str, repeats: int, engine: str) -> tuple[int, dict[str, float]]:
    """Number of cells and the median per-cell milliseconds of each part."""
    X = _LOADERS[name]().data
    spent, restore = _wrap(
        {
            "EM iterations": (engine, "run_em"),
            "start M-step": ("gaussmix.fitting", "initial_parameters"),
            "posterior passes": ("gaussmix.selection", "evaluate_rows"),
        }
    )
    parts: dict[str, list[float]] = defaultdict(list)
    cells = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            select_model(X, n_jobs=1)  # warm-up: numba compilation or cache loading
            for _ in range(repeats):
                for values in spent.values():
                    values.clear()
                started = time.process_time()
                result = select_model(X, n_jobs=1)
                total = time.process_time() - started
                cells = len(result.results_)
                measured = {part: sum(values) for part, values in spent.items()}
                parts["total"].append(total / cells * 1e3)
                parts["outside EM"].append((total - measured["EM iterations"]) / cells * 1e3)
                rest = total - sum(measured.values())
                for part, value in measured.items():
                    parts[part].append(value / cells * 1e3)
                parts["rest"].append(rest / cells * 1e3)
    finally:
        restore()
    return cells, {part: statistics.median(values) for part, values in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", nargs="*", default=["faithful", "iris"], choices=list(_LOADERS))
    parser.add_argument(
        "--engine", default="gaussmix.fitting", help="module whose run_em the fits call"
    )
    options = parser.parse_args()
    columns = [
        "total",
        "EM iterations",
        "outside EM",
        "start M-step",
        "posterior passes",
        "rest",
    ]
    print("| data | cells | " + " | ".join(f"{column} (ms)" for column in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for name in options.data:
        cells, parts = measure(name, options.repeats, options.engine)
        values = [f"{parts[column]:.3f}" if column in parts else "–" for column in columns]
        print(f"| {name} | {cells} | " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()
