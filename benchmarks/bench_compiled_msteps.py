"""Per-call time of the compiled iterative M-steps against the Python models, and the
first-call compile time with an empty numba cache.

Usage::

    python benchmarks/bench_compiled_msteps.py            # per-call times (warm starts)
    python benchmarks/bench_compiled_msteps.py --compile  # compile times, in a fresh cache

Warm starts as in EM near convergence: ``previous`` is the Python model's solution for the
statistics of a nearby E-step (each W_k moved by a congruence of size 1e-2). Medians of
repeated calls; the machine is shared, so only ratios measured in one run mean much.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import linalg

MODELS = ("VEI", "VEE", "VEV", "EVE", "VVE")


def statistics(count: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_k = rng.uniform(20.0, 80.0, size=count)
    scatter = np.empty((count, d, d))
    for k in range(count):
        rows = rng.normal(size=(60, d)) * rng.uniform(0.5, 2.0, d)
        rows = rows @ linalg.qr(rng.normal(size=(d, d)))[0]
        scatter[k] = n_k[k] * (rows.T @ rows) / 60
    return n_k, scatter


def median_seconds(call, arguments: tuple, repeats: int, options=None) -> float:
    options = options or {}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(*arguments, **options)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def per_call(repeats: int) -> None:
    from gaussmix.compiled_msteps import compiled_mstep
    from gaussmix.covariance import get_covariance_model
    from gaussmix.covariance.forms import dense_covariances

    print("| model | K | D | Python (µs) | compiled (µs) | ratio |")
    print("|---|---|---|---|---|---|")
    for code in MODELS:
        model = get_covariance_model(code)
        function = compiled_mstep(code)
        for count in (3, 9):
            for d in (2, 5):
                n_k, scatter = statistics(count, d)
                rng = np.random.default_rng(1)
                moves = np.eye(d) + 1e-2 * rng.normal(size=(count, d, d))
                nearby = moves @ scatter @ np.swapaxes(moves, 1, 2)
                diagonal = model.form == "diagonal"
                reduce = (lambda w: np.einsum("kii->ki", w)) if diagonal else (lambda w: w)
                compact_previous = model.estimate(n_k, reduce(nearby), 0.0, d)
                previous = dense_covariances(compact_previous, model.form, count, d)
                reduced = reduce(scatter)
                out = np.empty_like(scatter)
                function(n_k, scatter, 0.0, previous, True, out)  # compile or load
                python = median_seconds(
                    model.estimate,
                    (n_k, reduced, 0.0, d),
                    repeats,
                    {"previous": compact_previous},
                )
                compiled = median_seconds(
                    function, (n_k, scatter, 0.0, previous, True, out), repeats * 10
                )
                print(
                    f"| {code} | {count} | {d} | {python * 1e6:.0f} | {compiled * 1e6:.1f} "
                    f"| {python / compiled:.0f}× |"
                )


def compile_times() -> None:
    """First calls in a fresh process with an empty cache, one model after the other (the
    helpers they share are compiled by the first)."""
    script = (
        "import time, numpy as np\n"
        "t = time.perf_counter()\n"
        "from gaussmix.compiled_msteps import compiled_estimate\n"
        "print(f'import numba and the module: {time.perf_counter() - t:.1f} s')\n"
        "n_k = np.array([10.0, 20.0]); w = np.stack([np.eye(3) * 10, np.eye(3) * 20])\n"
        f"for code in {MODELS!r}:\n"
        "    t = time.perf_counter(); compiled_estimate(code, n_k, w, 0.0)\n"
        "    print(f'{code}: {time.perf_counter() - t:.1f} s')\n"
    )
    with tempfile.TemporaryDirectory() as cache:
        environment = dict(os.environ, NUMBA_CACHE_DIR=cache)
        subprocess.run([sys.executable, "-c", script], env=environment, check=True, timeout=3600)
        print("again, from the cache:")
        subprocess.run([sys.executable, "-c", script], env=environment, check=True, timeout=3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true", help="measure compile times")
    parser.add_argument("--repeats", type=int, default=200)
    arguments = parser.parse_args()
    if arguments.compile:
        compile_times()
    else:
        per_call(arguments.repeats)


if __name__ == "__main__":
    main()
