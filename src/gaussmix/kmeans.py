"""One run of k-means, as scikit-learn's ``KMeans(n_init=1, algorithm="lloyd")`` runs it.

The ``init_params="kmeans"`` start calls k-means once per start; scikit-learn's
estimator spends milliseconds per call on validation and thread-pool limits around
arithmetic worth tens of microseconds on a few hundred rows (300 × 5: 1.5 ms a call on
one thread against 0.4 ms here, on the loaded shared machine; the k-means table of
``benchmarks/results_small.md``). This module runs the same algorithm, with the same
random draws:

- the data are centred on their column means first (as scikit-learn does, for accurate
  distances), and the centres reported in the data's coordinates;
- greedy k-means++ seeding: the first seed drawn with probability proportional to the
  sample weights (``random_state.choice``), then for each further seed 2 + ⌊log K⌋
  candidates drawn with probability proportional to w·D² (D: the distance to the nearest
  seed so far) and the one leaving the least potential Σ w·D² kept;
- Lloyd iterations: labels from ‖c‖² − 2 x·c (the first centre on a tie), weighted means;
  stop when the labels did not change ("strict" convergence) or the squared shifts of the
  centres sum to at most tol = 1e-4 × the mean of the columns' variances, or after 300
  iterations; a cluster left without weight is moved to the row farthest from its centre
  (the farthest of them for several); then, unless the labels did not change, a final
  assignment to the last centres.

scikit-learn computes its distances with BLAS, which may round its dot products in
another order: seeds and labels are the same except where two candidates are within
rounding of each other (``tests/test_kmeans.py`` compares the two on several data sets).
The compiled loops (:mod:`gaussmix._compiled_kmeans`) and the NumPy steps here perform
the same floating-point operations in the same order, so both paths give the same bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from gaussmix import compiling
from gaussmix.covariance.base import ScatterKind
from gaussmix.statistics import SufficientStatistics, reduce_scatter

__all__ = ["KMeansResult", "kmeans", "kmeans_available", "partition_statistics"]

# scikit-learn's KMeans defaults: the relative tolerance and the iteration limit.
_TOL = 1e-4
_MAX_ITER = 300
# Rows up to which the k-means start runs here, in one thread (see kmeans_available).
_MAX_ROWS = 65536
# Rows per block of partition_statistics' NumPy steps: their (rows, D, D) products stay a
# few MB.
_PARTITION_BLOCK_ROWS = 4096
# lloyd_run's outcomes (as gaussmix._compiled_kmeans numbers them).
_STRICT, _TOLERANCE, _MAX_ITER_REACHED, _EMPTY = 0, 1, 2, 3


@dataclass(frozen=True)
class KMeansResult:
    """One k-means run.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,)
        The cluster of every row.
    centres : ndarray of shape (n_clusters, n_features)
        The centres, in the data's coordinates.
    n_iter : int
        Lloyd iterations run.
    seeds : ndarray of shape (n_clusters,) or None
        The rows k-means++ chose (None for given initial centres).
    """

    labels: np.ndarray
    centres: np.ndarray
    n_iter: int
    seeds: np.ndarray | None = None


def kmeans_available(X: Any, sample_weight: Any) -> bool:
    """Whether :func:`kmeans` takes these rows: at most 65,536 float64 NumPy rows and
    float64 weights. Float32 data are clustered in float32 by scikit-learn, which this
    module does not repeat; larger data are fitted on the chunked path's threads, where
    scikit-learn's k-means runs on as many OpenMP threads (these loops use one).

    Parameters
    ----------
    X : object
    sample_weight : object

    Returns
    -------
    bool
    """
    if type(X) is not np.ndarray or X.dtype != np.float64 or X.ndim != 2:
        return False
    if X.shape[0] > _MAX_ROWS:
        return False
    return sample_weight is None or (
        type(sample_weight) is np.ndarray and sample_weight.dtype == np.float64
    )


@cache
def _kernels() -> Any:
    """The compiled loops; numba is imported here, on first use, not with this module."""
    from gaussmix import _compiled_kmeans

    return _compiled_kmeans


def kmeans(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    n_clusters: int,
    random_state: np.random.RandomState,
    *,
    init: np.ndarray | None = None,
    compiled: bool = False,
) -> KMeansResult:
    """One k-means run (k-means++ seeds, then Lloyd's iterations), as scikit-learn's
    ``KMeans(n_clusters, n_init=1, random_state=random_state).fit(X, sample_weight)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        The rows (see :func:`kmeans_available`).
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None: all ones.
    n_clusters : int
        K, at most the number of rows of positive weight.
    random_state : numpy.random.RandomState
        Draws the seeds, advanced exactly as scikit-learn's k-means++ advances it.
    init : ndarray of shape (n_clusters, n_features), optional
        Initial centres in place of the seeds (nothing is drawn).
    compiled : bool, default=False
        Run the compiled loops (numba; the caller asks :func:`gaussmix.precompile.ready`
        first). Both paths give the same bits.

    Returns
    -------
    KMeansResult
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    weights = (
        np.ones(X.shape[0])
        if sample_weight is None
        else np.ascontiguousarray(sample_weight, dtype=np.float64)
    )
    if compiled and X.shape[1] > 1:
        # NumPy's axis-0 reductions of few columns are slow (10,000 × 5 rows: 0.4 ms a
        # pass on the shared machine, against one compiled pass for all three here).
        columns = np.empty((X.shape[1], X.shape[0]))
        column_means, variances = compiling.call(_kernels().centre_columns, X, columns)
        centred = columns.T
    else:
        variances = np.var(X, axis=0)
        column_means = X.mean(axis=0)
        centred = X - column_means
        columns = np.ascontiguousarray(centred.T) if compiled else None
    # scikit-learn's tolerance: relative to the mean of the columns' variances (np.mean's
    # sum and division, without its ~5 µs of Python).
    tol = float(variances.sum()) / variances.shape[0] * _TOL
    seeds = None
    if init is None:
        cumulative = (
            _equal_cumulative(X.shape[0]) if sample_weight is None else _cumulative(weights)
        )
        seeds = _plusplus(centred, columns, weights, cumulative, n_clusters, random_state)
        centres = np.ascontiguousarray(centred[seeds])
    else:
        centres = np.array(init, dtype=np.float64, order="C") - column_means
    labels, n_iter = _lloyd(centred, columns, weights, centres, tol, _MAX_ITER)
    return KMeansResult(labels, centres + column_means, n_iter, seeds)


def _cumulative(sample_weight: np.ndarray) -> np.ndarray:
    """The normalised cumulative sum that ``RandomState.choice(n, p=w / Σw)`` searches."""
    cumulative = np.cumsum(sample_weight / sample_weight.sum())
    cumulative /= cumulative[-1]
    return cumulative


@lru_cache(maxsize=4)
def _equal_cumulative(n_samples: int) -> np.ndarray:
    """:func:`_cumulative` of equal weights, kept: every k-means start of a fit (``n_init``,
    select_model's cells) searches the same one."""
    cumulative = _cumulative(np.ones(n_samples))
    cumulative.flags.writeable = False
    return cumulative


def _plusplus(
    X: np.ndarray,
    columns: np.ndarray | None,
    sample_weight: np.ndarray,
    cumulative: np.ndarray,
    n_clusters: int,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """The rows k-means++ seeds with (centred X; its transpose ``columns`` for the compiled
    loops, None for NumPy's), the random stream drawn as scikit-learn draws it: one
    ``choice`` with p = w / Σw (``cumulative``: :func:`_cumulative` of the weights), then
    ``uniform(size=n_trials)`` per seed."""
    # RandomState.choice(n, p=w / Σw), whose checks cost ~50 µs a call: its (frozen) legacy
    # stream draws one double and searches it in the normalised cumulative sum.
    first = int(np.searchsorted(cumulative, random_state.random_sample(), side="right"))
    n_trials = 2 + int(math.log(n_clusters))
    # One call draws the same doubles as K − 1 calls of n_trials each.
    uniforms = random_state.uniform(size=(n_clusters - 1, n_trials))
    indices = np.empty(n_clusters, dtype=np.int64)
    if columns is not None:
        compiling.call(_kernels().plusplus, columns, sample_weight, first, uniforms, indices)
    else:
        _plusplus_numpy(X, sample_weight, first, uniforms, indices)
    return indices


def _row_norms(X: np.ndarray) -> np.ndarray:
    total = X[:, 0] * X[:, 0]
    for j in range(1, X.shape[1]):
        total = total + X[:, j] * X[:, j]
    return total


def _dots(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """x·c of every row and centre, (n_samples, n_centres), summed over features in order."""
    total = X[:, 0:1] * centres[:, 0]
    for j in range(1, X.shape[1]):
        total = total + X[:, j : j + 1] * centres[:, j]
    return total


def _running_dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ a_i b_i added in index order (cumsum is sequential; sum is pairwise)."""
    return float(np.cumsum(a * b)[-1])


def _plusplus_numpy(
    X: np.ndarray,
    sample_weight: np.ndarray,
    first: int,
    uniforms: np.ndarray,
    indices: np.ndarray,
) -> None:
    """:func:`gaussmix._compiled_kmeans.plusplus` with NumPy operations."""
    n_samples = X.shape[0]
    norms = _row_norms(X)

    def distances(index: np.ndarray) -> np.ndarray:
        values = (-2.0 * _dots(X, X[index]) + norms[index]) + norms[:, None]
        return np.where(values > 0.0, values, 0.0).T

    closest = distances(np.array([first]))[0]
    potential = _running_dot(closest, sample_weight)
    indices[0] = first
    for seed in range(1, indices.shape[0]):
        cumulative = np.cumsum(sample_weight * closest)
        candidates = np.searchsorted(cumulative, uniforms[seed - 1] * potential)
        candidates = np.minimum(candidates, n_samples - 1)
        candidate = np.minimum(closest, distances(candidates))
        potentials = [_running_dot(row, sample_weight) for row in candidate]
        best = int(np.argmin(potentials))
        indices[seed] = candidates[best]
        closest, potential = candidate[best], potentials[best]


def _assign_numpy(X: np.ndarray, centres: np.ndarray, labels: np.ndarray) -> None:
    values = _row_norms(centres) + -2.0 * _dots(X, centres)
    labels[:] = np.argmin(values, axis=1)


def _accumulate_numpy(
    X: np.ndarray,
    sample_weight: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
) -> None:
    # bincount adds in row order, as the compiled loop does.
    n_clusters = weights.shape[0]
    weights[:] = np.bincount(labels, weights=sample_weight, minlength=n_clusters)
    for j in range(X.shape[1]):
        sums[:, j] = np.bincount(labels, weights=X[:, j] * sample_weight, minlength=n_clusters)


def _average_and_shift(centres: np.ndarray, sums: np.ndarray, weights: np.ndarray) -> float:
    """Replace ``centres`` by the weighted means; Σ_k ‖new_k − old_k‖².

    scikit-learn's rule for a cluster still without weight: it takes, in cluster order,
    the row of the heaviest cluster as it is at that moment (its mean if it comes before,
    its weighted sum if after)."""
    new = sums.copy()
    heaviest = int(np.argmax(weights))
    for k in range(new.shape[0]):
        if weights[k] > 0.0:
            new[k] = new[k] * (1.0 / weights[k])
        else:
            new[k] = new[heaviest]
    squares = (new[:, 0] - centres[:, 0]) ** 2
    for j in range(1, new.shape[1]):
        squares = squares + (new[:, j] - centres[:, j]) ** 2
    total = 0.0
    for shift in np.sqrt(squares).tolist():
        total = total + shift * shift
    centres[:] = new
    return total


def _relocate_empty(
    X: np.ndarray,
    sample_weight: np.ndarray,
    centres: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Give each cluster without weight the row farthest from its centre (scikit-learn's
    rule: the rows of the n_empty largest distances, in ``argpartition``'s order; the
    labels are left as they are). Nothing moves when every row sits on its centre."""
    empty = np.flatnonzero(weights == 0.0)
    # Row-major, as scikit-learn's: the sum over a row's features is then its own.
    X = np.ascontiguousarray(X)
    distances = ((X - centres[labels]) ** 2).sum(axis=1)
    farthest = np.argpartition(distances, -empty.shape[0])[: -empty.shape[0] - 1 : -1]
    if np.max(distances) == 0:
        return
    for new, row in zip(empty.tolist(), farthest.tolist(), strict=True):
        weight = sample_weight[row]
        old = labels[row]
        sums[old] -= X[row] * weight
        sums[new] = X[row] * weight
        weights[new] = weight
        weights[old] -= weight


def _lloyd_run_numpy(
    X: np.ndarray,
    sample_weight: np.ndarray,
    centres: np.ndarray,
    labels: np.ndarray,
    labels_old: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
    tol: float,
    iteration: int,
    max_iter: int,
) -> tuple[int, int]:
    """:func:`gaussmix._compiled_kmeans.lloyd_run` with NumPy operations."""
    while iteration < max_iter:
        _assign_numpy(X, centres, labels)
        _accumulate_numpy(X, sample_weight, labels, sums, weights)
        if np.any(weights == 0.0):
            return iteration, _EMPTY
        total = _average_and_shift(centres, sums, weights)
        iteration += 1
        if np.array_equal(labels, labels_old):
            return iteration, _STRICT
        if total <= tol:
            _assign_numpy(X, centres, labels)
            return iteration, _TOLERANCE
        labels_old[:] = labels
    _assign_numpy(X, centres, labels)
    return iteration, _MAX_ITER_REACHED


def _lloyd(
    X: np.ndarray,
    columns: np.ndarray | None,
    sample_weight: np.ndarray,
    centres: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, int]:
    """Lloyd's iterations on centred X from ``centres`` (updated in place): the labels
    and the number of iterations; compiled on ``columns`` (Xᵀ) unless it is None. An
    iteration that leaves a cluster without weight is finished here (relocation, means,
    stopping rules), then the loop resumes."""
    n_clusters = centres.shape[0]
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    labels_old = labels.copy()
    sums = np.zeros((n_clusters, X.shape[1]))
    weights = np.zeros(n_clusters)
    arguments = (sample_weight, centres, labels, labels_old, sums, weights, tol)
    iteration = 0
    while True:
        if columns is not None:
            iteration, outcome = compiling.call(
                _kernels().lloyd_run, columns, *arguments, iteration, max_iter
            )
        else:
            iteration, outcome = _lloyd_run_numpy(X, *arguments, iteration, max_iter)
        if outcome != _EMPTY:
            return labels, iteration
        _relocate_empty(X, sample_weight, centres, labels, sums, weights)
        total = _average_and_shift(centres, sums, weights)
        iteration += 1
        if np.array_equal(labels, labels_old):
            return labels, iteration
        if total <= tol or iteration == max_iter:
            _assign_numpy(X, centres, labels)
            return labels, iteration
        labels_old[:] = labels


def partition_statistics(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    labels: np.ndarray,
    n_clusters: int,
    kind: ScatterKind,
    *,
    compiled: bool = False,
) -> SufficientStatistics:
    """The sufficient statistics of hard labels (one-hot responsibilities), about the
    label means: what a start's first M-step needs from a k-means partition, without the
    (n_samples, n_clusters) responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        The rows.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None: all ones.
    labels : ndarray of shape (n_samples,), integer
        The cluster of every row, in 0 … n_clusters − 1.
    n_clusters : int
        K (a cluster without rows gets n_k = 0 and shift 0).
    kind : {"trace", "diagonal", "full"}
        How much of the scatter to keep.
    compiled : bool, default=False
        Run the compiled loop (numba; the caller asks :func:`gaussmix.precompile.ready`
        first). Both paths add the rows in order and give the same bits.

    Returns
    -------
    SufficientStatistics
        Float64; the shift is the label means.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    weights = (
        np.ones(n_samples)
        if sample_weight is None
        else np.ascontiguousarray(sample_weight, dtype=np.float64)
    )
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    full = kind == "full"
    n_k = np.zeros(n_clusters)
    shift = np.zeros((n_clusters, n_features))
    weighted_sum = np.zeros((n_clusters, n_features))
    second = np.zeros((n_clusters, n_features * n_features if full else n_features))
    if compiled:
        compiling.call(
            _kernels().partition_statistics,
            X, weights, labels, n_k, shift, weighted_sum, second, full,
        )  # fmt: skip
    else:
        _partition_statistics_numpy(X, weights, labels, n_k, shift, weighted_sum, second, full)
    if full:
        second = second.reshape(n_clusters, n_features, n_features)
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=reduce_scatter(second, kind),
        shift=shift,
        total_weight=float(n_samples) if sample_weight is None else float(np.sum(weights)),
        log_likelihood=0.0,
    )


def _partition_statistics_numpy(
    X: np.ndarray,
    sample_weight: np.ndarray,
    labels: np.ndarray,
    n_k: np.ndarray,
    shift: np.ndarray,
    weighted_sum: np.ndarray,
    second: np.ndarray,
    full: bool,
) -> None:
    """The NumPy steps of ``_compiled_kmeans.partition_statistics``: ``np.add.at`` adds
    the rows to their cluster in order, as the compiled loop does."""
    blocks = [
        slice(start, start + _PARTITION_BLOCK_ROWS)
        for start in range(0, X.shape[0], _PARTITION_BLOCK_ROWS)
    ]
    for block in blocks:
        np.add.at(n_k, labels[block], sample_weight[block])
        np.add.at(shift, labels[block], sample_weight[block, None] * X[block])
    np.divide(shift, n_k[:, None], out=shift, where=n_k[:, None] > 0.0)
    shift[n_k <= 0.0] = 0.0
    for block in blocks:
        difference = X[block] - shift[labels[block]]
        weighted = sample_weight[block, None] * difference
        np.add.at(weighted_sum, labels[block], weighted)
        if full:
            products = weighted[:, :, None] * difference[:, None, :]
            np.add.at(second, labels[block], products.reshape(products.shape[0], -1))
        else:
            np.add.at(second, labels[block], weighted * difference)
