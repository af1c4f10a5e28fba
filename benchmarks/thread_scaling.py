"""How one E-step scales with threads and chunk size, next to scikit-learn on the same cores.

Usage::

    python benchmarks/thread_scaling.py                    # workloads P2 and P3 of bench_em.py
    python benchmarks/thread_scaling.py --workloads P1 --threads 1 2 --output scaling.md

For each workload the script times ``NumpyBackend.statistics`` (one E-step over all rows,
the bulk of an EM iteration) for every thread count and chunk size asked for, on the fused
compiled path and on the array kernels, and one scikit-learn EM iteration from the same
start using all cores (its BLAS threads). Times are medians over repeats after one warm-up.
It exists to show whether the thread-pool design keeps scaling on machines with more cores
than the 2 that ``make bench`` was tuned on.
"""

from __future__ import annotations

import argparse
import functools
import platform
import warnings
from pathlib import Path

import numpy as np

from bench_em import (
    WORKLOADS,
    Workload,
    e_step_inputs,
    make_estimator,
    median_seconds,
    starting_point,
)


def sklearn_iteration(X: np.ndarray, workload: Workload, repeats: int) -> float:
    """Seconds of one scikit-learn EM iteration (two-iteration fit minus one-iteration fit)."""
    from sklearn.exceptions import ConvergenceWarning

    start = starting_point(X, workload)

    def fit(n_iter: int) -> None:
        model = make_estimator("sklearn", workload, start, n_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)

    return median_seconds(lambda: fit(2), repeats) - median_seconds(lambda: fit(1), repeats)


def scaling_rows(workload: Workload, dtype: str, threads, chunk_factors, repeats: int):
    """Yield table rows ``(path, threads, chunk, seconds)`` for one workload."""
    from gaussmix.backends.numpy import NumpyBackend, default_chunk_size
    from gaussmix.blas_threads import one_blas_thread

    X, parameters, scatter = e_step_inputs(workload, dtype)
    base_chunk = default_chunk_size(workload.n_components, workload.n_features)
    yield (
        "scikit-learn (all cores, BLAS threads)",
        "-",
        "-",
        sklearn_iteration(X.astype(np.float64), workload, repeats),
    )
    for use_fused in (True, False):
        path = "fused" if use_fused else "array kernels"
        for factor in chunk_factors:
            chunk = int(base_chunk * factor)
            for n_threads in threads:
                backend = NumpyBackend(X, None, chunk, n_threads=n_threads, use_fused=use_fused)
                with one_blas_thread():  # as the estimator holds it
                    seconds = median_seconds(
                        functools.partial(backend.statistics, parameters, scatter), repeats
                    )
                yield path, n_threads, chunk, seconds


def main() -> None:
    """Run the scaling table and print (and optionally write) it."""
    from gaussmix.backends.numpy import default_n_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["P2", "P3"], choices=list(WORKLOADS))
    parser.add_argument("--threads", nargs="+", type=int, default=None)
    parser.add_argument("--chunk-factors", nargs="+", type=float, default=[1.0, 4.0])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None)
    arguments = parser.parse_args()
    cores = default_n_threads()
    threads = arguments.threads or sorted({1, 2, cores // 2, cores} - {0})
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {cores} usable cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}; dtype {arguments.dtype}.",
        "",
        "| workload | path | threads | chunk rows | seconds / E-step |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name in arguments.workloads:
        workload = Workload(name, *WORKLOADS[name])
        for path, n_threads, chunk, seconds in scaling_rows(
            workload, arguments.dtype, threads, arguments.chunk_factors, arguments.repeats
        ):
            line = f"| {name} | {path} | {n_threads} | {chunk} | {seconds:.4f} |"
            print(line, flush=True)
            lines.append(line)
    if arguments.output is not None:
        arguments.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
