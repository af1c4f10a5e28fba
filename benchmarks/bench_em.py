"""Seconds per EM iteration: gaussmix against scikit-learn, same data, same start, interleaved.

Usage::

    python benchmarks/bench_em.py            # workloads P1–P5, writes results.md
    python benchmarks/bench_em.py --quick    # the same at 1/20 of the rows, a sanity run

For every workload both libraries fit the same float64 data from the same
``weights_init``/``means_init``/``precisions_init`` with ``tol=0`` and a fixed number of
iterations; the fits alternate (scikit-learn, gaussmix float64, gaussmix float32,
gaussmix on torch-CPU) and each is repeated, so that a busy machine slows all of them
alike; the table reports medians. Peak memory is measured in a separate child process
for each side (peak RSS during ``fit`` minus RSS before it), so the peaks do not mask
each other.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORKLOADS = {
    "P1": (1_000_000, 2, 3, "full"),
    "P2": (1_000_000, 8, 8, "full"),
    "P3": (200_000, 16, 16, "full"),
    "P4": (1_000_000, 8, 8, "diag"),
    "P5": (100_000, 64, 32, "full"),
}


@dataclass(frozen=True)
class Workload:
    """One benchmark case: N rows, D features, K components, a covariance type."""

    name: str
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str


def make_data(workload: Workload, seed: int = 0) -> np.ndarray:
    """Well-separated Gaussian clusters, generated block by block (small temporaries)."""
    rng = np.random.default_rng(seed)
    X = np.empty((workload.n_samples, workload.n_features))
    centres = rng.normal(scale=4.0, size=(workload.n_components, workload.n_features))
    block = 65536
    for start in range(0, workload.n_samples, block):
        rows = X[start : start + block]
        rng.standard_normal(out=rows)
        rows += centres[rng.integers(0, workload.n_components, size=rows.shape[0])]
    return X


def starting_point(X: np.ndarray, workload: Workload, seed: int = 1) -> dict:
    """The same start for every library: data points as means, unit precisions."""
    rng = np.random.default_rng(seed)
    K, D = workload.n_components, workload.n_features
    means = X[rng.choice(X.shape[0], size=K, replace=False)]
    precisions = {
        "full": np.broadcast_to(np.eye(D) / 4.0, (K, D, D)).copy(),
        "tied": np.eye(D) / 4.0,
        "diag": np.full((K, D), 0.25),
        "spherical": np.full(K, 0.25),
    }[workload.covariance_type]
    return {"weights_init": np.full(K, 1.0 / K), "means_init": means, "precisions_init": precisions}


def median_seconds(function, repeats: int = 7) -> float:
    """Median wall-clock seconds of ``function()`` after one untimed warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def e_step_inputs(workload: Workload, dtype: str) -> tuple[np.ndarray, object, str]:
    """The workload's data in ``dtype``, realistic parameters and the model's scatter kind.

    The parameters are those after one EM iteration from :func:`starting_point`, for the
    benchmarks that time E-steps alone (``thread_scaling.py``, ``gemm_share.py``).
    """
    from gaussmix import GaussianMixture
    from gaussmix.covariance import get_covariance_model

    X = make_data(workload).astype(dtype)
    model = GaussianMixture(
        workload.n_components,
        covariance_type=workload.covariance_type,
        max_iter=1,
        tol=0.0,
        **starting_point(X.astype(np.float64), workload),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    scatter = get_covariance_model(workload.covariance_type).scatter
    return X, model._fitted_parameters(), scatter


def make_estimator(side: str, workload: Workload, start: dict, n_iter: int):
    """A configured estimator of one side: sklearn, gaussmix64, gaussmix32 or torch-cpu."""
    common = dict(
        n_components=workload.n_components,
        covariance_type=workload.covariance_type,
        tol=0.0,
        max_iter=n_iter,
        **start,
    )
    if side == "sklearn":
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(**common)
    from gaussmix import GaussianMixture

    extra = {
        "gaussmix64": {},
        "gaussmix32": {"dtype": "float32"},
        "torch-cpu": {"backend": "torch", "device": "cpu"},
    }[side]
    return GaussianMixture(**common, **extra)


def timed_fit(side: str, X: np.ndarray, workload: Workload, start: dict, n_iter: int):
    """Seconds per iteration of one fit and its final lower bound."""
    estimator = make_estimator(side, workload, start, n_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        began = time.perf_counter()
        estimator.fit(X)
        elapsed = time.perf_counter() - began
    return elapsed / n_iter, float(estimator.lower_bound_)


def status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_rss() -> None:
    """Reset the kernel's high-water mark of this process's RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def child_peak_memory(side: str, workload: Workload, n_iter: int) -> dict:
    """Run one fit in a fresh process; return its peak RSS above the RSS before fit."""
    command = [
        sys.executable,
        __file__,
        "--memory-child",
        json.dumps([side, workload.__dict__, n_iter]),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def memory_child(argument: str) -> None:
    """Body of the child process of :func:`child_peak_memory`."""
    side, fields, n_iter = json.loads(argument)
    workload = Workload(**fields)
    X = make_data(workload)
    start = starting_point(X, workload)
    # A small fit first: imports, thread pools and BLAS buffers are not the fit's memory.
    timed_fit(side, X[: 20 * workload.n_components], workload, start, 1)
    reset_peak_rss()
    before = status_bytes("VmRSS")
    timed_fit(side, X, workload, start, n_iter)
    peak = status_bytes("VmHWM")
    print(json.dumps({"extra": max(0, peak - before), "data": X.nbytes}))


def gemm_peak(dtype: type, size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a square GEMM with the BLAS's default threads."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((size, size)).astype(dtype)
    B = rng.standard_normal((size, size)).astype(dtype)
    A @ B
    best = 0.0
    for _ in range(repeats):
        began = time.perf_counter()
        A @ B
        best = max(best, 2 * size**3 / (time.perf_counter() - began) / 1e9)
    return best


def gemm_flops(workload: Workload) -> float:
    """Floating-point operations of one iteration spent in products (GEMMs).

    Full: the projection onto the K stacked factors (2·N·K·D²) and the K scatters
    (2·N·K·D²); tied: 2·N·D² + 2·N·K·D²; diagonal and spherical forms use no GEMM.
    """
    N, D, K = workload.n_samples, workload.n_features, workload.n_components
    if workload.covariance_type == "full":
        return 4.0 * N * K * D * D
    if workload.covariance_type == "tied":
        return 2.0 * N * D * D + 2.0 * N * K * D * D
    return 0.0


def machine_description() -> list[str]:
    """Lines describing the CPU, NumPy and its BLAS."""
    from threadpoolctl import threadpool_info

    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    lines = [
        f"- CPU: {model}, {os.cpu_count()} cores ({platform.machine()}), "
        f"load average at start {os.getloadavg()[0]:.1f}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}",
    ]
    try:
        import sklearn

        lines.append(f"- scikit-learn {sklearn.__version__}")
    except ImportError:
        pass
    try:
        import torch

        lines.append(f"- torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        pass
    for info in threadpool_info():
        lines.append(
            f"- {info['user_api']}: {info['internal_api']} {info.get('version')} "
            f"({info.get('architecture', '?')} kernels, {info['num_threads']} threads, "
            f"{Path(info['filepath']).name})"
        )
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    lines.append(f"- OPENBLAS_CORETYPE: {coretype or 'not set'}")
    return lines


def main() -> None:
    """Run the benchmark and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/20 of the rows, 2 repeats")
    parser.add_argument("--scale", type=int, default=1, help="divide every N by this")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS children")
    parser.add_argument("--no-torch", action="store_true", help="skip torch-CPU")
    parser.add_argument("--output", default=str(Path(__file__).with_name("results.md")))
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.memory_child:
        memory_child(arguments.memory_child)
        return
    scale = 20 if arguments.quick else arguments.scale
    repeats = 2 if arguments.quick else arguments.repeats
    sides = ["sklearn", "gaussmix64", "gaussmix32"]
    if not arguments.no_torch:
        try:
            import torch  # noqa: F401

            sides.append("torch-cpu")
        except ImportError:
            print("torch is not installed: skipping torch-CPU", file=sys.stderr)
    description = machine_description()
    peaks = {"float64": gemm_peak(np.float64), "float32": gemm_peak(np.float32)}
    print("\n".join(description))
    print(f"GEMM peak: {peaks['float64']:.1f} GFLOP/s float64, {peaks['float32']:.1f} float32")

    rows = []
    for name in arguments.workloads:
        n_samples, n_features, n_components, covariance_type = WORKLOADS[name]
        workload = Workload(name, n_samples // scale, n_features, n_components, covariance_type)
        X = make_data(workload)
        start = starting_point(X, workload)
        seconds = {side: [] for side in sides}
        bounds = {}
        for _ in range(repeats):
            for side in sides:
                per_iteration, bound = timed_fit(side, X, workload, start, arguments.iterations)
                seconds[side].append(per_iteration)
                bounds[side] = bound
        median = {side: statistics.median(values) for side, values in seconds.items()}
        memory = {}
        if not arguments.no_memory:
            for side in ("sklearn", "gaussmix64"):
                memory[side] = child_peak_memory(side, workload, 2)
        row = {
            "workload": workload,
            "median": median,
            "bounds": bounds,
            "memory": memory,
            "gflops64": gemm_flops(workload) / median["gaussmix64"] / 1e9,
            "gflops32": gemm_flops(workload) / median["gaussmix32"] / 1e9,
        }
        rows.append(row)
        print(format_row(row), flush=True)
    text = report(rows, description, peaks, arguments, scale, repeats)
    Path(arguments.output).write_text(text)
    print(f"\nwritten to {arguments.output}")


def relative(a: float, b: float) -> float:
    """|a − b| / |a|."""
    return abs(a - b) / abs(a)


def format_row(row: dict) -> str:
    """One line of the Markdown table."""
    w, median, bounds, memory = row["workload"], row["median"], row["bounds"], row["memory"]
    sk = median["sklearn"]
    cells = [
        w.name,
        f"{w.n_samples:,}",
        str(w.n_features),
        str(w.n_components),
        w.covariance_type,
        f"{sk:.4f}",
        f"{median['gaussmix64']:.4f}",
        f"{sk / median['gaussmix64']:.1f}×",
        f"{median['gaussmix32']:.4f}",
        f"{sk / median['gaussmix32']:.1f}×",
    ]
    if "torch-cpu" in median:
        cells.append(f"{median['torch-cpu']:.4f}")
        cells.append(f"{median['torch-cpu'] / median['gaussmix64']:.2f}")
    else:
        cells += ["–", "–"]
    cells.append(f"{row['gflops64']:.1f} / {row['gflops32']:.1f}" if row["gflops64"] else "–")
    if memory:
        cells.append(f"{memory['sklearn']['extra'] / memory['sklearn']['data']:.2f}")
        cells.append(f"{memory['gaussmix64']['extra'] / memory['gaussmix64']['data']:.2f}")
    else:
        cells += ["–", "–"]
    cells.append(f"{relative(bounds['sklearn'], bounds['gaussmix64']):.1e}")
    cells.append(f"{relative(bounds['gaussmix64'], bounds['gaussmix32']):.1e}")
    if "torch-cpu" in bounds:
        cells.append(f"{relative(bounds['gaussmix64'], bounds['torch-cpu']):.1e}")
    else:
        cells.append("–")
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| name | N | D | K | cov | sklearn s/it | gaussmix f64 s/it | ratio | gaussmix f32 s/it "
    "| ratio | torch-CPU f64 s/it | torch/numpy | GEMM GFLOP/s f64 / f32 | sklearn extra RSS "
    "(× X) | gaussmix extra RSS (× X) | lower bound rel. diff sklearn–f64 | f64–f32 "
    "| f64–torch |\n" + "|---" * 18 + "|"
)


def report(rows, description, peaks, arguments, scale, repeats) -> str:
    """The results file."""
    ratios64 = [r["median"]["sklearn"] / r["median"]["gaussmix64"] for r in rows]
    ratios32 = [r["median"]["sklearn"] / r["median"]["gaussmix32"] for r in rows]
    first_four = [i for i, r in enumerate(rows) if r["workload"].name in ("P1", "P2", "P3", "P4")]

    def geometric(values):
        return float(np.exp(np.mean(np.log(values)))) if values else float("nan")

    lines = [
        "# EM benchmark: gaussmix against scikit-learn",
        "",
        f"Command: `python benchmarks/bench_em.py{' --quick' if arguments.quick else ''}"
        f"{f' --scale {scale}' if scale > 1 and not arguments.quick else ''}` "
        f"(rows divided by {scale}; {arguments.iterations} iterations per fit, tol=0, "
        f"{repeats} interleaved repeats, medians).",
        "",
        "## Machine",
        "",
        *description,
        f"- Measured GEMM peak (2048², default BLAS threads): {peaks['float64']:.1f} GFLOP/s "
        f"float64, {peaks['float32']:.1f} GFLOP/s float32",
        "- The fits were interleaved and repeated, so that any background load slows both "
        "sides alike (see the load average above).",
        "",
        "## Results",
        "",
        HEADER,
        *[format_row(r) for r in rows],
        "",
        "Geometric mean of the speed-up on P1–P4: "
        f"{geometric([ratios64[i] for i in first_four]):.1f}× (float64), "
        f"{geometric([ratios32[i] for i in first_four]):.1f}× (float32).",
        "",
        "Seconds per iteration are the fit time divided by the number of iterations (both "
        "libraries end with one more E-step, so it is included on both sides). GEMM GFLOP/s "
        "counts only the products (projection and scatter, 4·N·K·D² for full covariances) "
        "against the measured GEMM peak above. Extra RSS is the peak resident memory during "
        "fit above the memory before it, in units of the size of X, each side in its own "
        "process. The lower-bound columns compare the final `lower_bound_` (float64 "
        "gaussmix against scikit-learn, float32 and torch-CPU against float64 gaussmix).",
        "",
        "## GPU (benchmarks/gpu_check.py)",
        "",
        "This script runs on the CPU only. `python benchmarks/gpu_check.py` times the torch "
        "backend on CUDA; its last run (NVIDIA H200, 16-core Xeon host) is in "
        "`benchmarks/results_scaling.md`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
