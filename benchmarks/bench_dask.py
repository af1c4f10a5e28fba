"""Rows per second per EM iteration: Dask LocalClusters from Zarr and Parquet vs in-memory NumPy.

Run from the repository root (needs ``pip install -e '.[dask,fast]'`` and pyarrow)::

    python benchmarks/bench_dask.py                       # N = 4,000,000, D = 8, K = 8, full
    python benchmarks/bench_dask.py --rows 20000000       # the 20M run (about 2.6 GB on disk)

One run measures, from the same start and for a fixed number of iterations (``tol=0``,
timed per iteration by the estimator's progress callback, median after the first):

- in memory (NumPy, the fused kernels on every core), float32 and float64, before and
  after every Dask line (a Dask line's ratio is to the mean of the two beside it);
- a LocalCluster of 2 worker processes × 1 thread, and of 2 worker threads in this process,
  each reading the same rows from Zarr and from Parquet, ``persist`` off and on, float32 and
  float64: rows per second and the ratio to in memory;
- CPU seconds of one iteration, of this process and the worker processes together (read
  from ``/proc``): on a shared machine the other jobs move wall times far more than CPU times;
- for persisted data, how the chunks lie on the workers; the bytes moved between workers
  during the fit, persist included, and from the end of the first iteration on (0 when no
  task re-schedules the data);
- the Dask overhead of one iteration: EM on small data cut into as many chunks as the big
  data, against a no-op graph of the same shape (scattered parameters, one task per chunk,
  the fan-in-8 sum), both on the cluster.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import shutil
import tempfile
import time
import uuid
import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import zarr
from distributed import Client, LocalCluster, wait
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix.backends import dask as dask_backend
from gaussmix.backends.numpy import default_n_threads
from gaussmix.em import IterationInfo

CHUNK_ROWS = 500_000


def make_rows(n_rows: int, n_features: int, n_components: int, seed: int):
    """Blocks of a mixture of well-separated Gaussians, float64, CHUNK_ROWS at a time."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(n_components, n_features))
    for start in range(0, n_rows, CHUNK_ROWS):
        rows = min(CHUNK_ROWS, n_rows - start)
        labels = rng.integers(0, n_components, size=rows)
        yield start, centres[labels] + rng.standard_normal((rows, n_features))


def write_sources(workdir: str, args: argparse.Namespace, dtype: str) -> tuple[str, str]:
    """The same rows as one Zarr array and as a directory of Parquet files (one per chunk)."""
    zarr_path = os.path.join(workdir, f"rows-{dtype}.zarr")
    parquet_path = os.path.join(workdir, f"rows-{dtype}.parquet")
    os.makedirs(parquet_path)
    shape = (args.rows, args.features)
    store = zarr.open_array(
        zarr_path, mode="w", shape=shape, chunks=(CHUNK_ROWS, args.features), dtype=dtype
    )
    columns = [f"x{j}" for j in range(args.features)]
    for start, block in make_rows(args.rows, args.features, args.components, seed=0):
        block = block.astype(dtype)
        store[start : start + block.shape[0]] = block
        frame = pd.DataFrame(block, columns=columns)
        frame.to_parquet(os.path.join(parquet_path, f"part-{start // CHUNK_ROWS:05d}.parquet"))
    return zarr_path, parquet_path


def seconds_per_iteration(
    X, start: GaussianMixture, iterations: int, cpu=None, client=None, **options
):
    """(median seconds of one EM iteration after the first, seconds of the whole fit,
    median CPU seconds of one iteration: this process and ``cpu``'s worker processes,
    bytes the workers sent each other from the end of the first iteration on)."""
    stamps: list[float] = []
    cpu_stamps: list[float] = []
    clock = cpu or time.process_time
    sent = []

    def record(info: IterationInfo) -> None:
        if not stamps and client is not None:
            # In the first interval, which the median leaves out.
            sent.append(moved_bytes(client))
        stamps.append(time.perf_counter())
        cpu_stamps.append(clock())

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
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    moved = moved_bytes(client) - sent[0] if sent else 0
    return (
        float(np.median(np.diff(stamps)[1:])),
        time.perf_counter() - began,
        float(np.median(np.diff(cpu_stamps)[1:])),
        moved,
    )


