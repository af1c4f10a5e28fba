"""Rows per second per EM iteration: Zarr data on a 2-worker Dask LocalCluster vs in-memory NumPy.

Run from the repository root (needs ``pip install -e '.[dask]'``)::

    python benchmarks/bench_dask.py                      # N = 20,000,000, D = 8, K = 8, full
    python benchmarks/bench_dask.py --rows 2000000       # a smaller run

Both paths start from the same parameters and run a fixed number of iterations
(``tol=0``), timed per iteration by the estimator's progress callback. The Dask
fit re-reads the Zarr file at every iteration (``persist=False``, the out-of-core mode)
and, as a second line, keeps it in the workers' memory (``persist=True``). The overhead
of Dask per iteration is measured on small data, where the arithmetic is negligible.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import warnings

import dask
import dask.array as da
import numpy as np
import zarr
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix.em import IterationInfo

CHUNK_ROWS = 500_000


def write_zarr(path: str, n_rows: int, n_features: int, n_components: int, seed: int) -> None:
    """Write a float32 mixture of well-separated Gaussians to Zarr, one chunk at a time."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(n_components, n_features))
    store = zarr.open_array(
        path, mode="w", shape=(n_rows, n_features), chunks=(CHUNK_ROWS, n_features), dtype="f4"
    )
    for start in range(0, n_rows, CHUNK_ROWS):
        rows = min(CHUNK_ROWS, n_rows - start)
        labels = rng.integers(0, n_components, size=rows)
        block = centres[labels] + rng.standard_normal((rows, n_features))
        store[start : start + rows] = block.astype(np.float32)


def seconds_per_iteration(X, start: GaussianMixture, iterations: int, **options) -> float:
    """Median wall time of one EM iteration (the first, which may warm caches, is dropped)."""
    stamps: list[float] = []

    def record(info: IterationInfo) -> None:
        stamps.append(info.elapsed)

    model = GaussianMixture(
        start.n_components,
        covariance_type="full",
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        max_iter=iterations,
        tol=0.0,
        callback=record,
        **options,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return float(np.median(np.diff(stamps)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--skip-persisted", action="store_true")
    args = parser.parse_args()

    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}")
    print(f"load average at start: {os.getloadavg()}")
    workdir = tempfile.mkdtemp(prefix="gaussmix-bench-dask-")
    path = os.path.join(workdir, "rows.zarr")
    try:
        started = time.perf_counter()
        write_zarr(path, args.rows, args.features, args.components, seed=0)
        print(
            f"wrote {args.rows:,} x {args.features} float32 to Zarr in "
            f"{time.perf_counter() - started:.1f} s"
        )
        X_lazy = da.from_zarr(path)
        X_memory = X_lazy.compute(scheduler="threads")
        # One start for every path: a short fit on a subsample.
        start = GaussianMixture(args.components, covariance_type="full", max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start.fit(X_memory[:: max(1, args.rows // 50_000)])

        # Small data first, while no client is active, for the local schedulers.
        small = X_memory[: args.small_rows].astype(np.float64)
        small_numpy = seconds_per_iteration(small, start, 30)
        small_threads = seconds_per_iteration(
            da.from_array(small, chunks=small.shape), start, 30, persist=True
        )
        with dask.config.set(scheduler="synchronous"):
            small_sync = seconds_per_iteration(
                da.from_array(small, chunks=small.shape), start, 30, persist=True
            )

        rows: list[tuple[str, float]] = []
        numpy_seconds = seconds_per_iteration(X_memory, start, args.iterations)
        rows.append(("numpy, in memory, 1 process", numpy_seconds))
        print(f"{rows[-1][0]}: {numpy_seconds:.2f} s / iteration", flush=True)
        with (
            LocalCluster(
                n_workers=args.workers, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            Client(cluster),
        ):
            dask_seconds = seconds_per_iteration(X_lazy, start, args.iterations, persist=False)
            name = f"dask, Zarr re-read each iteration, {args.workers} workers"
            rows.append((name, dask_seconds))
            print(f"{name}: {dask_seconds:.2f} s / iteration", flush=True)
            if not args.skip_persisted:
                persisted = seconds_per_iteration(X_lazy, start, args.iterations, persist=True)
                rows.append((f"dask, persisted in {args.workers} workers", persisted))

            small_cluster = seconds_per_iteration(
                da.from_array(small, chunks=small.shape), start, 30, persist=True
            )

        print(f"\nN = {args.rows:,}, D = {args.features}, K = {args.components}, float32, full\n")
        print("| path | seconds / iteration | rows / second |")
        print("|---|---|---|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.2f} | {args.rows / seconds:,.0f} |")
        print(f"\nDask overhead per iteration on {args.small_rows:,} rows (1 chunk):\n")
        print("| scheduler | seconds / iteration | overhead vs numpy |")
        print("|---|---|---|")
        print(f"| numpy (no Dask) | {small_numpy:.4f} | - |")
        for name, seconds in (
            (f"distributed LocalCluster, {args.workers} workers", small_cluster),
            ("threads (default)", small_threads),
            ("synchronous", small_sync),
        ):
            print(f"| {name} | {seconds:.4f} | {seconds - small_numpy:+.4f} |")
        print(f"\nload average at end: {os.getloadavg()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
