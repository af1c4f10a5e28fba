"""Peak memory of fit, predict_proba and score_samples on a large float32 array.

Each operation runs in a fresh child process that builds X (float32, generated in
place), then resets the kernel's peak-RSS counter (``/proc/self/clear_refs``, Linux) and
reports ``VmHWM − VmRSS`` across the operation: the memory the operation needed on top
of X and the interpreter. Results go to ``benchmarks/results_memory.md``.

Usage::

    python benchmarks/bench_memory.py                  # 20,000,000 × 4 rows
    python benchmarks/bench_memory.py --n-rows 2000000 # when memory is short
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

OPERATIONS = ("fit", "fit_from_given_start", "predict_proba", "score_samples")
RESULTS = Path(__file__).with_name("results_memory.md")


def _status_kib(field: str) -> int:
    """A ``Vm*`` field of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} field; this benchmark needs Linux.")


def _child(operation: str, n_rows: int, n_features: int, n_components: int, args) -> dict:
    """Run one operation on fresh data and return its memory and time (in this process)."""
    import warnings

    import numpy as np

    from gaussmix import GaussianMixture

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    # Three well-separated groups of rows, shifted in place (no float64 temporary).
    for k in range(1, n_components):
        X[k * n_rows // n_components : (k + 1) * n_rows // n_components] += np.float32(6 * k)
    # Load everything a fit loads once per process (numba's compiled kernels, ~100 MiB of
    # LLVM and machine code, among them) before measuring, so that the table shows what
    # each call needs per call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixture(n_components, max_iter=1, random_state=0).fit(X[:1000])
    model = GaussianMixture(
        n_components, max_iter=args.max_iter, init_params=args.init, random_state=0
    )
    if operation == "fit_from_given_start":
        # A user-given start skips the initialisation: what EM alone needs.
        model.set_params(
            weights_init=np.full(n_components, 1.0 / n_components),
            means_init=6.0 * np.arange(n_components)[:, None] * np.ones(n_features) + 0.5,
            precisions_init=np.stack([np.eye(n_features)] * n_components),
        )
        operation = "fit"
    elif operation != "fit":
        model.fit(X[: min(n_rows, 100_000)])
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = getattr(model, operation)(X)
    seconds = time.perf_counter() - started
    peak = _status_kib("VmHWM")
    output_bytes = 0 if operation == "fit" else int(np.asarray(result).nbytes)
    return {
        "operation": "fit (given start)" if model.means_init is not None else operation,
        "x_mib": X.nbytes / 2**20,
        "rss_before_mib": before / 1024,
        "overhead_mib": (peak - before) / 1024,
        "output_mib": output_bytes / 2**20,
        "seconds": seconds,
    }


def _machine() -> str:
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split("\n")[0].split()[1])
        memory = f"{total_kib / 2**20:.0f} GiB"
    return (
        f"{platform.machine()}, {os.cpu_count()} logical CPUs, {memory} RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def main() -> None:
    """Run every operation in its own process and write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-rows", type=int, default=20_000_000)
    parser.add_argument("--n-features", type=int, default=4)
    parser.add_argument("--n-components", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--init", default="kmeans")
    parser.add_argument("--child", choices=OPERATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.n_rows, args.n_features, args.n_components, args)))
        return

    rows = []
    for operation in OPERATIONS:
        command = [sys.executable, __file__, "--child", operation]
        for name in ("n_rows", "n_features", "n_components", "max_iter", "init"):
            command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(rows[-1], flush=True)

    import numpy as np

    lines = [
        "# Peak memory of gaussmix on a large float32 array",
        "",
        f"Data: {args.n_rows:,} × {args.n_features} float32 rows "
        f"({rows[0]['x_mib']:.0f} MiB), {args.n_components} components, covariance "
        f"'full', fit with init_params={args.init!r}, max_iter={args.max_iter}.",
        f"Machine: {_machine()}; NumPy {np.__version__}.",
        "",
        "Overhead = peak RSS during the call minus RSS just before it (X already in memory).",
        "",
        "| operation | X (MiB) | output (MiB) | overhead (MiB) | overhead / X | time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['operation']} | {row['x_mib']:.0f} | {row['output_mib']:.0f} | "
            f"{row['overhead_mib']:.0f} | {row['overhead_mib'] / row['x_mib']:.2f} | "
            f"{row['seconds']:.1f} |"
        )
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