def cpu_clock(client: Client | None):
    """CPU seconds of this process and of the client's worker processes on this machine.

    Read from ``/proc`` (no message to the workers, so the clock does not slow the
    iterations it times). On a shared machine the wall time of an iteration depends on
    the other jobs; its CPU time much less.
    """
    pids = []
    if client is not None:
        pids = [pid for pid in client.run(os.getpid).values() if pid != os.getpid()]
    tick = os.sysconf("SC_CLK_TCK")

    def clock() -> float:
        total = time.process_time()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    return clock


def moved_bytes(client: Client) -> int:
    """Bytes the workers have sent to each other so far."""
    sent = client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
    return int(sum(sent.values()))


def placement(client: Client, X) -> str:
    """How many chunks of a persisted X each worker holds, e.g. '4/4'."""
    held = collections.Counter(
        worker for workers in client.who_has(X).values() for worker in workers
    )
    return "/".join(str(held[worker]) for worker in sorted(client.scheduler_info()["workers"]))


def _no_op(block, parameters):
    return np.zeros(8 * (1 + 8 + 64) + 2)


def _add(parts):
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def no_op_seconds(client: Client, X, scatter: bool, repeats: int = 20) -> float:
    """Median seconds of a graph shaped like an E-step whose tasks do nothing.

    The parameters (600 float64, what K = D = 8 prepares) are one graph node, as the
    executor has them, or scattered to every worker first (``scatter=True``).
    """
    blocks = list(X.to_delayed().ravel())
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        if scatter:
            shared = client.scatter(np.zeros(600), broadcast=True, hash=False)
        else:
            shared = dask.delayed(np.zeros(600), name=f"parameters-{uuid.uuid4().hex}")
        parts = [dask.delayed(_no_op, pure=True)(block, shared) for block in blocks]
        while len(parts) > 1:
            parts = [
                dask.delayed(_add, pure=True)(parts[i : i + 8]) for i in range(0, len(parts), 8)
            ]
        dask.compute(parts[0])
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def from_parquet(path: str):
    return dd.read_parquet(path)


