"""The k-means start of :mod:`gaussmix.kmeans` in compiled loops.

Imports numba; import lazily. Every function repeats, operation for operation and in the
same order, the NumPy step of :mod:`gaussmix.kmeans` it stands for (no fast-math: no
reassociation, no fused multiply-add; sums over rows and over features run in index
order, as NumPy's ``bincount`` and the module's explicit loops over features do), so both
paths give the same bits, the same seeds and the same labels. Module level, so that numba
caches the machine code on disk.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["assign", "centre_columns", "lloyd_run", "partition_statistics", "plusplus"]

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}

# lloyd_run's outcomes (gaussmix.kmeans names them).
STRICT, TOLERANCE, MAX_ITER, EMPTY = 0, 1, 2, 3


@numba.njit(**_JIT)
def centre_columns(
    X: np.ndarray, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The column means and variances of X (two or more columns), and (X − means)ᵀ in
    ``columns`` (n_features, n_samples): NumPy's ``mean`` and ``var`` along axis 0 of a
    C-ordered array add the rows in order, as these loops do (one column: a contiguous sum,
    which NumPy adds pairwise; the caller uses NumPy then)."""
    n_samples, n_features = X.shape
    means = np.zeros(n_features)
    for i in range(n_samples):
        for j in range(n_features):
            means[j] = means[j] + X[i, j]
    means = means / n_samples
    variances = np.zeros(n_features)
    for i in range(n_samples):
        for j in range(n_features):
            difference = X[i, j] - means[j]
            columns[j, i] = difference
            variances[j] = variances[j] + difference * difference
    return means, variances / n_samples


# The loops below visit the rows innermost, over the centred columns (n_features,
# n_samples): each row's sums still add the features in order (the NumPy steps' order),
# and LLVM vectorises across rows (10,000 × 5: several times faster than row by row).


