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

The fits alternate (scikit-learn, gaussmix, then the other order) and each is repeated;
the table reports medians and the ratio of the medians. scikit-learn is timed with BLAS
held to one thread (``threadpool_limits(1)`` entered once, outside the timed fits), as
gaussmix holds it during a fit: with its default threads scikit-learn's full-covariance
fits were several times slower on the shared 2-core machine (OpenBLAS threads on 2 × 2
products), which would flatter the ratio. The last column says whether both sides
reached the same final lower bound (relative difference).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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
    """A configured scikit-learn or gaussmix GaussianMixture."""
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


def compare(X: np.ndarray, covariance_type: str, setting: dict, repeats: int) -> dict:
    """Interleaved repeats of both sides; medians, iterations and the lower-bound gap."""
    from threadpoolctl import threadpool_limits

    times: dict[str, list[float]] = {"sklearn": [], "gaussmix": []}
    outcome = {}
    with threadpool_limits(1, user_api="blas"):
        for side in times:  # warm-up: imports, compiled kernels, caches
            timed_fit(side, X, covariance_type, setting)
        for repeat in range(repeats):
            order = ("sklearn", "gaussmix") if repeat % 2 == 0 else ("gaussmix", "sklearn")
            for side in order:
                seconds, n_iter, lower_bound = timed_fit(side, X, covariance_type, setting)
                times[side].append(seconds)
                outcome[side] = (n_iter, lower_bound)
    sklearn, gaussmix = (statistics.median(times[side]) for side in ("sklearn", "gaussmix"))
    gap = abs(outcome["sklearn"][1] - outcome["gaussmix"][1]) / abs(outcome["sklearn"][1])
    return {
        "sklearn": sklearn,
        "gaussmix": gaussmix,
        "iterations": (outcome["sklearn"][0], outcome["gaussmix"][0]),
        "gap": gap,
    }


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

    import gaussmix

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores ({usable} usable by this "
        f"process), {platform.machine()}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, SciPy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, numba {numba.__version__}, "
        f"gaussmix from {Path(gaussmix.__file__).parent}",
    ]


def main() -> None:
    """Run every case and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed fits per side and case")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results_small.md"))
    arguments = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    for name, setting in SETTINGS.items():
        for n_samples, n_features, covariance_type in CASES:
            X = make_data(n_samples, n_features)
            result = compare(X, covariance_type, setting, arguments.repeats)
            ratio = result["sklearn"] / result["gaussmix"]
            line = (
                f"| {name} | {n_samples:,} | {n_features} | {covariance_type} | "
                f"{result['sklearn'] * 1e3:.2f} | {result['gaussmix'] * 1e3:.2f} | "
                f"{ratio:.1f}× | {result['iterations'][0]} / {result['iterations'][1]} | "
                f"{result['gap']:.1e} |"
            )
            print(line, flush=True)
            rows.append(line)
    load_after = os.getloadavg()
    lines = [
        "# Small fits: gaussmix against scikit-learn (benchmarks/bench_small.py)",
        "",
        *machine_description(),
        f"- Load average (1, 5, 15 min) at start {load_before[0]:.1f}, {load_before[1]:.1f}, "
        f"{load_before[2]:.1f}; at the end {load_after[0]:.1f}, {load_after[1]:.1f}, "
        f"{load_after[2]:.1f}. A load above the number of cores means other processes "
        "shared the machine: absolute times are then inflated, the interleaved ratios less so.",
        f"- {arguments.repeats} timed fits per side and case, alternating sides; medians.",
        "",
        "| setting | N | D | cov | sklearn ms/fit | gaussmix ms/fit | ratio | iterations "
        "sklearn / gaussmix | lower bound rel. diff |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Command: `python benchmarks/bench_small.py --repeats {arguments.repeats}`. "
        "K = 3, float64, well-separated clusters. scikit-learn runs with BLAS held to one "
        "thread (see the docstring); gaussmix as a user runs it (data this small take its "
        "small-data path, `gaussmix.backends.numpy.SmallDataBackend`).",
    ]
    arguments.output.write_text("\n".join(lines) + "\n")
    print(f"written to {arguments.output}")


if __name__ == "__main__":
    main()
