"""Rows per second of streamed exact EM from Parquet files, against in-memory and Dask fits.

Run from the repository root (needs pyarrow, pandas; Dask for the third line)::

    python benchmarks/bench_stream.py                        # 4,000,000 × 8, K = 8, full
    python benchmarks/bench_stream.py --rows 1000000 --repeats 3
    python benchmarks/bench_stream.py --online-only           # online EM on 10⁶ rows

Every path starts from the same parameters and runs a fixed number of iterations
(``tol=0``), timed per iteration by the progress callback (median of the iterations
after the first). The times are taken in rounds in one process, every path once per
round (the shared machine's load drifts by a factor of two within minutes); the median
over rounds is reported, with every round's value. Peak resident memory (``ru_maxrss``)
is measured apart, each path in a fresh process; its baseline is that process's memory
after the imports and one tiny fit (numba's kernels loaded), before any data is read.

- in memory: the files read whole with pyarrow into one NumPy array, then ``fit``;
- streamed: ``fit`` on the list of Parquet files (row groups read one at a time with
  pyarrow, the next while the current one is summed);
- Dask: ``fit`` on ``dask.dataframe.read_parquet`` of the same files (threads scheduler,
  ``persist=False``: the files re-read every iteration).

``--online`` adds online EM (``partial_fit``) on 10⁶ simulated rows in batches of
1,000 against batch EM, the issue's acceptance case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def write_parquet(folder: Path, args: argparse.Namespace) -> list[Path]:
    """Write the mixture to ``args.files`` Parquet files of row groups of ``args.row_group``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(args.seed)
    centres = rng.normal(scale=5.0, size=(args.components, args.features))
    names = [f"x{index}" for index in range(args.features)]
    per_file = -(-args.rows // args.files)
    paths = []
    for number, start in enumerate(range(0, args.rows, per_file)):
        rows = min(per_file, args.rows - start)
        labels = rng.integers(0, args.components, size=rows)
        block = (centres[labels] + rng.standard_normal((rows, args.features))).astype(args.dtype)
        table = pa.table({name: block[:, column] for column, name in enumerate(names)})
        path = folder / f"part-{number:03d}.parquet"
        pq.write_table(table, path, row_group_size=args.row_group, compression=args.compression)
        paths.append(path)
    return paths


def _start(paths: list[Path], components: int) -> dict:
    """Starting parameters from k-means on the first row group (the same for every path)."""
    import pyarrow.parquet as pq

    from gaussmix import GaussianMixture

    first = pq.ParquetFile(paths[0]).read_row_group(0).to_pandas().to_numpy()
    model = GaussianMixture(components, random_state=0, max_iter=0).fit(first)
    return {
        "weights_init": model.weights_.tolist(),
        "means_init": model.means_.tolist(),
        "precisions_init": model.precisions_.tolist(),
    }


def _inputs(path_kind: str, folder: Path) -> object:
    """What ``fit`` receives on one path."""
    paths = sorted(folder.glob("*.parquet"))
    if path_kind == "memory":
        import pyarrow.parquet as pq

        # C order, as the in-memory executor prefers (a pandas frame gives Fortran order).
        return np.ascontiguousarray(
            np.concatenate([pq.read_table(p).to_pandas().to_numpy() for p in paths])
        )
    if path_kind == "streamed":
        return paths
    import dask.dataframe as dd

    return dd.read_parquet(str(folder))


def _seconds_per_iteration(X: object, start: dict, iterations: int) -> tuple[float, float]:
    """Median seconds per iteration after the first, and the final mean log-likelihood."""
    from sklearn.exceptions import ConvergenceWarning

    from gaussmix import GaussianMixture

    stamps: list[float] = []
    model = GaussianMixture(
        len(start["weights_init"]),
        max_iter=iterations,
        tol=0.0,
        callback=lambda info: stamps.append(info.elapsed),
        persist=False,
        **start,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return float(np.median(np.diff(stamps))), float(model.log_likelihood_)


def _warm_up(start: dict) -> None:
    """Every import and numba's kernels loaded before anything is measured."""
    from gaussmix import GaussianMixture

    rows = np.random.default_rng(0).normal(size=(5000, start["means_init"].shape[1]))
    GaussianMixture(start["means_init"].shape[0], random_state=0).fit(rows)


def measure(path_kind: str, folder: Path, iterations: int, components: int) -> dict:
    """Peak memory of one path above its process's baseline (run in its own process)."""
    start = {
        key: np.asarray(value)
        for key, value in _start(sorted(folder.glob("*.parquet")), components).items()
    }
    _warm_up(start)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, log_likelihood = _seconds_per_iteration(_inputs(path_kind, folder), start, iterations)
    return {
        "path": path_kind,
        "seconds_per_iteration": seconds,
        "baseline_mib": baseline / 1024,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "log_likelihood": log_likelihood,
    }


def interleaved_timing(
    folder: Path, kinds: list[str], iterations: int, components: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per iteration of every path, the paths taking turns in one process.

    The machine's load drifts by a factor of two within minutes, so the paths are timed
    in rounds, each round running every path once, in this one process.
    """
    start = {
        key: np.asarray(value)
        for key, value in _start(sorted(folder.glob("*.parquet")), components).items()
    }
    _warm_up(start)
    inputs = {kind: _inputs(kind, folder) for kind in kinds}
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(repeats):
        for kind in kinds:
            times[kind].append(_seconds_per_iteration(inputs[kind], start, iterations)[0])
    return times


def online_case(seed: int = 2) -> dict:
    """Online EM on 10⁶ rows in batches of 1,000 against batch EM (two components, D = 2)."""
    from gaussmix import GaussianMixture

    rng = np.random.default_rng(seed)
    n_rows = 1_000_000
    first = rng.random(n_rows) < 0.6
    X = np.where(
        first[:, None],
        rng.normal(size=(n_rows, 2)) @ np.array([[1.0, 0.4], [0.0, 0.8]]),
        rng.normal([4.0, 3.0], 0.7, size=(n_rows, 2)),
    )
    began = time.perf_counter()
    batch = GaussianMixture(2, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    batch_seconds = time.perf_counter() - began
    online = GaussianMixture(2, random_state=0)
    began = time.perf_counter()
    for start in range(0, n_rows, 1000):
        online.partial_fit(X[start : start + 1000])
    online_seconds = time.perf_counter() - began
    order, online_order = np.argsort(batch.means_[:, 0]), np.argsort(online.means_[:, 0])
    n_k = batch.weights_[order] * n_rows
    variances = np.diagonal(batch.covariances_[order], axis1=1, axis2=2)
    mean_errors = np.abs(online.means_[online_order] - batch.means_[order])
    return {
        "batch_seconds": batch_seconds,
        "batch_iterations": int(batch.n_iter_),
        "online_seconds": online_seconds,
        "log_likelihood_difference": float(online.score(X) - batch.score(X)),
        "largest_mean_error_in_standard_errors": float(
            np.max(mean_errors / np.sqrt(variances / n_k[:, None]))
        ),
    }


def overlapping_case(seed: int = 2) -> dict:
    """Online EM where components overlap (three, D = 2, 10⁶ rows): α = 1 against α = 0.6."""
    from gaussmix import GaussianMixture

    rng = np.random.default_rng(seed)
    n_rows = 1_000_000
    means = np.array([[0.0, 0.0], [2.5, 0.0], [0.0, 3.0]])
    labels = rng.choice(3, n_rows, p=[0.5, 0.3, 0.2])
    X = means[labels] + rng.normal(size=(n_rows, 2)) * np.array([1.0, 0.6, 0.8])[labels, None]
    batch = GaussianMixture(3, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    order = np.lexsort(batch.means_.T)
    result = {"batch_iterations": int(batch.n_iter_)}
    for decay in (1.0, 0.6):
        online = GaussianMixture(3, random_state=0, learning_rate_decay=decay)
        for start in range(0, n_rows, 1000):
            online.partial_fit(X[start : start + 1000])
        online_order = np.lexsort(online.means_.T)
        result[f"alpha_{decay}"] = {
            "log_likelihood_difference": float(online.score(X) - batch.score(X)),
            "largest_mean_error": float(
                np.max(np.abs(online.means_[online_order] - batch.means_[order]))
            ),
        }
    return result


def _machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


def _run_path(kind: str, folder: Path, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--measure", kind, "--folder", str(folder),
        "--iterations", str(args.iterations), "--components", str(args.components),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--row-group", type=int, default=100_000)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--compression", default="snappy", help="of the Parquet files")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--online", action="store_true", help="also the online EM case")
    parser.add_argument("--online-only", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        result = measure(args.measure, Path(args.folder), args.iterations, args.components)
        print(json.dumps(result))
        return
    print(_machine())
    if not args.online_only:
        with tempfile.TemporaryDirectory() as folder:
            paths = write_parquet(Path(folder), args)
            size = sum(path.stat().st_size for path in paths) / 2**20
            print(
                f"{args.rows:,} rows × {args.features} ({args.dtype}), K = {args.components}, "
                f"full; {len(paths)} files, row groups of {args.row_group:,}, {args.compression}, "
                f"{size:.0f} MiB on disk"
            )
            kinds = ["memory", "streamed"] + ([] if args.skip_dask else ["dask"])
            # Peak memory: each path in a fresh process.
            memory = {kind: _run_path(kind, Path(folder), args) for kind in kinds}
            times = interleaved_timing(
                Path(folder), kinds, args.iterations, args.components, args.repeats
            )
            reference = float(np.median(times["memory"]))
            print(
                "| path | s / iteration (each round) | rows / s | vs in memory "
                "| peak MiB (baseline) |"
            )
            print("|---|---|---|---|---|")
            for kind in kinds:
                seconds = float(np.median(times[kind]))
                each = ", ".join(f"{value:.2f}" for value in times[kind])
                print(
                    f"| {kind} | {seconds:.3f} ({each}) | {args.rows / seconds:,.0f} | "
                    f"{reference / seconds:.2f}× | {memory[kind]['peak_mib']:.0f} "
                    f"({memory[kind]['baseline_mib']:.0f}) |"
                )
    if args.online or args.online_only:
        print(json.dumps(online_case(), indent=1))
        print(json.dumps(overlapping_case(), indent=1))


if __name__ == "__main__":
    main()
