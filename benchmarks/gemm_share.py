"""How fast the GEMM part of a fused E-step runs, replayed alone on the same threads.

Usage::

    python benchmarks/gemm_share.py                 # P3 and P5 of issue 3, float64
    python benchmarks/gemm_share.py --dtype float32 --workloads P5

Issue 3 asks that on P3 and P5 the GEMM share of the work run at half the machine's
measured GEMM rate or better. ``bench_em.py`` reports the strict reading (GEMM FLOPs over
the whole iteration). This script gives the other: it replays exactly the products that one
fused E-step makes, with the same shapes, chunk size and thread count, and nothing else.
Those are, per chunk, the projection ``(K·D × (D + 1)) @ ((D + 1) × rows)``, and above D = 16
one ``(D × rows) @ (rows × D)`` scatter per component. From that replay it reports their
GFLOP/s against the peak (a 2048² GEMM with every core) and the fraction of a measured
E-step they take.
"""

from __future__ import annotations

import argparse
import platform
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from bench_em import WORKLOADS, Workload, e_step_inputs, gemm_peak, median_seconds
from gaussmix.backends.numpy import NumpyBackend, default_chunk_size
from gaussmix.blas_threads import one_blas_thread


def replay(n_samples, n_features, n_components, dtype, chunk, n_threads, repeats):
    """Seconds and FLOPs of the products of one fused E-step, replayed on ``n_threads``."""
    rng = np.random.default_rng(0)
    projection = rng.normal(size=(n_components * n_features, n_features + 1)).astype(dtype)
    wide = n_features > 16
    n_chunks = -(-n_samples // chunk)

    local = threading.local()

    def one_chunk(_: int) -> None:
        # Each thread keeps its own operands, as the fused path keeps per-thread scratch.
        if not hasattr(local, "operands"):
            own = np.random.default_rng()
            local.operands = (
                own.normal(size=(n_features + 1, chunk)).astype(dtype),
                np.empty((n_components * n_features, chunk), dtype),
                own.normal(size=(n_features, chunk)).astype(dtype),
                np.empty((n_features, n_features), dtype),
            )
        rows, differences, products, product = local.operands
        np.matmul(projection, rows, out=differences)
        if wide:
            for k in range(n_components):
                block = differences[k * n_features : (k + 1) * n_features]
                np.matmul(products, block.T, out=product)

    flops = 2.0 * n_samples * n_components * n_features * (n_features + 1)
    if wide:
        flops += 2.0 * n_samples * n_components * n_features * n_features
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(n_threads) as pool:
        seconds = median_seconds(lambda: list(pool.map(one_chunk, range(n_chunks))), repeats)
    return seconds, flops


def e_step_seconds(name, dtype, repeats):
    """Seconds of one fused E-step (``NumpyBackend.statistics``) on the workload."""
    workload = Workload(name, *WORKLOADS[name])
    X, parameters, scatter = e_step_inputs(workload, dtype)
    chunk = default_chunk_size(workload.n_components, workload.n_features)
    backend = NumpyBackend(X, None, chunk)
    with one_blas_thread():  # as the estimator holds it
        seconds = median_seconds(lambda: backend.statistics(parameters, scatter), repeats)
    return seconds, chunk, backend.n_threads


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["P3", "P5"], choices=list(WORKLOADS))
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    dtype = np.dtype(arguments.dtype)
    peak = gemm_peak(dtype.type)
    print(
        f"Machine: {platform.processor() or platform.machine()}; {arguments.dtype}; "
        f"GEMM peak {peak:.1f} GFLOP/s (2048², all cores)\n"
    )
    print(
        "| workload | chunk rows | threads | GEMM replay s | GEMM GFLOP/s | of peak "
        "| fused E-step s | GEMM share of the E-step |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in arguments.workloads:
        n_samples, n_features, n_components, _ = WORKLOADS[name]
        step, chunk, n_threads = e_step_seconds(name, dtype, arguments.repeats)
        seconds, flops = replay(
            n_samples, n_features, n_components, dtype, chunk, n_threads, arguments.repeats
        )
        rate = flops / seconds / 1e9
        print(
            f"| {name} | {chunk} | {n_threads} | {seconds:.4f} | {rate:.1f} | "
            f"{100 * rate / peak:.0f} % | {step:.4f} | {100 * seconds / step:.0f} % |",
            flush=True,
        )


if __name__ == "__main__":
    main()
