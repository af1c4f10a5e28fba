"""Seconds per fit of small data: gaussmix against scikit-learn, same data, same start, interleaved.

Usage::

    python benchmarks/bench_small.py            # writes benchmarks/results_small.md
    python benchmarks/bench_small.py --repeats 5 --output /tmp/small.md

Small fits are what ``select_model`` (126 fits per data set) and ``n_init`` starts repeat,
so their fixed costs (validation, initialisation, per-iteration Python) matter as much as
the arithmetic. For every case (N ∈ {300, 2,000, 10,000} × D ∈ {2, 5}, K = 3, full and
diag covariances) the two libraries fit the same float64 data:

* *same start*: the same ``weights_init``/``means_init``/``precisions_init``, scikit-learn's
  default ``tol`` (1e-3) and ``max_iter`` (100);
* *fixed iterations*: the same start, ``tol=0`` and ``max_iter=100`` (every fit runs 100
  iterations, so the seconds per iteration are comparable);
* *n_init = 10*: the default k-means initialisation, ``n_init=10`` and the same
  ``random_state`` on both sides.

scikit-learn is timed twice: as shipped (its BLAS and OpenMP use every core) and with BLAS
and OpenMP held to one thread (``threadpool_limits(1)``, entered outside the timed fits),
which is what gaussmix does for data this small; on the shared 2-core machine the threads
made scikit-learn's small fits several times slower, which would flatter the ratio. The
fits alternate (the order rotates every repeat) and each is repeated; the table reports
medians and the ratios of the medians. The last column says whether the sides reached the
same final lower bound (relative difference, one-thread scikit-learn against gaussmix).

A second table times one E-step of the small-data executor against the chunked executor
(1 and 2 threads) at sizes up to and beyond the size where gaussmix switches between them,
and the fused against the array kernels on Old Faithful (272 × 2): the evidence for the
threshold in ``gaussmix.backends.numpy.numpy_backend``.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

CASES = [
    (n_samples, n_features, covariance_type)
    for n_samples in (300, 2_000, 10_000)
    for n_features in (2, 5)
    for covariance_type in ("full", "diag")
]
N_COMPONENTS = 3
SETTINGS = {
    "same start": {"tol": 1e-3, "max_iter": 100, "start": True},
    "fixed iterations": {"tol": 0.0, "max_iter": 100, "start": True},
    "n_init = 10": {"tol": 1e-3, "max_iter": 100, "n_init": 10, "random_state": 0},
}


def make_data(n_samples: int, n_features: int, seed: int = 0) -> np.ndarray:
    """K well-separated Gaussian clusters of unit variance."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(N_COMPONENTS, n_features))
    labels = rng.integers(0, N_COMPONENTS, size=n_samples)
    return rng.standard_normal((n_samples, n_features)) + centres[labels]


def starting_point(X: np.ndarray, covariance_type: str, seed: int = 1) -> dict:
    """The same start for both libraries: data points as means, precisions I/4."""
    rng = np.random.default_rng(seed)
    K, D = N_COMPONENTS, X.shape[1]
    precisions = {
        "full": np.broadcast_to(np.eye(D) / 4.0, (K, D, D)).copy(),
        "diag": np.full((K, D), 0.25),
    }[covariance_type]
    return {
        "weights_init": np.full(K, 1.0 / K),
        "means_init": X[rng.choice(X.shape[0], size=K, replace=False)],
        "precisions_init": precisions,
    }


def estimator(side: str, X: np.ndarray, covariance_type: str, setting: dict):
    """A configured scikit-learn (``side="sklearn"``) or gaussmix GaussianMixture."""
    if side == "sklearn":
        from sklearn.mixture import GaussianMixture
    else:
        from gaussmix import GaussianMixture
    options = {key: value for key, value in setting.items() if key != "start"}
    if setting.get("start"):
        options.update(starting_point(X, covariance_type))
    return GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, **options)


