"""Time model-file save and load, and the start-up of the `gaussmix` command.

Run: ``python benchmarks/bench_io.py``. Prints file sizes and the median of repeated runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import gaussmix
from bench_em import median_seconds
from gaussmix import GaussianMixture


def main() -> None:
    """Print save/load times for a few model sizes and the command's start-up time."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for n_components, n_features in ((2, 2), (10, 50), (20, 200)):
            X = rng.normal(size=(max(20 * n_components, 2 * n_features), n_features))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = GaussianMixture(n_components, max_iter=2, random_state=0).fit(X)
            path = Path(folder) / "model.gmm"
            save = median_seconds(lambda model=model, path=path: gaussmix.save(model, path))
            load = median_seconds(lambda path=path: gaussmix.load(path))
            megabytes = path.stat().st_size / 1e6
            print(
                f"K={n_components:3d} D={n_features:4d} full: file {megabytes:7.3f} MB"
                f"  save {save * 1e3:7.2f} ms  load {load * 1e3:7.2f} ms"
            )
    startup = median_seconds(
        lambda: subprocess.run(
            [sys.executable, "-m", "gaussmix", "--help"], check=True, capture_output=True
        ),
        repeats=3,
    )
    print(f"`python -m gaussmix --help`: {startup:.2f} s")


if __name__ == "__main__":
    main()
