"""Missing values: seconds per EM iteration with NaN, and imputation error against peers.

Usage::

    python benchmarks/bench_missing.py            # both parts, writes results_missing.md
    python benchmarks/bench_missing.py --quick    # 1/10 of the rows, a sanity run

Part 1, speed: 100,000 × 8 float64 rows of a 5-component mixture, K = 5, full
covariances; 0 %, 5 % and 20 % of the entries removed completely at random (MCAR). One
iteration is the E-step of the executor that ``missing="em"`` builds (complete rows on
the ordinary executor, the others grouped by pattern) plus the M-step, from the same
parameters; repeated, the three fractions interleaved so that a busy machine slows all
alike; medians reported. The one-off grouping of rows by pattern is timed apart.

Part 2, accuracy: root-mean-square error of the imputed entries on mixture data
(2,000 × 5, three correlated components) at 5 %, 20 % and 40 % MCAR, for
``GaussianMixtureImputer(3)``, column means (``SimpleImputer``), ``IterativeImputer``
(scikit-learn's default, BayesianRidge) and ``KNNImputer(5)``; three data sets each,
mean reported. Rows left with no observed entry are given back one entry (so every
method sees the same holes; ``fit`` refuses rows with nothing observed).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from gaussmix import GaussianMixture, GaussianMixtureImputer
from gaussmix.arrays import ExecutorOptions, make_executor
from gaussmix.blas_threads import one_blas_thread
from gaussmix.covariance import get_covariance_model
from gaussmix.missing import group_patterns
from gaussmix.mstep import maximize

HERE = Path(__file__).parent


def _mixture(n: int, n_features: int, n_components: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (n_components, n_features))
    labels = rng.integers(0, n_components, n)
    mixing = [
        np.linalg.cholesky(np.cov(rng.standard_normal((n_features, 3 * n_features))))
        for _ in range(n_components)
    ]
    noise = rng.standard_normal((n, n_features))
    return centres[labels] + np.einsum("nd,ned->ne", noise, np.array(mixing)[labels])


def _holes(X: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    holes = rng.random(X.shape) < fraction
    empty = np.flatnonzero(holes.all(axis=1))
    holes[empty, rng.integers(0, X.shape[1], empty.size)] = False
    out = X.copy()
    out[holes] = np.nan
    return out


def time_iterations(n: int, repeats: int) -> list[dict]:
    X = _mixture(n, 8, 5, seed=0)
    model = get_covariance_model("full")
    start = GaussianMixture(5, max_iter=5, tol=0.0, random_state=0).fit(X)
    parameters = start._fitted_parameters()
    cases = {fraction: _holes(X, fraction, seed=1) for fraction in (0.0, 0.05, 0.20)}
    options = ExecutorOptions(missing="em")
    executors = {}
    setup = {}
    for fraction, data in cases.items():
        began = time.perf_counter()
        executors[fraction] = make_executor(data, None, options, 5)
        setup[fraction] = time.perf_counter() - began
    seconds: dict[float, list[float]] = {fraction: [] for fraction in cases}
    with one_blas_thread():
        for _ in range(repeats):
            for fraction, executor in executors.items():
                began = time.perf_counter()
                statistics_ = executor.statistics(parameters, model.scatter)
                maximize(statistics_, model, 1e-6, previous=parameters)
                seconds[fraction].append(time.perf_counter() - began)
    rows = []
    base = statistics.median(seconds[0.0])
    for fraction, data in cases.items():
        incomplete = int(np.isnan(data).any(axis=1).sum())
        rows.append(
            {
                "fraction": fraction,
                "incomplete_rows": incomplete,
                "patterns": len(group_patterns(data)) if incomplete else 0,
                "median": statistics.median(seconds[fraction]),
                "ratio": statistics.median(seconds[fraction]) / base,
                "setup": setup[fraction],
            }
        )
    return rows


def imputation_errors(n: int, seeds: int) -> list[dict]:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    methods = {
        "GaussianMixtureImputer(3)": lambda seed: GaussianMixtureImputer(3, random_state=seed),
        "mean (SimpleImputer)": lambda seed: SimpleImputer(),
        "IterativeImputer": lambda seed: IterativeImputer(random_state=seed, max_iter=20),
        "KNNImputer(5)": lambda seed: KNNImputer(n_neighbors=5),
    }
    rows = []
    for fraction in (0.05, 0.20, 0.40):
        errors: dict[str, list[float]] = {name: [] for name in methods}
        for seed in range(seeds):
            X = _mixture(n, 5, 3, seed=10 + seed)
            holes_X = _holes(X, fraction, seed=20 + seed)
            holes = np.isnan(holes_X)
            for name, build in methods.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    filled = build(seed).fit_transform(holes_X)
                errors[name].append(float(np.sqrt(np.mean((filled[holes] - X[holes]) ** 2))))
        rows.append({"fraction": fraction, **{k: float(np.mean(v)) for k, v in errors.items()}})
    return rows


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores available, Python "
        f"{platform.python_version()}, NumPy {np.__version__}"
    )


def _report(speed: list[dict], accuracy: list[dict], n: int, repeats: int) -> str:
    lines = [
        "# Missing values: EM iteration time and imputation error",
        "",
        f"Machine: {_machine()}. **Shared machine** (other jobs ran at the same time): "
        "timings are medians of interleaved repeats and still noisy.",
        "Produced by `python benchmarks/bench_missing.py`.",
        "",
        f"## Seconds per EM iteration ({n:,} × 8, K = 5, full, MCAR; median of {repeats})",
        "",
        "| missing entries | incomplete rows | patterns | s / iteration | × complete | "
        "grouping once (s) |",
        "|---|---|---|---|---|---|",
    ]
    for row in speed:
        lines.append(
            f"| {row['fraction']:.0%} | {row['incomplete_rows']:,} | {row['patterns']} | "
            f"{row['median']:.4f} | {row['ratio']:.2f} | {row['setup']:.3f} |"
        )
    names = [key for key in accuracy[0] if key != "fraction"]
    lines += [
        "",
        "## Imputation RMSE (2,000 × 5, three correlated components; mean of 3 data sets)",
        "",
        "| MCAR | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for row in accuracy:
        lines.append(
            f"| {row['fraction']:.0%} | " + " | ".join(f"{row[name]:.3f}" for name in names) + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/10 of the rows, not written")
    parser.add_argument("--repeats", type=int, default=9)
    arguments = parser.parse_args()
    n = 10_000 if arguments.quick else 100_000
    speed = time_iterations(n, arguments.repeats)
    accuracy = imputation_errors(500 if arguments.quick else 2_000, 1 if arguments.quick else 3)
    text = _report(speed, accuracy, n, arguments.repeats)
    print(text)
    if not arguments.quick:
        (HERE / "results_missing.md").write_text(text)


if __name__ == "__main__":
    main()
