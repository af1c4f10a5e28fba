"""GPU check: the torch backend's equivalence tests on CUDA, and one EM iteration timed.

Usage::

    python benchmarks/gpu_check.py           # N = 10,000,000, D = 16, K = 16, float32, full
    python benchmarks/gpu_check.py --rows 200000

1. Runs ``tests/backends/test_torch.py`` (its CUDA cases run only where CUDA exists).
2. Times one EM iteration (E-step over all rows + M-step) from the same start on the
   NumPy path (float32) and on the torch backend on CUDA (float32), and on torch-CPU;
   prints a short table with the final mean log-likelihoods.

Without a CUDA device it runs the CPU part and says that the CUDA part is unrun.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_data(n_samples: int, n_features: int, n_components: int, seed: int = 0) -> np.ndarray:
    """float32 clusters, generated block by block."""
    rng = np.random.default_rng(seed)
    X = np.empty((n_samples, n_features), dtype=np.float32)
    centres = rng.normal(scale=4.0, size=(n_components, n_features)).astype(np.float32)
    for start in range(0, n_samples, 1 << 20):
        rows = X[start : start + (1 << 20)]
        rows[...] = rng.standard_normal(rows.shape, dtype=np.float32)
        rows += centres[rng.integers(0, n_components, size=rows.shape[0])]
    return X


def time_iteration(backend, parameters, model, repeats: int) -> tuple[float, float]:
    """Median seconds of one EM iteration and the mean log-likelihood it reports.

    The statistics come back to the host at the end of each E-step, which waits for the
    device, so wall-clock time is the device time.
    """
    from gaussmix.blas_threads import one_blas_thread
    from gaussmix.mstep import maximize

    times = []
    with one_blas_thread():  # as the estimator holds it during a fit
        for _ in range(repeats):
            began = time.perf_counter()
            statistics = backend.statistics(parameters, model.scatter)
            maximize(statistics, model, 1e-6)
            times.append(time.perf_counter() - began)
    return float(np.median(times)), statistics.mean_log_likelihood


def main() -> None:
    """Run the check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--components", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true")
    arguments = parser.parse_args()

    import torch

    from gaussmix.backends.numpy import NumpyBackend, default_chunk_size
    from gaussmix.backends.torch import TorchBackend
    from gaussmix.covariance import get_covariance_model
    from gaussmix.parameters import MixtureParameters

    cuda = torch.cuda.is_available()
    card = torch.cuda.get_device_name(0) if cuda else None
    print(f"CUDA: {card or 'not available — the CUDA part is unrun'}")
    if not arguments.skip_tests:
        test_file = Path(__file__).resolve().parent.parent / "tests" / "backends" / "test_torch.py"
        status = subprocess.run([sys.executable, "-m", "pytest", "-q", str(test_file)]).returncode
        print(f"equivalence tests: {'passed' if status == 0 else 'FAILED'}")

    N, D, K = arguments.rows, arguments.features, arguments.components
    X = make_data(N, D, K)
    rng = np.random.default_rng(1)
    parameters = MixtureParameters(
        weights=np.full(K, 1.0 / K),
        means=X[rng.choice(N, K, replace=False)].astype(np.float64),
        covariances=np.broadcast_to(4.0 * np.eye(D), (K, D, D)).copy(),
        precisions_cholesky=np.broadcast_to(0.5 * np.eye(D), (K, D, D)).copy(),
        form="full",
    )
    model = get_covariance_model("full")
    rows = [("numpy (float32)", NumpyBackend(X, None, default_chunk_size(K, D)))]
    rows.append(("torch-CPU (float32)", TorchBackend(X, None, None, "cpu", n_components=K)))
    if cuda:
        rows.append((f"torch {card} (float32)", TorchBackend(X, None, None, "cuda", K)))
    print(f"\nOne EM iteration, N = {N:,}, D = {D}, K = {K}, full covariance")
    print("| path | seconds / iteration | speed-up vs numpy | mean log-likelihood |")
    print("|---|---|---|---|")
    reference = None
    for name, backend in rows:
        seconds, log_likelihood = time_iteration(backend, parameters, model, arguments.repeats)
        reference = reference or seconds
        print(f"| {name} | {seconds:.3f} | {reference / seconds:.1f}× | {log_likelihood:.8f} |")
    if not cuda:
        print("\nCUDA part unrun: no CUDA device here.")


if __name__ == "__main__":
    main()
