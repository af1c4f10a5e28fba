"""Model-based agglomerative hierarchical clustering, the starting partition mclust uses.

This is mclust's ``hc(X, modelName = "VVV", use = "SVD")``, the start of
``Mclust(X, G = 1:9)``: the rows are mapped to mclust's scaled SVD coordinates
(:func:`svd_coordinates`), then, from one group per row, the pair of groups whose merge
least lowers the (regularised) classification likelihood of an unconstrained (VVV) Gaussian
model is merged, until one group is left (:func:`agglomerate`). Cutting the sequence of
merges at G groups gives the starting partition for every G at once.

References
----------
Banfield, J. D. and Raftery, A. E. (1993). Model-based Gaussian and non-Gaussian
clustering. *Biometrics* 49(3), 803–821.
Fraley, C. (1998). Algorithms for model-based Gaussian hierarchical clustering.
*SIAM Journal on Scientific Computing* 20(1), 270–281.
Scrucca, L. and Raftery, A. E. (2015). Improved initialisation of model-based clustering
using Gaussian hierarchical partitions. *Advances in Data Analysis and Classification*
9(4), 447–460 (the scaled SVD transformation, mclust's ``hcUse = "SVD"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from gaussmix import compiling

__all__ = [
    "DEFAULT_MAX_ROWS",
    "HierarchicalTree",
    "agglomerate",
    "build_tree",
    "svd_coordinates",
]

DEFAULT_MAX_ROWS = 2000
"""Rows clustered at most (mclust's ``mclust.options("subset")``); larger data are
clustered on a fixed random subsample of this size."""

# Relative size below which a singular value counts as zero (a collinear direction).
_RANK_TOLERANCE = 1e-12


def svd_coordinates(X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """mclust's scaled SVD coordinates (``hcUse = "SVD"``) of the rows.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        The rows to transform.
    weights : ndarray of shape (n_rows,) or None
        Positive row multiplicities; None means one each.

    Returns
    -------
    ndarray of shape (n_rows, n_axes)
        ``S V diag(d)^(-1/2)``, where S holds the standardised features (centred, divided by
        their standard deviation with divisor N − 1, N the total weight) and
        ``S = U diag(d) Vᵀ`` is the singular value decomposition of S (rows counted with
        their multiplicity). Axis k then has variance ``d_k / (N − 1)``: the long axes of
        the data are shortened, but not to unit variance.

    Notes
    -----
    Features of zero variance are dropped (mclust drops the non-finite columns that
    ``scale`` makes of them). Axes of zero singular value (collinear features) are dropped
    too; mclust would divide by zero there and stop on the resulting NaN.
    """
    X = np.asarray(X, dtype=np.float64)
    n_rows = X.shape[0]
    weights = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    # R's colMeans and sum accumulate in long double; doing the same keeps the
    # coordinates within an ulp or two of mclust's.
    long_weights = weights.astype(np.longdouble)
    mean = ((long_weights[:, None] * X).sum(axis=0) / total).astype(np.float64)
    centred = X - mean
    sum_of_squares = (long_weights[:, None] * centred**2).sum(axis=0).astype(np.float64)
    scale = np.sqrt(sum_of_squares / max(1.0, total - 1.0))
    varying = scale > 0
    standardised = centred[:, varying] / scale[varying]
    if not np.any(varying):
        return np.zeros((n_rows, 0))
    _, singular_values, right_vectors = np.linalg.svd(
        np.sqrt(weights)[:, None] * standardised, full_matrices=False
    )
    kept = singular_values > _RANK_TOLERANCE * singular_values[0]
    projected = standardised @ right_vectors[kept].T
    return projected * (1.0 / np.sqrt(singular_values[kept]))


@dataclass(frozen=True)
class HierarchicalTree:
    """The sequence of merges of a model-based agglomerative clustering.

    Parameters
    ----------
    rows : ndarray of shape (n_clustered,)
        Indices (into the data) of the rows that were clustered.
    merges : ndarray of shape (n_clustered − 1, 2)
        Pairs (kept, absorbed) of group indices, in merge order; a group is named by
        the position in ``rows`` of its first row, so ``kept < absorbed`` (mclust's
        ``hc`` matrix, transposed and counted from 0).
    """

    rows: np.ndarray
    merges: np.ndarray

    def labels(self, n_components: int) -> np.ndarray:
        """Group labels 0 … n_components − 1 of the clustered rows, cut at n_components groups.

        Parameters
        ----------
        n_components : int
            Number of groups, at most the number of clustered rows.

        Returns
        -------
        ndarray of shape (n_clustered,)
            Groups numbered by their first row (mclust's ``hclass``, counted from 0).
        """
        n_clustered = self.rows.shape[0]
        if not 1 <= n_components <= n_clustered:
            raise ValueError(
                f"n_components must lie between 1 and the {n_clustered} clustered rows; "
                f"got {n_components}."
            )
        parent = np.arange(n_clustered)
        for kept, absorbed in self.merges[: n_clustered - n_components]:
            parent[parent == absorbed] = kept
        _, labels = np.unique(parent, return_inverse=True)
        return labels

    def responsibilities(self, n_samples: int, n_components: int) -> np.ndarray:
        """One-hot responsibilities of the clustered rows; other rows get zero rows.

        Parameters
        ----------
        n_samples : int
            Number of rows of the data.
        n_components : int
            Number of groups.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            Rows that were not clustered have all-zero rows, so that a first M-step from
            these responsibilities uses the clustered rows only.
        """
        responsibilities = np.zeros((n_samples, n_components))
        responsibilities[self.rows, self.labels(n_components)] = 1.0
        return responsibilities


def _determinant(scatter: list[list[np.ndarray]], inverse_count: np.ndarray) -> np.ndarray:
    """|W/n| of a batch of symmetric matrices W; 0 where W is not positive definite.

    Parameters
    ----------
    scatter : list of lists of ndarray
        ``scatter[j][l - j]`` is the batch of entries W_jl, j ≤ l (the upper triangle).
    inverse_count : ndarray
        1/n of each matrix, of the batch's shape.

    Returns
    -------
    ndarray of the batch's shape

    Notes
    -----
    A Cholesky factorisation W = RᵀR written entry by entry over the whole batch: about
    D³/3 NumPy calls on batch-sized vectors, where LAPACK would be called once per
    matrix (a few microseconds each, for thousands of 5 × 5 matrices per merge). The
    determinant is the product of the pivots: it cannot overflow, the data being in
    :func:`svd_coordinates`, and where it underflows it is negligible beside the trace
    term it is added to.
    """
    n_features = len(scatter)
    determinant = np.ones(inverse_count.shape)
    smallest = np.full(inverse_count.shape, np.inf)
    factor: list[list[np.ndarray]] = []
    # A non-positive pivot makes the rest of its factor inf or NaN; `smallest` then is not
    # positive (np.minimum propagates NaN) and the determinant is replaced by 0.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for j in range(n_features):
            pivot = scatter[j][0]
            for k in range(j):
                pivot = pivot - factor[k][j - k] * factor[k][j - k]
            smallest = np.minimum(smallest, pivot)
            determinant = determinant * (pivot * inverse_count)
            if j + 1 < n_features:
                inverse_root = 1.0 / np.sqrt(pivot)
                row = [pivot]
                for col in range(j + 1, n_features):
                    entry = scatter[j][col - j]
                    for k in range(j):
                        entry = entry - factor[k][j - k] * factor[k][col - k]
                    row.append(entry * inverse_root)
                factor.append(row)
    return np.where(smallest > 0, determinant, 0.0)


def _spread(
    count: np.ndarray,
    trace: np.ndarray,
    scatter: list[list[np.ndarray]] | None,
    use_determinant: np.ndarray,
    alpha: float,
    beta: float,
) -> np.ndarray:
    """|W/n|·[n > D] + β(tr W + α)/n of groups: mclust's VVV criterion is n · log of it.

    Parameters
    ----------
    count, trace : ndarray
        Rows in each group and the trace of its scatter W (any common shape).
    scatter : list of lists of ndarray or None
        The upper triangle of the scatters (see :func:`_determinant`); None when no group
        uses its determinant.
    use_determinant : ndarray of bool
        Where the determinant enters (groups of more rows than dimensions). A group whose
        trace is exactly zero, or whose W is not positive definite, gets the trace part
        alone (mclust's ``vvvtij``).
    alpha, beta : float
        The regularisation (α already scaled to the data).

    Returns
    -------
    ndarray of the common shape
    """
    spread = beta * (trace + alpha) / count
    needs = use_determinant & (trace != 0.0)
    if scatter is not None and np.any(needs):
        spread = spread + np.where(needs, _determinant(scatter, 1.0 / count), 0.0)
    return spread


@cache
def _compiled() -> Any:
    """The compiled agglomeration, or None without numba (``pip install 'gaussmix[fast]'``)."""
    try:
        from gaussmix import _compiled_hierarchical
    except ImportError:
        return None
    return _compiled_hierarchical


class _Agglomeration:
    """The state of mclust's VVV agglomeration, group by group ("slots"), in NumPy.

    Slots 0 … n_groups − 1 hold the live groups. Merging the groups in slots i < j keeps
    the union in slot i, moves the last slot's group into slot j and shortens the list:
    this is the bookkeeping of mclust's ``hcvvv``, and it decides which of several pairs of
    exactly equal cost is merged (the last in the order (i, j) by j, then by i). The cost
    of every pair sits in a symmetric matrix; each column j keeps the minimum of its rows
    i < j (the last such row on ties), so finding the next pair is one pass over columns.
    ``_compiled_hierarchical.agglomerate`` runs the same steps in one compiled call.
    """

    def __init__(self, points: np.ndarray, counts: np.ndarray, alpha: float, beta: float):
        n_groups, n_features = points.shape
        self.n_features = n_features
        self.alpha = alpha
        self.beta = beta
        self.count = counts.astype(np.float64).copy()
        # sqrt(n) × mean, the quantity mclust's Fortran carries for each group; features
        # first, so that one feature of all groups is one contiguous vector.
        self.scaled_mean = np.ascontiguousarray((np.sqrt(self.count)[:, None] * points).T)
        self.trace = np.zeros(n_groups)
        # Upper triangles of the scatters, packed: entry (j, l), j ≤ l, in row self.entry[j, l].
        self.upper, self.entry = _packing(n_features)
        self.scatter = np.zeros((self.upper[0].size, n_groups))
        self.singleton = self.count == 1.0
        self.term = self.count * np.log(beta * (self.trace + alpha) / self.count)
        # Group names: the smallest row (position among the clustered rows) in the group.
        self.name = np.arange(n_groups)
        self.n_groups = n_groups
        self.cost = np.full((n_groups, n_groups), np.inf)
        self.column_min = np.full(n_groups, np.inf)
        self.column_arg = np.zeros(n_groups, dtype=np.intp)
        # Merged criterion and trace of every pair of the last recomputed slot.
        self.fresh_slot = -1
        self.first_merge = True
        self.fresh_term = np.empty(n_groups)
        self.fresh_trace = np.empty(n_groups)
        # All pairs (i < j), a block of rows j at a time (about 2^14 pairs per block).
        block_rows = max(1, (1 << 14) // n_groups)
        for first in range(1, n_groups, block_rows):
            slots = np.arange(first, min(first + block_rows, n_groups))
            top = int(slots[-1])
            merged_term, _ = self.pair_terms(slots, 0, top)
            change = merged_term - (self.term[None, :top] + self.term[slots, None])
            below = np.arange(top)[None, :] < slots[:, None]
            self.cost[slots, :top] = np.where(below, change, np.inf)
        self.cost = np.minimum(self.cost, self.cost.T)
        self.rescan(np.arange(1, n_groups))

    def pair_terms(self, slots: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Criterion and trace of the union of each of ``slots`` with each slot start … stop − 1.

        Returns arrays of shape (len(slots), stop − start).
        """
        count, spread, trace = self.pair_spreads(slots, start, stop)
        return count * np.log(spread), trace

    def pair_spreads(
        self, slots: np.ndarray, start: int, stop: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, :func:`_spread` and trace of the unions of ``slots`` with start … stop − 1.

        Every number is computed by the same operations whatever the shapes, and the
        compiled agglomeration repeats them in the same order, so a pair gets the same bits
        in any call and on either path.
        """
        count_a = self.count[slots][:, None]
        count_b = self.count[None, start:stop]
        count = count_a + count_b
        inverse = 1.0 / count
        factor_a = np.sqrt(count_a * inverse)
        factor_b = np.sqrt(count_b * inverse)
        both_single = self.singleton[slots][:, None] & self.singleton[None, start:stop]
        any_single = bool(np.any(both_single))
        # v = sqrt(n_a n_b / n)(mean_b − mean_a), so that W = W_a + W_b + v vᵀ.
        v = []
        for k in range(self.n_features):
            mean_a = self.scaled_mean[k, slots][:, None]
            mean_b = self.scaled_mean[k, None, start:stop]
            v_k = factor_a * mean_b - factor_b * mean_a
            if any_single:
                # Two single rows: mclust forms (x_b − x_a)/√2 directly.
                v_k = np.where(both_single, (mean_b - mean_a) * np.sqrt(0.5), v_k)
            v.append(v_k)
        # The squares are added in feature order (a plain dot product, as reference BLAS).
        squares = v[0] * v[0]
        for k in range(1, self.n_features):
            squares = squares + v[k] * v[k]
        trace = (self.trace[None, start:stop] + self.trace[slots][:, None]) + squares
        use_determinant = (count > self.n_features) & ~both_single
        scatter = None
        if np.any(use_determinant):
            # Packed upper triangles W_b + W_a + v vᵀ, one (pairs,) array per entry.
            rows, cols = self.upper
            stacked = np.stack(v)
            packed = self.scatter[:, None, start:stop] + self.scatter[:, slots, None]
            packed += stacked[rows] * stacked[cols]
            scatter = [
                [packed[self.entry[j, col]] for col in range(j, self.n_features)]
                for j in range(self.n_features)
            ]
        spread = _spread(count, trace, scatter, use_determinant, self.alpha, self.beta)
        return count, spread, trace

    def rescan(self, columns: np.ndarray) -> None:
        """Minimum of each column over the rows above it; ties go to the last row."""
        # The matrix is symmetric: reading row j instead of column j reads contiguous memory.
        if columns.size <= 16:
            for j in columns:
                values = self.cost[j, :j]
                last = j - 1 - int(np.argmin(values[::-1]))
                self.column_min[j] = values[last]
                self.column_arg[j] = last
            return
        for block in np.array_split(columns, -(-columns.size // 256)):
            top = int(block.max())
            values = self.cost[block, :top]
            values[block[:, None] <= np.arange(top)[None, :]] = np.inf
            last = top - 1 - np.argmin(values[:, ::-1], axis=1)
            self.column_min[block] = values[np.arange(block.size), last]
            self.column_arg[block] = last

    def offer(self, row: int, columns: np.ndarray) -> None:
        """Update column minima after the entries (row, columns) changed, row < columns."""
        if columns.size == 0:
            return
        values = self.cost[row, columns]
        better = (values < self.column_min[columns]) | (
            (values == self.column_min[columns]) & (row > self.column_arg[columns])
        )
        self.column_min[columns[better]] = values[better]
        self.column_arg[columns[better]] = row

    def merge_next(self) -> tuple[int, int]:
        """Merge the cheapest pair; return the names (kept, absorbed) of the two groups."""
        live = self.n_groups
        minima = self.column_min[1:live]
        j = live - 1 - int(np.argmin(minima[::-1]))
        i = int(self.column_arg[j])
        term, trace = self.merged_criterion(i, j)
        names = self.absorb(i, j, term, trace)
        self.move_last(j)
        self.fresh_slot = -1
        self.first_merge = False
        if self.n_groups >= 2:
            self.refresh(i, j)
        return names

    def merged_criterion(self, i: int, j: int) -> tuple[float, float]:
        """Criterion and trace of the union of slots i < j, as mclust obtains them."""
        if self.fresh_slot in (i, j):
            other = j if self.fresh_slot == i else i
            return float(self.fresh_term[other]), float(self.fresh_trace[other])
        terms, traces = self.pair_terms(np.array([j]), i, i + 1)
        # The first pair comes straight from the scan of all pairs; later, mclust adds the
        # parts' criteria back to the stored change.
        if self.first_merge:
            return float(terms[0, 0]), float(traces[0, 0])
        return float(self.cost[i, j] + (self.term[i] + self.term[j])), float(traces[0, 0])

    def absorb(self, i: int, j: int, term: float, trace: float) -> tuple[int, int]:
        """Put the union of slots i < j into slot i; return the names (kept, absorbed)."""
        count_i, count_j = self.count[i], self.count[j]
        count = count_i + count_j
        inverse = 1.0 / count
        mean_i, mean_j = self.scaled_mean[:, i], self.scaled_mean[:, j]
        if self.singleton[i] and self.singleton[j]:
            v = (mean_j - mean_i) * np.sqrt(0.5)
        else:
            v = np.sqrt(count_i * inverse) * mean_j - np.sqrt(count_j * inverse) * mean_i
        rows, cols = self.upper
        scatter = self.scatter[:, i] + self.scatter[:, j] + v[rows] * v[cols]
        scaled_mean = np.sqrt(count_i * inverse) * mean_i + np.sqrt(count_j * inverse) * mean_j
        names = (int(self.name[i]), int(self.name[j]))
        kept, absorbed = min(names), max(names)
        self.count[i] = count
        self.scaled_mean[:, i] = scaled_mean
        self.trace[i] = trace
        self.scatter[:, i] = scatter
        self.term[i] = term
        self.singleton[i] = False
        self.name[i] = kept
        return kept, absorbed

    def move_last(self, j: int) -> None:
        """Move the last slot's group into slot j (absorbed) and drop the last slot."""
        last = self.n_groups - 1
        if j != last:
            for array in (self.count, self.trace, self.term, self.singleton, self.name):
                array[j] = array[last]
            self.scaled_mean[:, j] = self.scaled_mean[:, last]
            self.scatter[:, j] = self.scatter[:, last]
            self.cost[j, :] = self.cost[last, :]
            self.cost[:, j] = self.cost[:, last]
            self.cost[j, j] = np.inf
        self.cost[last, :] = np.inf
        self.cost[:, last] = np.inf
        self.n_groups = last

    def refresh(self, i: int, j: int) -> None:
        """New costs of the union in slot i, and the column minima they change."""
        live = self.n_groups
        merged_term, merged_trace = (value[0] for value in self.pair_terms(np.array([i]), 0, live))
        row = merged_term - (self.term[:live] + self.term[i])
        row[i] = np.inf
        self.cost[i, :live] = row
        self.cost[:live, i] = row
        self.fresh_slot = i
        self.fresh_term[:live] = merged_term
        self.fresh_trace[:live] = merged_trace
        # Columns whose minimum sat on a changed entry are scanned again; the others only
        # compare their new entries with their minimum.
        columns = np.arange(1, live)
        arg = self.column_arg[1:live]
        stale = (columns == i) | (columns == j) | (arg == i) | ((arg == j) & (columns > j))
        self.rescan(columns[stale])
        unchanged = columns[~stale]
        self.offer(i, unchanged[unchanged > i])
        if j < live:
            self.offer(j, unchanged[unchanged > j])


def _packing(n_features: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Row and column indices of the upper triangle, and the packed position of each entry."""
    upper = np.triu_indices(n_features)
    entry = np.zeros((n_features, n_features), dtype=np.intp)
    entry[upper] = np.arange(upper[0].size)
    return upper, entry


def agglomerate(
    points: np.ndarray,
    counts: np.ndarray | None = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    *,
    compiled: bool | None = None,
) -> np.ndarray:
    """Merges of mclust's VVV agglomeration (``hcVVV``) of the given coordinates.

    Parameters
    ----------
    points : ndarray of shape (n_groups, n_features)
        The starting groups' means (usually one row each, in :func:`svd_coordinates`).
    counts : ndarray of shape (n_groups,) or None
        Positive number of rows in each starting group (all its rows at its mean); None
        means one each.
    alpha, beta : float, default=1.0
        mclust's ``hcVVV`` regularisation: the scatter's trace is offset by
        ``alpha · tr(W_all) / (N · D)`` (W_all the scatter of all rows about their mean,
        N their number), and weighted by ``beta``.
    compiled : bool or None, default=None
        Run the whole agglomeration as one numba call (extra ``fast``); None: when numba
        is installed. Both paths compute every criterion with the same floating-point
        operations, hence the same merges; the NumPy path spends most of its time in
        Python bookkeeping (Old Faithful, 272 × 2: ~90 ms against a few ms compiled,
        ``benchmarks/results_hc_mclust.md``).

    Returns
    -------
    ndarray of shape (n_groups − 1, 2)
        Pairs (kept, absorbed) of group names in merge order, a group being named by its
        smallest starting group, ``kept < absorbed``.

    Notes
    -----
    A group of n rows with scatter W about its mean and trace T costs

        n · log( |W/n| · [n > D] + β (T + α') / n ),   α' = max(α · tr(W_all)/(N D), ε),

    (ε the float64 machine epsilon; a single row costs log(α'β), a group of exactly zero
    trace n · log(α'β/n), and a singular W counts as |W/n| = 0). The pair of least change
    in total cost is merged; of several pairs of exactly equal change, mclust's order
    decides (see :class:`_Agglomeration`). With D = 1 a group made of two single rows is
    costed without its determinant, as mclust does (for D ≥ 2 such a group has n ≤ D).
    """
    points = np.asarray(points, dtype=np.float64)
    n_groups, n_features = points.shape
    counts = np.ones(n_groups) if counts is None else np.asarray(counts, dtype=np.float64)
    if n_groups < 2:
        return np.empty((0, 2), dtype=np.intp)
    total = counts.sum()
    mean = (counts[:, None] * points).sum(axis=0) / total
    total_trace = float(np.sum(counts[:, None] * (points - mean) ** 2))
    scaled_alpha = max(alpha * total_trace / (total * max(n_features, 1)), np.finfo(float).eps)
    kernel = _compiled()
    if compiled and kernel is None:
        raise ImportError(
            "agglomerate(compiled=True) needs numba; install it with pip install 'gaussmix[fast]'."
        )
    if kernel is not None and compiled is not False:
        upper, _ = _packing(n_features)
        scaled_mean = np.ascontiguousarray((np.sqrt(counts)[:, None] * points).T)
        arguments = (scaled_mean, counts.copy(), scaled_alpha, float(beta), *upper)
        return compiling.call(kernel.agglomerate, *arguments)
    state = _Agglomeration(points, counts, scaled_alpha, beta)
    merges = np.empty((n_groups - 1, 2), dtype=np.intp)
    for step in range(n_groups - 1):
        merges[step] = state.merge_next()
    return merges


def build_tree(
    X: np.ndarray,
    sample_weight: np.ndarray | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
    *,
    compiled: bool | None = None,
) -> HierarchicalTree:
    """mclust's ``hc(X, modelName = "VVV", use = "SVD")``: the tree its ``Mclust`` starts from.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights, used as row multiplicities: a row of weight w starts as a
        group of w identical rows; rows of weight zero are left out.
    max_rows : int, default=2000
        When more rows have positive weight, a random subsample of this many (drawn with
        ``seed``) is clustered, as mclust clusters a random subset of
        ``mclust.options("subset")`` = 2000 rows.
    seed : int, default=0
        Seed of the subsample, so that the result is deterministic.
    compiled : bool or None, default=None
        Passed to :func:`agglomerate` (None: compiled when numba is installed); both
        paths give the same merges.

    Returns
    -------
    HierarchicalTree

    Notes
    -----
    The rows (of the subsample) are mapped to :func:`svd_coordinates` and agglomerated by
    :func:`agglomerate` with mclust's defaults α = β = 1. Without weights every row starts
    alone, duplicates included (mclust's ``hc`` documents ``partition = dupPartition(data)``
    but does not pass it on to ``hcVVV``, so duplicated rows start apart there too).

    mclust draws its subset with R's ``sample`` from the session's random state, which
    cannot be reproduced here; the subsample is a fixed NumPy draw instead. Below that,
    the merges are mclust's: on the five bundled data sets every one of them
    (``benchmarks/compare_hc_mclust.py``). Pairs whose costs differ only in the last bits
    may still be taken in another order where NumPy's linear algebra rounds differently
    from R's reference BLAS and LAPACK.

    Each merge recomputes the merged group's row of the pair-cost matrix (O(n D³)) and the
    column minima it invalidates, so the tree costs O(n² D³) time and O(n²) memory.
    """
    n_samples = X.shape[0]
    weights = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, float)
    rows = np.flatnonzero(weights > 0)
    if rows.shape[0] == 0:
        raise ValueError(
            "build_tree needs at least one row of positive weight; every weight is zero. "
            "Give some rows a positive sample_weight."
        )
    if rows.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
    counts = weights[rows]
    points = svd_coordinates(X[rows], counts)
    if points.shape[1] == 0:
        # Every row is the same point: only the group sizes decide the merges.
        points = np.zeros((rows.shape[0], 1))
    merges = agglomerate(points, counts, compiled=compiled)
    return HierarchicalTree(rows=rows, merges=merges)
