"""Model-based agglomerative hierarchical clustering, the starting partition mclust uses.

Starting from one group per row, the pair of groups whose merge least lowers the
classification likelihood of an unconstrained (VVV) Gaussian model is merged, until one
group is left. Cutting the sequence of merges at K groups gives a deterministic starting
partition for every K at once.

References
----------
Banfield, J. D. and Raftery, A. E. (1993). Model-based Gaussian and non-Gaussian
clustering. *Biometrics* 49(3), 803–821.
Fraley, C. (1998). Algorithms for model-based Gaussian hierarchical clustering.
*SIAM Journal on Scientific Computing* 20(1), 270–281.
Scrucca, L., Fop, M., Murphy, T. B. and Raftery, A. E. (2016). mclust 5. *The R Journal*
8(1), 289–317 (the scaled SVD transformation used before clustering).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_MAX_ROWS", "HierarchicalTree", "build_tree", "scaled_principal_components"]

DEFAULT_MAX_ROWS = 2000
"""Rows clustered at most; larger data are clustered on a fixed random subsample of this size."""

# Added to every group's scatter (the data are whitened, so this is a fraction of the
# total variance): singletons and collinear groups then have a finite criterion.
_SCATTER_FLOOR = 1e-2


def scaled_principal_components(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Coordinates of the rows along the principal axes, each axis scaled to unit variance.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        The rows to transform.
    weights : ndarray of shape (n_rows,)
        Positive row weights.

    Returns
    -------
    ndarray of shape (n_rows, n_axes)
        Axes of (numerically) zero variance are dropped.

    Notes
    -----
    This is mclust's default ``hcUse = "SVD"``: the clustering does not depend on the
    units of the features, and elongated data do not make every early merge follow their
    long axis.
    """
    mean = np.average(X, axis=0, weights=weights)
    centred = X - mean
    covariance = (centred * weights[:, None]).T @ centred / weights.sum()
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    kept = eigenvalues > 1e-12 * max(float(eigenvalues.max()), np.finfo(float).tiny)
    return centred @ (eigenvectors[:, kept] / np.sqrt(eigenvalues[kept]))


@dataclass(frozen=True)
class HierarchicalTree:
    """The sequence of merges of a model-based agglomerative clustering.

    Parameters
    ----------
    rows : ndarray of shape (n_clustered,)
        Indices (into the data) of the rows that were clustered.
    merges : ndarray of shape (n_clustered − 1, 2)
        Pairs (kept, absorbed) of group indices, in merge order; a group is named by
        the position in ``rows`` of its first row.
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
            Groups numbered by their first row.
        """
        n_clustered = self.rows.shape[0]
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


def _criterion(weight: np.ndarray, scatter: np.ndarray) -> np.ndarray:
    """n_c · log|(W_c + εI) / n_c| of each group (the VVV classification criterion)."""
    n_features = scatter.shape[-1]
    _, log_det = np.linalg.slogdet(scatter + _SCATTER_FLOOR * np.eye(n_features))
    return weight * (log_det - n_features * np.log(weight))


def build_tree(
    X: np.ndarray,
    sample_weight: np.ndarray | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
) -> HierarchicalTree:
    """Agglomerate rows by the least loss of VVV classification likelihood.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights, used as row multiplicities; rows of weight zero are left out.
    max_rows : int, default=2000
        When more rows have positive weight, a random subsample of this many (drawn with
        ``seed``) is clustered.
    seed : int, default=0
        Seed of the subsample, so that the result is deterministic.

    Returns
    -------
    HierarchicalTree

    Notes
    -----
    A group c with weight n_c and centred scatter W_c costs
    n_c · log|(W_c + εI)/n_c|, ε = 10⁻² on the whitened data (a group of one row would
    otherwise cost −∞). Merging groups a and b changes the total cost by
    Δ = cost(a ∪ b) − cost(a) − cost(b), with
    W_{a∪b} = W_a + W_b + (n_a n_b / (n_a + n_b)) (m_a − m_b)(m_a − m_b)ᵀ. The pair of least
    Δ is merged; ties go to the lowest indices. Each merge updates one row and column of
    the cost matrix and the row minima that pointed to the merged groups, so the whole
    tree costs O(n² D³) time and O(n²) memory for n clustered rows.
    """
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    rows = np.flatnonzero(weights > 0)
    if rows.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
    points = scaled_principal_components(X[rows].astype(np.float64), weights[rows])
    weight = weights[rows].copy()
    n_clustered, n_features = points.shape
    means = points.copy()
    scatter = np.zeros((n_clustered, n_features, n_features))
    criterion = _criterion(weight, scatter)

    # Pairs of singletons have a closed form: det(εI + a δδᵀ) = ε^{D−1} (ε + a|δ|²).
    squared_distance = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    joint = weight[:, None] + weight[None, :]
    spread = weight[:, None] * weight[None, :] / joint
    cost = joint * (
        (n_features - 1) * np.log(_SCATTER_FLOOR)
        + np.log(_SCATTER_FLOOR + spread * squared_distance)
        - n_features * np.log(joint)
    )
    cost -= criterion[:, None] + criterion[None, :]
    np.fill_diagonal(cost, np.inf)
    best_partner = np.argmin(cost, axis=1)
    best_cost = cost[np.arange(n_clustered), best_partner]
    active = np.ones(n_clustered, dtype=bool)

    merges = np.empty((max(n_clustered - 1, 0), 2), dtype=np.intp)
    for step in range(n_clustered - 1):
        first = int(np.argmin(best_cost))
        second = int(best_partner[first])
        kept, absorbed = min(first, second), max(first, second)
        merges[step] = kept, absorbed

        total = weight[kept] + weight[absorbed]
        offset = means[kept] - means[absorbed]
        scatter[kept] += scatter[absorbed] + (weight[kept] * weight[absorbed] / total) * np.outer(
            offset, offset
        )
        means[kept] = (weight[kept] * means[kept] + weight[absorbed] * means[absorbed]) / total
        weight[kept] = total
        criterion[kept] = _criterion(weight[kept : kept + 1], scatter[kept : kept + 1])[0]
        active[absorbed] = False
        cost[absorbed, :] = np.inf
        cost[:, absorbed] = np.inf
        best_cost[absorbed] = np.inf

        others = np.flatnonzero(active)
        others = others[others != kept]
        if others.size == 0:
            break
        joint = weight[others] + weight[kept]
        offsets = means[others] - means[kept]
        merged = (
            scatter[others]
            + scatter[kept]
            + (weight[others] * weight[kept] / joint)[:, None, None]
            * offsets[:, :, None]
            * offsets[:, None, :]
        )
        row = _criterion(joint, merged) - criterion[others] - criterion[kept]
        cost[kept, others] = row
        cost[others, kept] = row

        best_partner[kept] = others[np.argmin(row)]
        best_cost[kept] = row.min()
        stale = others[np.isin(best_partner[others], (kept, absorbed))]
        if stale.size:
            best_partner[stale] = np.argmin(cost[stale], axis=1)
            best_cost[stale] = cost[stale, best_partner[stale]]
        improved = others[row < best_cost[others]]
        best_partner[improved] = kept
        best_cost[improved] = cost[improved, kept]
    return HierarchicalTree(rows=rows, merges=merges)