def cluster_rows(args, kind: str, sources: dict, start) -> tuple[list, dict]:
    """Every Dask line of one cluster kind, each beside in-memory lines, and the overhead."""
    lines = []
    processes = kind == "processes"
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        clock = cpu_clock(client)
        for dtype, (zarr_path, parquet_path) in sources.items():
            X_memory = da.from_zarr(zarr_path).compute(scheduler="threads")
            # In memory before and after every Dask line: on a shared machine the load
            # drifts, and a ratio holds only between lines measured close together.
            before = in_memory_line(X_memory, start, args, clock)
            print(before[2], flush=True)
            for source, read in (("Zarr", da.from_zarr), ("Parquet", from_parquet)):
                path = zarr_path if source == "Zarr" else parquet_path
                for persist in (False, True):
                    sent = moved_bytes(client)
                    seconds, total, cpu, in_em = seconds_per_iteration(
                        read(path), start, args.iterations, clock, client, persist=persist
                    )
                    moved = (moved_bytes(client) - sent, in_em)
                    where = "-"
                    if persist:
                        X = dask_backend.check_dask_data(
                            GaussianMixture(start.n_components), read(path), reset=True
                        )
                        X, _ = dask_backend.persist_rows(X, None, client)
                        wait(list(X.__dask_graph__().values()))
                        where = placement(client, X)
                        del X
                    after = in_memory_line(X_memory, start, args, clock)
                    memory = ((before[0] + after[0]) / 2, (before[1] + after[1]) / 2)
                    line = (kind, source, dtype, persist, seconds, total, cpu, moved, where)
                    lines.append(line)
                    print(format_line(line, args.rows, memory), flush=True)
                    print(after[2], flush=True)
                    before = after
            del X_memory
        # The overhead of one iteration, on small data cut into as many chunks as the big.
        n_chunks = -(-args.rows // CHUNK_ROWS)
        # Rows of the benchmark's own mixture, so that the start fits them (no re-seeding).
        small = da.from_zarr(sources["float64"][0] if "float64" in sources else zarr_path)
        small = small[: n_chunks * 1_000].compute().astype(np.float64)
        small_lazy = da.from_array(small, chunks=(1_000, args.features)).persist()
        wait(small_lazy)
        em_small = seconds_per_iteration(small_lazy, start, 30, persist=True)[0]
        overhead = {
            "em_small": em_small,
            "no_op": no_op_seconds(client, small_lazy, scatter=False),
            "no_op_scatter": no_op_seconds(client, small_lazy, scatter=True),
        }
    overhead["em_small_numpy"] = seconds_per_iteration(small, start, 30)[0]
    return lines, overhead


def in_memory_line(X_memory, start, args, clock) -> tuple[float, float, str]:
    """(seconds, CPU seconds) per iteration in memory (NumPy, fused, every core), and its line.

    The threads are the executor's own count: a Nanny leaves ``OMP_NUM_THREADS=1`` in
    this process's environment, which gaussmix does not take for a limit.
    """
    seconds, _, cpu, _ = seconds_per_iteration(X_memory, start, args.iterations, clock)
    text = (
        f"| in memory, NumPy fused, {default_n_threads()} threads | - | {X_memory.dtype} | - | "
        f"{seconds:.3f} | {args.rows / seconds / 1e6:.2f} M | 1 | | {cpu:.2f} | | |"
    )
    return seconds, cpu, text


def format_line(line, n_rows: int, memory: tuple[float, float]) -> str:
    kind, source, dtype, persist, seconds, total, cpu, moved, where = line
    return (
        f"| LocalCluster, 2 {kind} | {source} | {dtype} | {persist} | {seconds:.3f} | "
        f"{n_rows / seconds / 1e6:.2f} M | {memory[0] / seconds:.2f} | {total:.1f} | "
        f"{cpu:.2f} ({memory[1] / cpu:.2f}) | {moved[0] / 1e6:.1f} ({moved[1] / 1e6:.1f}) | "
        f"{where} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--clusters", default="processes,threads")
    args = parser.parse_args()

    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}")
    print(f"load average at start: {os.getloadavg()}")
    workdir = tempfile.mkdtemp(prefix=f"gaussmix-bench-dask-{uuid.uuid4().hex[:6]}-")
    try:
        print(
            "| path | source | dtype | persist | s / iteration | rows / s | vs in memory | "
            "fit s | CPU s / iteration (in memory's / this) | MB moved between workers "
            "(after the first iteration) | "
            "chunks per worker |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        sources = {}
        start = None
        for dtype in args.dtypes.split(","):
            began = time.perf_counter()
            sources[dtype] = write_sources(workdir, args, dtype)
            seconds = time.perf_counter() - began
            print(f"(wrote {args.rows:,} x {args.features} {dtype} in {seconds:.1f} s)")
            if start is None:
                # One start for every path: a short fit on a subsample.
                X_memory = da.from_zarr(sources[dtype][0]).compute(scheduler="threads")
                start = GaussianMixture(
                    args.components, covariance_type="full", max_iter=5, random_state=0
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start.fit(X_memory[:: max(1, args.rows // 50_000)].astype(np.float64))
                del X_memory
        overheads = {}
        for kind in args.clusters.split(","):
            _, overheads[kind] = cluster_rows(args, kind, sources, start)
        n_chunks = -(-args.rows // CHUNK_ROWS)
        print(f"\nOverhead of one iteration, {n_chunks} chunks of 1,000 float64 rows:\n")
        print(
            "| cluster | EM s / iteration | NumPy s / iteration | no-op graph s "
            "| no-op graph, parameters scattered s |"
        )
        print("|---|---|---|---|---|")
        for kind, values in overheads.items():
            print(
                f"| 2 {kind} | {values['em_small']:.4f} | {values['em_small_numpy']:.4f} | "
                f"{values['no_op']:.4f} | {values['no_op_scatter']:.4f} |"
            )
        print(f"\nload average at end: {os.getloadavg()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
