"""How fast the GEMM part of a fused E-step runs, replayed alone on the same threads.

Usage::

    python benchmarks/gemm_share.py                 # workloads P3 and P5 of bench_em.py, float64
    python benchmarks/gemm_share.py --dtype float32 --workloads P5

The goal: on P3 and P5 the GEMM share of the work run at half the machine's
measured GEMM rate or better. ``bench_em.py`` reports the strict reading (GEMM FLOPs over
the whole iteration). This script gives the other: it replays exactly the products that one
fused E-step makes, with the same shapes, chunk size, blocks of chunks and thread count, and
nothing else. Those are, per chunk, the projection ``(K·D × (D + 1)) @ ((D + 1) × rows)``, and
above D = 16 one ``(D × rows) @ (rows × D)`` scatter per component, made from compiled code
(numba's ``np.dot``, one call per block as in the fused path, so that no Python time is
charged to BLAS). From that replay it reports their
GFLOP/s against the peak (a 2048² GEMM with every core) and the fraction of a measured
E-step they take.
"""

from __future__ import annotations

import argparse
import functools
import platform
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from bench_em import WORKLOADS, Workload, e_step_inputs, gemm_peak, median_seconds
from gaussmix.backends.numpy import _CHUNKS_PER_BLOCK, NumpyBackend, default_chunk_size
from gaussmix.blas_threads import one_blas_thread


@functools.cache
def _compiled_products():
    """The products of a block of chunks in one compiled call, as the fused path makes them.

    Compiled like the fused kernels (numba's ``np.dot`` calls BLAS), so that no Python
    runs between the products: per-call Python would be charged to BLAS otherwise.
    """
    import numba

    @numba.njit(nogil=True)
    def products_of_block(n_chunks, projection, rows, differences, products, product, wide):
        n_features = products.shape[0]
        n_components = differences.shape[0] // n_features
        for _ in range(n_chunks):
            np.dot(projection, rows, differences)
            if wide:
                for k in range(n_components):
                    block = differences[k * n_features : (k + 1) * n_features]
                    np.dot(products, block.T, product)

    return products_of_block


def replay(n_samples, n_features, n_components, dtype, chunk, n_threads, repeats):
    """Seconds and FLOPs of the products of one fused E-step, replayed on ``n_threads``."""
    rng = np.random.default_rng(0)
    projection = rng.normal(size=(n_components * n_features, n_features + 1)).astype(dtype)
    wide = n_features > 16
    n_chunks = -(-n_samples // chunk)
    # One task per block of chunks, as the backend submits them.
    blocks = [
        min(_CHUNKS_PER_BLOCK, n_chunks - start) for start in range(0, n_chunks, _CHUNKS_PER_BLOCK)
    ]
    products_of_block = _compiled_products()
    local = threading.local()

    def one_block(chunks_in_block: int) -> None:
        # Each thread keeps its own operands, as the fused path keeps per-thread scratch.
        if not hasattr(local, "operands"):
            own = np.random.default_rng()
            local.operands = (
                own.normal(size=(n_features + 1, chunk)).astype(dtype),
                np.empty((n_components * n_features, chunk), dtype),
                own.normal(size=(n_features, chunk)).astype(dtype),
                np.empty((n_features, n_features), dtype),
            )
        products_of_block(chunks_in_block, projection, *local.operands, wide)

    flops = 2.0 * n_samples * n_components * n_features * (n_features + 1)
    if wide:
        flops += 2.0 * n_samples * n_components * n_features * n_features
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(n_threads) as pool:
        one_block(1)  # compiles, outside the timing
        seconds = median_seconds(lambda: list(pool.map(one_block, blocks)), repeats)
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