@numba.njit(**_JIT)
def _row_norms(columns: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    norms = columns[0] * columns[0]
    for j in range(1, columns.shape[0]):
        for i in range(columns.shape[1]):
            norms[i] = norms[i] + columns[j, i] * columns[j, i]
    return norms


@numba.njit(**_JIT)
def _dots(columns: np.ndarray, centre: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """x·c of every row with one centre, the features added in order."""
    for i in range(columns.shape[1]):
        out[i] = columns[0, i] * centre[0]
    for j in range(1, columns.shape[0]):
        for i in range(columns.shape[1]):
            out[i] = out[i] + columns[j, i] * centre[j]


@numba.njit(**_JIT)
def _running_dot(a: np.ndarray, b: np.ndarray) -> float:  # pragma: no cover - compiled
    total = a[0] * b[0]
    for i in range(1, a.shape[0]):
        total = total + a[i] * b[i]
    return total


@numba.njit(**_JIT)
def _distances_to(
    columns: np.ndarray, row_norms: np.ndarray, index: int, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Squared distances of every row to row ``index`` as ‖x‖² − 2 x·c + ‖c‖², clipped at 0."""
    _dots(columns, columns[:, index].copy(), out)
    for i in range(columns.shape[1]):
        value = -2.0 * out[i] + row_norms[index] + row_norms[i]
        out[i] = value if value > 0.0 else 0.0


@numba.njit(**_JIT)
def plusplus(
    columns: np.ndarray,
    sample_weight: np.ndarray,
    first: int,
    uniforms: np.ndarray,
    indices: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Greedy k-means++ seeds into ``indices``: row ``first``, then per further seed the
    candidate (of ``uniforms.shape[1]``) whose addition leaves the least potential."""
    n_samples = columns.shape[1]
    n_trials = uniforms.shape[1]
    row_norms = _row_norms(columns)
    closest = np.empty(n_samples)
    _distances_to(columns, row_norms, first, closest)
    potential = _running_dot(closest, sample_weight)
    indices[0] = first
    cumulative = np.empty(n_samples)
    candidate = np.empty((n_trials, n_samples))
    for seed in range(1, indices.shape[0]):
        running = 0.0
        for i in range(n_samples):
            running = running + sample_weight[i] * closest[i]
            cumulative[i] = running
        best, best_potential = -1, 0.0
        for trial in range(n_trials):
            index = np.searchsorted(cumulative, uniforms[seed - 1, trial] * potential)
            index = min(index, n_samples - 1)
            _distances_to(columns, row_norms, index, candidate[trial])
            for i in range(n_samples):
                candidate[trial, i] = min(closest[i], candidate[trial, i])
            trial_potential = _running_dot(candidate[trial], sample_weight)
            if best < 0 or trial_potential < best_potential:
                best, best_potential, indices[seed] = trial, trial_potential, index
        closest[:] = candidate[best]
        potential = best_potential


@numba.njit(**_JIT)
def assign(
    columns: np.ndarray, centres: np.ndarray, labels: np.ndarray
) -> None:  # pragma: no cover
    """The nearest centre of every row by ‖c‖² − 2 x·c (the first on a tie)."""
    n_clusters, n_samples = centres.shape[0], columns.shape[1]
    values = np.empty((n_clusters, n_samples))
    for k in range(n_clusters):
        norm = centres[k, 0] * centres[k, 0]
        for j in range(1, centres.shape[1]):
            norm = norm + centres[k, j] * centres[k, j]
        _dots(columns, centres[k], values[k])
        for i in range(n_samples):
            values[k, i] = norm + -2.0 * values[k, i]
    for i in range(n_samples):
        label = 0
        nearest = values[0, i]
        for k in range(1, n_clusters):
            if values[k, i] < nearest:
                nearest, label = values[k, i], k
        labels[i] = label


@numba.njit(**_JIT)
def _accumulate(
    columns: np.ndarray,
    sample_weight: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Weights and weighted sums per cluster, each added in row order."""
    sums[:] = 0.0
    weights[:] = 0.0
    for i in range(columns.shape[1]):
        weights[labels[i]] = weights[labels[i]] + sample_weight[i]
    for j in range(columns.shape[0]):
        for i in range(columns.shape[1]):
            k = labels[i]
            sums[k, j] = sums[k, j] + columns[j, i] * sample_weight[i]


@numba.njit(**_JIT)
def average_and_shift(
    centres: np.ndarray, sums: np.ndarray, weights: np.ndarray
) -> float:  # pragma: no cover - compiled
    """Replace ``centres`` by the weighted means (every weight positive); the total
    squared shift Σ_k ‖new_k − old_k‖² (each norm a square root, squared again)."""
    total = 0.0
    for k in range(centres.shape[0]):
        factor = 1.0 / weights[k]
        square = 0.0
        for j in range(centres.shape[1]):
            mean = sums[k, j] * factor
            difference = (mean - centres[k, j]) ** 2
            square = difference if j == 0 else square + difference
            centres[k, j] = mean
        shift = math.sqrt(square)
        total = total + shift * shift
    return total


@numba.njit(**_JIT)
def _same(labels: np.ndarray, labels_old: np.ndarray) -> bool:  # pragma: no cover - compiled
    for i in range(labels.shape[0]):
        if labels[i] != labels_old[i]:
            return False
    return True


@numba.njit(**_JIT)
def lloyd_run(
    columns: np.ndarray,
    sample_weight: np.ndarray,
    centres: np.ndarray,
    labels: np.ndarray,
    labels_old: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
    tol: float,
    iteration: int,
    max_iter: int,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Lloyd iterations from ``iteration`` until a stopping rule or an empty cluster.

    Returns (iterations done, outcome). EMPTY: the iteration's labels, sums and weights
    are in place, the centres not yet updated (the caller relocates, then goes on)."""
    while iteration < max_iter:
        assign(columns, centres, labels)
        _accumulate(columns, sample_weight, labels, sums, weights)
        for k in range(weights.shape[0]):
            if weights[k] == 0.0:
                return iteration, EMPTY
        total = average_and_shift(centres, sums, weights)
        iteration += 1
        if _same(labels, labels_old):
            return iteration, STRICT
        if total <= tol:
            assign(columns, centres, labels)
            return iteration, TOLERANCE
        labels_old[:] = labels
    assign(columns, centres, labels)
    return iteration, MAX_ITER


@numba.njit(**_JIT)
def partition_statistics(
    X: np.ndarray,
    sample_weight: np.ndarray,
    labels: np.ndarray,
    n_k: np.ndarray,
    shift: np.ndarray,
    weighted_sum: np.ndarray,
    second: np.ndarray,
    full: bool,
) -> None:  # pragma: no cover - compiled
    """The statistics of hard labels, in place: n_k, the label means as ``shift``, and
    about them Σ w (x − c) and Σ w (x − c)(x − c)ᵀ flattened row-major into ``second``
    (its diagonal only, unless ``full``). Rows are added in order, as ``np.add.at`` adds
    them in :func:`gaussmix.kmeans.partition_statistics`' NumPy steps."""
    n_samples, n_features = X.shape
    for i in range(n_samples):
        k = labels[i]
        n_k[k] = n_k[k] + sample_weight[i]
        for j in range(n_features):
            shift[k, j] = shift[k, j] + sample_weight[i] * X[i, j]
    for k in range(n_k.shape[0]):
        for j in range(n_features):
            shift[k, j] = shift[k, j] / n_k[k] if n_k[k] > 0.0 else 0.0
    difference = np.empty(n_features)
    for i in range(n_samples):
        k = labels[i]
        for j in range(n_features):
            difference[j] = X[i, j] - shift[k, j]
        for a in range(n_features):
            weighted = sample_weight[i] * difference[a]
            weighted_sum[k, a] = weighted_sum[k, a] + weighted
            if full:
                for b in range(n_features):
                    index = a * n_features + b
                    second[k, index] = second[k, index] + weighted * difference[b]
            else:
                second[k, a] = second[k, a] + weighted * difference[a]
