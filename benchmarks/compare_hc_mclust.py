"""Evidence: ``build_tree`` gives mclust's ``hc(X, "VVV", use = "SVD")`` partitions.

For each bundled data set (numeric columns only) this runs R's mclust 6.0.0 and compares

* the partitions ``hclass(hc(X, "VVV", use = "SVD"), 1:9)`` with ``build_tree(X).labels(G)``
  for G = 1 … 9 (equal up to relabelling; both number the groups by their first row, so
  "equal" is literal equality here);
* the whole merge sequence (mclust's ``hc`` matrix against ``HierarchicalTree.merges``),
  reporting the first step at which they differ;
* the same, starting the agglomeration from mclust's own SVD coordinates
  (``attr(hc, "data")``, written with 17 significant digits), which separates differences
  of the transformation (LAPACK builds round differently) from the agglomeration;
* the time of ``build_tree`` (median of repeats; compiled when numba is installed) and of
  the NumPy agglomeration on each data set, and of both on 2,000 × 2 and 2,000 × 5
  Gaussian rows.

Run: ``PYTHONPATH=src python benchmarks/compare_hc_mclust.py`` (needs ``Rscript`` with
mclust). This is a benchmark, not a test: the test suite never calls R.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from gaussmix import datasets
from gaussmix.hierarchical import agglomerate, build_tree, svd_coordinates

LOADERS = {
    "faithful": datasets.load_old_faithful,
    "iris": datasets.load_iris,
    "diabetes": datasets.load_diabetes,
    "banknote": datasets.load_banknote,
    "thyroid": datasets.load_thyroid,
}

R_PROGRAM = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
input <- args[1]; output <- args[2]
X <- as.matrix(read.csv(input, header = FALSE))
h <- hc(X, modelName = "VVV", use = "SVD")
write.table(t(h), file.path(output, "merges.csv"), sep = ",", row.names = FALSE,
            col.names = FALSE)
write.table(hclass(h, 1:9), file.path(output, "classes.csv"), sep = ",",
            row.names = FALSE, col.names = FALSE)
Z <- attr(h, "data")
write.table(format(Z, digits = 17), file.path(output, "coordinates.csv"), sep = ",",
            row.names = FALSE, col.names = FALSE, quote = FALSE)
"""


def run_mclust(X: np.ndarray, workdir: Path) -> dict[str, np.ndarray]:
    """mclust's merges (counted from 0), hclass for G = 1 … 9 and SVD coordinates of X."""
    workdir.mkdir(parents=True, exist_ok=True)
    np.savetxt(workdir / "X.csv", X, delimiter=",", fmt="%.17g")
    program = workdir / "hc.R"
    program.write_text(R_PROGRAM)
    subprocess.run(
        ["Rscript", str(program), str(workdir / "X.csv"), str(workdir)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    return {
        "merges": np.loadtxt(workdir / "merges.csv", delimiter=",", dtype=np.intp, ndmin=2) - 1,
        "classes": np.loadtxt(workdir / "classes.csv", delimiter=",", dtype=np.intp, ndmin=2) - 1,
        "coordinates": np.loadtxt(workdir / "coordinates.csv", delimiter=",", ndmin=2),
    }


def cut(merges: np.ndarray, n_rows: int, n_groups: int) -> np.ndarray:
    """Labels numbered by first row after the first n_rows − n_groups merges."""
    parent = np.arange(n_rows)
    for kept, absorbed in merges[: n_rows - n_groups]:
        parent[parent == absorbed] = kept
    return np.unique(parent, return_inverse=True)[1]


def first_difference(ours: np.ndarray, theirs: np.ndarray) -> int | None:
    """Index of the first merge that differs, None if the sequences are equal."""
    differs = np.flatnonzero(np.any(ours != theirs, axis=1))
    return int(differs[0]) if differs.size else None


def median_time(function, repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of ``function()`` in seconds.

    On a shared machine the CPU time is the steadier of the two.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def compare(name: str, X: np.ndarray, workdir: Path, repeats: int) -> None:
    """Print one data set's comparison."""
    reference = run_mclust(X, workdir / name)
    n_rows = X.shape[0]
    tree = build_tree(X)
    equal = [
        bool(np.array_equal(tree.labels(g), reference["classes"][:, g - 1])) for g in range(1, 10)
    ]
    from_r = agglomerate(reference["coordinates"])
    equal_from_r = [
        bool(np.array_equal(cut(from_r, n_rows, g), reference["classes"][:, g - 1]))
        for g in range(1, 10)
    ]
    ours_z = svd_coordinates(X)
    # The criterion only depends on the coordinates up to an orthogonal map, so compare
    # the Gram matrices (free of the axes' signs).
    gram_gap = np.max(
        np.abs(ours_z @ ours_z.T - reference["coordinates"] @ reference["coordinates"].T)
    )
    wall, cpu = median_time(lambda: build_tree(X), repeats)
    numpy_wall, numpy_cpu = median_time(
        lambda: agglomerate(svd_coordinates(X), compiled=False), repeats
    )
    print(
        f"{name:9s} {n_rows:5d} x {X.shape[1]}  partitions G=1..9 equal: "
        f"{'all' if all(equal) else equal}  (from mclust's coordinates: "
        f"{'all' if all(equal_from_r) else equal_from_r})"
    )
    print(
        f"{'':9s} first differing merge: ours {first_difference(tree.merges, reference['merges'])},"
        f" from mclust's coordinates {first_difference(from_r, reference['merges'])}"
        f" (of {n_rows - 1});  max |Z Zᵀ − Z_R Z_Rᵀ| = {gram_gap:.1e};"
        f"  tree {wall * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU"
        f" (NumPy path: {numpy_wall * 1e3:.0f} ms wall, {numpy_cpu * 1e3:.0f} ms CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (median)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        for name, loader in LOADERS.items():
            compare(name, loader().data, workdir, arguments.repeats)
        # A one-dimensional case: mclust's hc runs VVV on a single column too.
        compare("eruptions", datasets.load_old_faithful().data[:, :1], workdir, arguments.repeats)
    for n_features in (2, 5):
        time_large(n_features, arguments.repeats)


def time_large(n_features: int, repeats: int) -> None:
    """Both paths of ``agglomerate`` on 2,000 standard normal rows."""
    X = np.random.default_rng(0).normal(size=(2000, n_features))
    points = svd_coordinates(X)
    for compiled in (False, True):
        if compiled:
            try:
                agglomerate(points[:20], compiled=True)  # compile (or load the cache) first
            except ImportError:
                print("numba is not installed: no compiled timing")
                break
        wall, cpu = median_time(
            lambda compiled=compiled: agglomerate(points, compiled=compiled), repeats
        )
        print(
            f"agglomerate on 2000 x {n_features} Gaussian rows, "
            f"{'numba' if compiled else 'NumPy'}: "
            f"{wall:.3f} s wall, {cpu:.3f} s CPU (medians of {repeats})"
        )


if __name__ == "__main__":
    main()