def timed_fit(side: str, X: np.ndarray, covariance_type: str, setting: dict) -> tuple:
    """Seconds of one fit, its number of iterations and its final lower bound."""
    model = estimator(side, X, covariance_type, setting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        began = time.perf_counter()
        model.fit(X)
        elapsed = time.perf_counter() - began
    return elapsed, int(model.n_iter_), float(model.lower_bound_)


SIDES = ("sklearn", "sklearn, 1 thread", "gaussmix")


def compare(
    X: np.ndarray, covariance_type: str, setting: dict, repeats: int, min_seconds: float = 0.0
) -> dict:
    """Interleaved repeats of every side; medians, iterations and the lower-bound gap.

    At least ``repeats`` rounds (every side once a round), and as many more as fill
    ``min_seconds`` at the warm-up round's pace: a round of the smallest cases lasts a few
    milliseconds, shorter than the bursts of the shared machine's other tenants, and a
    median of a handful of such rounds moved by ±25 % from run to run.
    """
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    outcome = {}

    def run(side: str) -> tuple:
        library = "gaussmix" if side == "gaussmix" else "sklearn"
        if side != "sklearn, 1 thread":
            return timed_fit(library, X, covariance_type, setting)
        with controller.limit(limits=1, user_api="blas"):
            with controller.limit(limits=1, user_api="openmp"):
                return timed_fit(library, X, covariance_type, setting)

    began = time.perf_counter()
    for side in SIDES:  # warm-up: imports, compiled kernels, caches
        run(side)
    round_seconds = time.perf_counter() - began
    for repeat in range(max(repeats, math.ceil(min_seconds / max(round_seconds, 1e-9)))):
        shift = repeat % len(SIDES)
        for side in SIDES[shift:] + SIDES[:shift]:
            seconds, n_iter, lower_bound = run(side)
            times[side].append(seconds)
            outcome[side] = (n_iter, lower_bound)
    medians = {side: statistics.median(times[side]) for side in SIDES}
    reference = outcome["sklearn, 1 thread"][1]
    return {
        "medians": medians,
        "iterations": (outcome["sklearn, 1 thread"][0], outcome["gaussmix"][0]),
        "gap": abs(reference - outcome["gaussmix"][1]) / abs(reference),
    }


def e_step_seconds(backend, parameters, kind: str, repeats: int) -> float:
    """Best seconds of one E-step (``statistics``) of an executor, BLAS on one thread."""
    from gaussmix.blas_threads import one_blas_thread

    with one_blas_thread():
        backend.statistics(parameters, kind)
        best = np.inf
        for _ in range(repeats):
            began = time.perf_counter()
            backend.statistics(parameters, kind)
            best = min(best, time.perf_counter() - began)
    return best


def e_step_rows() -> list[str]:
    """One E-step of each executor at sizes around the switch, and fused against array."""
    from gaussmix import GaussianMixture
    from gaussmix.backends.numpy import (
        NumpyBackend,
        SmallDataBackend,
        default_chunk_size,
        rows_per_task,
    )
    from gaussmix.datasets import load_old_faithful

    def parameters_of(X: np.ndarray, covariance_type: str):
        model = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, max_iter=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[:2000])
        return model._fitted_parameters()

    rows = []
    faithful = load_old_faithful().data
    chunk = default_chunk_size(N_COMPONENTS, 2)
    for covariance_type, kind in (("full", "full"), ("diag", "diagonal")):
        parameters = parameters_of(faithful, covariance_type)
        cells = [
            e_step_seconds(executor(faithful, None, chunk, use_fused=fused), parameters, kind, 200)
            for executor in (SmallDataBackend, NumpyBackend)
            for fused in (True, False)
        ]
        rows.append(
            f"| Old Faithful 272 × 2, {covariance_type} | "
            + " | ".join(f"{seconds * 1e6:.0f}" for seconds in cells)
            + " |"
        )
    switch_rows = []
    for n_features in (2, 5):
        chunk = default_chunk_size(N_COMPONENTS, n_features)
        switch = rows_per_task(chunk, True)
        for n_samples in (1_000, 10_000, switch, 4 * switch):
            X = make_data(n_samples, n_features)
            parameters = parameters_of(X, "full")
            repeats = max(5, int(2e5 / n_samples))
            small = e_step_seconds(SmallDataBackend(X, None, chunk), parameters, "full", repeats)
            # The chunked executor as it runs (one thread, or blocks on 2 threads), and
            # the same rows cut into 16 tasks for 2 threads: would a split pay here?
            chunked = [
                e_step_seconds(
                    NumpyBackend(X, None, size, n_threads=threads), parameters, "full", repeats
                )
                for size, threads in ((chunk, 1), (chunk, 2), (max(16, -(-n_samples // 128)), 2))
            ]
            side = "small" if n_samples <= switch else "chunked"
            switch_rows.append(
                f"| {n_samples:,} × {n_features}, full | {side} | {small * 1e6:.0f} | "
                + " | ".join(f"{seconds * 1e6:.0f}" for seconds in chunked)
                + " |"
            )
    return [
        "## One E-step: fused against array kernels (µs, best of 200)",
        "",
        "| data | small, fused | small, array kernels | chunked, fused | chunked, array kernels |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "## One E-step around the switch (µs, best of repeats; K = 3, default chunk size)",
        "",
        "`numpy_backend` gives the small-data executor up to one task of the chunked one (8 "
        "chunks with the compiled kernels); 'taken' says which executor a fit gets. The last "
        "column cuts the same rows into 16 tasks of N/16 rows (blocks of 8 chunks) for 2 "
        "threads.",
        "",
        "| data | taken | small-data executor | chunked, 1 thread | chunked, 2 threads | "
        "chunked, 16 tasks on 2 threads |",
        "|---|---|---|---|---|---|",
        *switch_rows,
    ]


def kmeans_rows(repeats: int = 20) -> list[str]:
    """µs per k-means start: scikit-learn's KMeans(n_init=1) against gaussmix.kmeans."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from gaussmix import precompile
    from gaussmix.kmeans import kmeans

    def best(function) -> float:
        function()
        seconds = []
        for _ in range(repeats):
            began = time.perf_counter()
            function()
            seconds.append(time.perf_counter() - began)
        return min(seconds)

    compiled = precompile.ready()
    rows = []
    for n_samples, n_features in sorted({(n, d) for n, d, _ in CASES}):
        X = make_data(n_samples, n_features)

        def theirs(X: np.ndarray = X):
            return KMeans(N_COMPONENTS, n_init=1, random_state=np.random.RandomState(0)).fit(X)

        def ours(on: bool = compiled, X: np.ndarray = X):
            return kmeans(X, None, N_COMPONENTS, np.random.RandomState(0), compiled=on)

        with threadpool_limits(1):
            one_thread = best(theirs)
        cells = [best(theirs), one_thread, best(ours), best(functools.partial(ours, False))]
        same = np.array_equal(theirs().labels_, ours().labels)
        rows.append(
            f"| {n_samples:,} × {n_features} | "
            + " | ".join(f"{seconds * 1e6:.0f}" for seconds in cells)
            + f" | {one_thread / cells[2]:.0f}× | {'yes' if same else 'NO'} |"
        )
    return [
        f"## One k-means start (µs, best of {repeats}; K = {N_COMPONENTS})",
        "",
        "scikit-learn's `KMeans(n_init=1)` (a k-means start with scikit-learn's estimator) "
        "against `gaussmix.kmeans.kmeans` (the same algorithm and random draws; compiled "
        "loops, and its NumPy path), from the same `random_state`.",
        "",
        "| data | sklearn | sklearn 1 thread | gaussmix compiled | gaussmix NumPy | ratio vs 1 "
        "thread | same labels |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]


class _PythonLoop:
    """An executor hidden from ``gaussmix.compiled_em.compiled_loop``: run_em iterates in Python."""

    def __init__(self, backend):
        self.backend = backend

    def statistics(self, parameters, kind):
        return self.backend.statistics(parameters, kind)

    def map_rows(self, function):
        return self.backend.map_rows(function)


def em_loop_rows(repeats: int = 5, n_iterations: int = 200) -> list[str]:
    """µs per EM iteration on Old Faithful: the compiled loop against the Python loop."""
    from gaussmix.backends.numpy import SmallDataBackend
    from gaussmix.collapse import ComponentReseeder
    from gaussmix.covariance import get_covariance_model
    from gaussmix.datasets import load_old_faithful
    from gaussmix.em import run_em
    from gaussmix.initialization import parameters_from_responsibilities

    X = load_old_faithful().data
    responsibilities = np.random.default_rng(0).dirichlet(np.ones(N_COMPONENTS), len(X))
    backend = SmallDataBackend(X, None, 1000)
    rows = []
    for name in ("EII", "VVI", "EVI", "EEE", "EEV", "EVV", "VVV"):
        model = get_covariance_model(name)
        start = parameters_from_responsibilities(X, None, responsibilities, model, 1e-6)
        cells = []
        for executor in (backend, _PythonLoop(backend)):
            seconds = []
            for _ in range(repeats):
                reseeder = ComponentReseeder(backend, X, None, 5 * N_COMPONENTS)
                began = time.perf_counter()
                result = run_em(
                    executor,
                    start,
                    model,
                    reg_covar=1e-6,
                    tol=0.0,
                    max_iter=n_iterations,
                    reseeder=reseeder,
                )
                seconds.append((time.perf_counter() - began) / result.n_iter)
            cells.append(min(seconds))
        rows.append(
            f"| {name} | {cells[0] * 1e6:.1f} | {cells[1] * 1e6:.1f} | {cells[1] / cells[0]:.0f}× |"
        )
    return [
        f"## One EM iteration on Old Faithful (µs, best of {repeats} runs of "
        f"{n_iterations} iterations; K = {N_COMPONENTS})",
        "",
        "The whole loop compiled (`gaussmix.compiled_em`, the default for small float64 data) "
        "against the Python loop (`em.run_em` iterating `statistics` and `mstep.maximize`, "
        "what a per-iteration callback keeps), both through the collapse policy.",
        "",
        "| model | compiled loop | Python loop | ratio |",
        "|---|---|---|---|",
        *rows,
    ]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_description() -> list[str]:
    """Lines naming the CPU, the cores, the load and the versions."""
    import numba
    import scipy
    import sklearn

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return [
        f"- Run {time.strftime('%Y-%m-%d %H:%M')}, gaussmix commit {commit or 'unknown'}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores ({usable} usable by this "
        f"process), {platform.machine()}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, SciPy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, numba {numba.__version__}",
    ]


def fit_rows(name: str, setting: dict, repeats: int, min_seconds: float):
    """The table rows of one setting, case by case, as they are timed."""
    for n_samples, n_features, covariance_type in CASES:
        X = make_data(n_samples, n_features)
        result = compare(X, covariance_type, setting, repeats, min_seconds)
        medians = result["medians"]
        yield (
            f"| {name} | {n_samples:,} | {n_features} | {covariance_type} | "
            + " | ".join(f"{medians[side] * 1e3:.2f}" for side in SIDES)
            + f" | {medians['sklearn'] / medians['gaussmix']:.1f}× | "
            f"{medians['sklearn, 1 thread'] / medians['gaussmix']:.1f}× | "
            f"{result['iterations'][0]} / {result['iterations'][1]} | {result['gap']:.1e} |"
        )


def main() -> None:
    """Run every case and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed fits per side and case, at least"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="more rounds of a fast case until its timing lasts about this long",
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results_small.md"))
    parser.add_argument(
        "--em-loop-only", action="store_true", help="print only the per-iteration EM table"
    )
    parser.add_argument("--kmeans-only", action="store_true", help="print only the k-means table")
    parser.add_argument(
        "--setting",
        choices=sorted(SETTINGS),
        action="append",
        help="time only this setting (repeatable); prints the rows, writes no file",
    )
    arguments = parser.parse_args()
    if arguments.em_loop_only:
        print("\n".join(em_loop_rows()))
        return
    if arguments.kmeans_only:
        print("\n".join(kmeans_rows()))
        return
    if arguments.setting:
        for name in arguments.setting:
            for line in fit_rows(name, SETTINGS[name], arguments.repeats, arguments.min_seconds):
                print(line, flush=True)
        return
    load_before = os.getloadavg()
    rows = []
    for name, setting in SETTINGS.items():
        for line in fit_rows(name, setting, arguments.repeats, arguments.min_seconds):
            print(line, flush=True)
            rows.append(line)
    e_steps = [*kmeans_rows(), "", *e_step_rows(), "", *em_loop_rows()]
    print("\n".join(e_steps), flush=True)
    load_after = os.getloadavg()
    lines = [
        "# Small fits: gaussmix against scikit-learn (benchmarks/bench_small.py)",
        "",
        *machine_description(),
        f"- Load average (1, 5, 15 min) at start {load_before[0]:.1f}, {load_before[1]:.1f}, "
        f"{load_before[2]:.1f}; at the end {load_after[0]:.1f}, {load_after[1]:.1f}, "
        f"{load_after[2]:.1f}. A load above the number of cores means other processes "
        "shared the machine: absolute times are then inflated, the interleaved ratios less so.",
        f"- At least {arguments.repeats} timed fits per side and case, and more rounds for "
        f"the fast cases, until a case's timing lasts about {arguments.min_seconds:g} s; "
        "sides alternating; medians.",
        "",
        "| setting | N | D | cov | sklearn ms/fit | sklearn 1 thread ms/fit | gaussmix ms/fit "
        "| ratio | ratio vs 1 thread | iterations sklearn / gaussmix | lower bound rel. diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *e_steps,
        "",
        f"Command: `python benchmarks/bench_small.py --repeats {arguments.repeats} "
        f"--min-seconds {arguments.min_seconds:g}`. "
        "K = 3, float64, well-separated clusters; 'ratio' is scikit-learn's median over "
        "gaussmix's. gaussmix runs as a user runs it (data this small take its small-data "
        "path, `gaussmix.backends.numpy.SmallDataBackend`).",
    ]
    arguments.output.write_text("\n".join(lines) + "\n")
    print(f"written to {arguments.output}")


if __name__ == "__main__":
    main()
