"""mclust's VVV agglomeration: against a plain implementation of its definition, cuts,
duplicates, weights, D = 1, small n, ties, subsampling, the compiled path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from gaussmix import datasets
from gaussmix.hierarchical import (
    HierarchicalTree,
    _Agglomeration,
    agglomerate,
    build_tree,
    svd_coordinates,
)

BETA = 1.0


# ----------------------------------------------------------------- the plain implementation


def plain_svd_coordinates(X: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """mclust's ``use = "SVD"`` by an eigen-decomposition instead of an SVD.

    Standardise (divisor N − 1), then Z = S V diag(d)^(−1/2) with SᵀS = V diag(d²) Vᵀ.
    """
    total = counts.sum()
    mean = counts @ X / total
    sd = np.sqrt(counts @ (X - mean) ** 2 / (total - 1))
    S = (X - mean) / sd
    eigenvalues, eigenvectors = np.linalg.eigh((S * counts[:, None]).T @ S)
    kept = eigenvalues > 1e-12 * eigenvalues.max()  # directions of no spread are dropped
    return S @ eigenvectors[:, kept] / eigenvalues[kept] ** 0.25


def group_criterion(
    Z: np.ndarray, counts: np.ndarray, members: list[int], alpha: float, two_singles: bool
) -> float:
    """n · log(|W/n| [n > D] + β (tr W + α)/n) of one group, from its rows.

    mclust leaves the determinant out for a group made of two single rows (which only
    matters for D = 1).
    """
    weights = counts[members]
    n = weights.sum()
    mean = weights @ Z[members] / n
    centred = Z[members] - mean
    scatter = (centred * weights[:, None]).T @ centred
    trace = np.trace(scatter)
    spread = BETA * (trace + alpha) / n
    if n > Z.shape[1] and trace != 0.0 and not two_singles:
        sign, log_det = np.linalg.slogdet(scatter / n)
        if sign > 0:
            spread += np.exp(log_det)
    return n * np.log(spread)


def plain_merges(Z: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """The agglomeration written plainly: each union's criterion from its member rows.

    Groups sit in mclust's slots (the union of slots i < j stays in i, the last slot moves
    to j); the pair merged is the last minimum in the order of (i, j) by j, then by i.
    """
    n_rows, n_features = Z.shape
    counts = np.ones(n_rows) if counts is None else counts
    total = counts.sum()
    mean = counts @ Z / total
    alpha = max(float(counts @ ((Z - mean) ** 2).sum(axis=1)) / (total * n_features), 2.0**-52)
    groups = [[row] for row in range(n_rows)]
    single = [bool(count == 1) for count in counts]
    own = [group_criterion(Z, counts, group, alpha, False) for group in groups]

    def change(i: int, j: int) -> float:
        union = groups[i] + groups[j]
        two = single[i] and single[j]
        return group_criterion(Z, counts, union, alpha, two) - own[i] - own[j]

    cost = np.full((n_rows, n_rows), np.inf)
    for j in range(n_rows):
        for i in range(j):
            cost[i, j] = cost[j, i] = change(i, j)
    merges = []
    while len(groups) > 1:
        live = len(groups)
        order = [(i, j) for j in range(1, live) for i in range(j)]
        values = np.array([cost[i, j] for i, j in order])
        i, j = order[len(values) - 1 - int(np.argmin(values[::-1]))]
        merges.append(sorted((min(groups[i]), min(groups[j]))))
        # A group made of two single rows keeps the criterion its merge gave it.
        own[i] = group_criterion(Z, counts, groups[i] + groups[j], alpha, single[i] and single[j])
        groups[i] = groups[i] + groups[j]
        single[i] = False
        last = live - 1
        groups[j], single[j], own[j] = groups[last], single[last], own[last]
        cost[j, :], cost[:, j] = cost[last, :].copy(), cost[:, last].copy()
        cost[j, j] = np.inf
        del groups[last], single[last], own[last]
        cost[last, :] = cost[:, last] = np.inf
        for k in range(len(groups)):
            if k != i:
                cost[i, k] = cost[k, i] = change(min(i, k), max(i, k))
    return np.array(merges, dtype=np.intp).reshape(-1, 2)


def cut(merges: np.ndarray, n_rows: int, n_groups: int) -> np.ndarray:
    """Labels numbered by first row after the first n_rows − n_groups merges."""
    parent = np.arange(n_rows)
    for kept, absorbed in merges[: n_rows - n_groups]:
        parent[parent == absorbed] = kept
    return np.unique(parent, return_inverse=True)[1]


# ----------------------------------------------------------------------------- the data


def bundled(name: str, rows: int | None = None) -> np.ndarray:
    loader = {
        "faithful": datasets.load_old_faithful,
        "iris": datasets.load_iris,
        "diabetes": datasets.load_diabetes,
        "banknote": datasets.load_banknote,
        "thyroid": datasets.load_thyroid,
    }[name]
    return loader().data[:rows]


# ------------------------------------------------------------------------------- tests


def test_svd_coordinates_match_the_eigen_decomposition_and_count_multiplicities():
    X = bundled("thyroid")
    counts = np.ones(X.shape[0])
    ours, plain = svd_coordinates(X), plain_svd_coordinates(X, counts)
    # Equal up to the signs of the axes: compare the Gram matrices.
    np.testing.assert_allclose(ours @ ours.T, plain @ plain.T, rtol=0, atol=1e-12)
    # Weights are multiplicities: a row of weight 3 is three equal rows.
    weights = np.random.default_rng(0).integers(1, 4, size=X.shape[0]).astype(float)
    repeated = np.repeat(X, weights.astype(int), axis=0)
    first = np.concatenate([[0], np.cumsum(weights.astype(int))[:-1]])
    weighted = svd_coordinates(X, weights)
    np.testing.assert_allclose(
        weighted @ weighted.T,
        (svd_coordinates(repeated)[first]) @ (svd_coordinates(repeated)[first]).T,
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("name", "rows"),
    [("iris", None), ("diabetes", None), ("faithful", 120), ("banknote", 100), ("thyroid", 120)],
)
def test_tree_is_the_plain_agglomeration_on_bundled_data(name, rows):
    X = bundled(name, rows)
    tree = build_tree(X)
    expected = plain_merges(plain_svd_coordinates(X, np.ones(X.shape[0])))
    n_rows = X.shape[0]
    for n_groups in range(1, 10):
        np.testing.assert_array_equal(tree.labels(n_groups), cut(expected, n_rows, n_groups))


def test_tree_is_the_plain_agglomeration_merge_by_merge_with_weights():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(40, 3)) * [1.0, 0.5, 2.0]
    counts = rng.integers(1, 4, size=40).astype(float)
    np.testing.assert_array_equal(agglomerate(Z, counts), plain_merges(Z, counts))


def test_one_feature_follows_mclusts_pair_rule():
    # With D = 1 a pair of single rows is costed without its determinant; on small
    # samples like these, costing it with the determinant changes the merges.
    for seed in range(10):
        rng = np.random.default_rng(seed)
        n_rows = int(rng.integers(5, 15))
        x = rng.gamma(rng.uniform(0.5, 3.0), size=(n_rows, 1))
        np.testing.assert_array_equal(agglomerate(x), plain_merges(x))
    x = np.random.default_rng(2).gamma(2.0, size=(60, 1))
    np.testing.assert_array_equal(
        build_tree(x).merges, plain_merges(plain_svd_coordinates(x, np.ones(60)))
    )


def test_duplicated_rows_start_apart_and_merge_first():
    X = bundled("iris")
    _, first, counts = np.unique(X, axis=0, return_index=True, return_counts=True)
    (duplicate,) = np.flatnonzero(counts == 2)
    pair = sorted(np.flatnonzero((X == X[first[duplicate]]).all(axis=1)))
    tree = build_tree(X)
    assert tree.rows.shape == (150,)
    np.testing.assert_array_equal(tree.merges[0], pair)


def test_weight_is_a_group_of_equal_rows_from_the_start():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    weights = np.ones(30)
    weights[[4, 11]] = [3.0, 2.0]
    tree = build_tree(X, weights)
    expected = plain_merges(plain_svd_coordinates(X, weights), weights)
    np.testing.assert_array_equal(tree.merges, expected)


def test_cut_recovers_separated_groups_and_is_deterministic():
    rng = np.random.default_rng(1)
    truth = np.repeat([0, 1, 2], 30)
    X = np.array([[0, 0], [10, 0], [0, 10]])[truth] + rng.normal(size=(90, 2))
    tree = build_tree(X)
    assert adjusted_rand_score(truth, tree.labels(3)) == 1.0
    np.testing.assert_array_equal(build_tree(X).merges, tree.merges)
    labels = tree.labels(5)
    assert np.bincount(labels).size == 5
    # Groups are numbered by their first row, as mclust's hclass numbers them.
    _, first = np.unique(labels, return_index=True)
    assert np.all(np.diff(first) > 0)


def test_exact_ties_go_to_mclusts_last_pair():
    # Six equally spaced points: the five neighbouring pairs of single rows cost exactly
    # the same. mclust scans the pairs (i, j) by j, then i, and keeps the last minimum:
    # (4, 5) first; the union stays in slot 4, so (2, 3) is then the last of the tied
    # pairs, and then (0, 1).
    points = np.column_stack([np.arange(6.0), np.zeros(6)])
    merges = agglomerate(points)
    np.testing.assert_array_equal(merges[:3], [[4, 5], [2, 3], [0, 1]])
    np.testing.assert_array_equal(merges, plain_merges(points))
    # The corners of a square: four tied sides, the same rule.
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(agglomerate(square), plain_merges(square))
    np.testing.assert_array_equal(agglomerate(square)[0], [2, 3])


def test_clustering_does_not_depend_on_feature_units():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    scaled = X * [1.0, 1000.0, 0.01] + [5.0, -3.0, 100.0]
    np.testing.assert_array_equal(build_tree(X).merges, build_tree(scaled).merges)


@pytest.mark.parametrize("n_rows", [1, 2, 3, 5])
def test_few_rows_and_more_features_than_rows(n_rows):
    X = np.random.default_rng(4).normal(size=(n_rows, 5))
    tree = build_tree(X)
    assert tree.merges.shape == (n_rows - 1, 2)
    np.testing.assert_array_equal(tree.labels(n_rows), np.arange(n_rows))
    np.testing.assert_array_equal(tree.labels(1), np.zeros(n_rows))
    if n_rows > 1:
        expected = plain_merges(plain_svd_coordinates(X, np.ones(n_rows)))
        np.testing.assert_array_equal(tree.merges, expected)


def test_identical_rows_still_give_a_tree():
    tree = build_tree(np.ones((6, 2)))
    assert tree.merges.shape == (5, 2)
    np.testing.assert_array_equal(tree.labels(1), np.zeros(6))


def test_cut_outside_the_tree_says_what_must_hold():
    tree = build_tree(np.random.default_rng(5).normal(size=(4, 2)))
    with pytest.raises(ValueError, match="between 1 and the 4 clustered rows; got 5"):
        tree.labels(5)


def test_every_weight_zero_is_refused():
    with pytest.raises(ValueError, match="at least one row of positive weight"):
        build_tree(np.ones((3, 2)), np.zeros(3))


def test_large_data_are_subsampled_and_other_rows_get_zero_responsibility():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 2))
    tree = build_tree(X, max_rows=100, seed=5)
    assert tree.rows.shape == (100,)
    responsibilities = tree.responsibilities(300, 4)
    clustered = np.zeros(300, dtype=bool)
    clustered[tree.rows] = True
    np.testing.assert_array_equal(responsibilities[clustered].sum(axis=1), 1.0)
    np.testing.assert_array_equal(responsibilities[~clustered], 0.0)
    np.testing.assert_array_equal(build_tree(X, max_rows=100, seed=5).rows, tree.rows)
    # The subsample is clustered as data of its own.
    np.testing.assert_array_equal(tree.merges, build_tree(X[tree.rows]).merges)


def test_rows_of_zero_weight_are_left_out():
    X = np.random.default_rng(4).normal(size=(20, 2))
    weights = np.ones(20)
    weights[[3, 7]] = 0.0
    tree = build_tree(X, weights)
    assert 3 not in tree.rows and 7 not in tree.rows
    np.testing.assert_array_equal(tree.merges, build_tree(X[tree.rows]).merges)


def test_tree_is_a_plain_record():
    tree = HierarchicalTree(rows=np.arange(3), merges=np.array([[1, 2], [0, 1]]))
    np.testing.assert_array_equal(tree.labels(2), [0, 1, 1])
    np.testing.assert_array_equal(tree.responsibilities(4, 2)[3], [0.0, 0.0])


def _tie_heavy_points(rng: np.random.Generator, n_rows: int, n_features: int) -> np.ndarray:
    """Points on a small integer grid, some of them repeated: many exactly tied costs."""
    points = rng.integers(0, 4, size=(n_rows, n_features)).astype(float)
    points[rng.integers(0, n_rows, size=n_rows // 5)] = points[0]
    return points


@pytest.mark.parametrize("n_features", [1, 2, 3, 5, 9])
def test_compiled_path_gives_the_same_merges(n_features):
    pytest.importorskip("numba")
    rng = np.random.default_rng(n_features)
    Z = rng.normal(size=(150, n_features))
    Z[10] = Z[20]  # a duplicate: an exact zero trace
    counts = rng.integers(1, 3, size=150).astype(float)
    grid = _tie_heavy_points(rng, 120, n_features)
    fractional = rng.uniform(0.5, 3.0, size=120)
    cases = [(Z, None), (Z, counts), (grid, None), (grid, fractional), (Z[:3], None)]
    for points, weights in cases:
        np.testing.assert_array_equal(
            agglomerate(points, weights, compiled=True),
            agglomerate(points, weights, compiled=False),
        )


def test_compiled_path_follows_the_plain_agglomeration_on_ties():
    pytest.importorskip("numba")
    points = np.column_stack([np.arange(6.0), np.zeros(6)])
    np.testing.assert_array_equal(agglomerate(points, compiled=True), plain_merges(points))
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(agglomerate(square, compiled=True), plain_merges(square))


def test_compiled_path_gives_the_same_trees_on_bundled_data():
    pytest.importorskip("numba")
    for name in ("faithful", "thyroid"):
        Z = svd_coordinates(bundled(name))
        np.testing.assert_array_equal(agglomerate(Z, compiled=True), agglomerate(Z, compiled=False))


def test_numpy_state_is_mclusts_bookkeeping():
    # The NumPy path's pair criteria do not depend on the shape of the call.
    rng = np.random.default_rng(8)
    Z = rng.normal(size=(40, 3))
    state = _Agglomeration(Z, np.ones(40), 0.1, 1.0)
    for _ in range(20):
        state.merge_next()
    slots = np.arange(state.n_groups)
    whole = state.pair_spreads(slots, 0, slots.size)
    for slot in slots[:5]:
        single = state.pair_spreads(np.array([slot]), 0, slots.size)
        for whole_values, single_values in zip(whole, single, strict=True):
            np.testing.assert_array_equal(whole_values[slot], single_values[0])


def test_without_numba_the_numpy_path_runs_and_compiled_is_refused(monkeypatch):
    from gaussmix import hierarchical

    Z = np.random.default_rng(9).normal(size=(30, 2))
    expected = agglomerate(Z, compiled=False)
    monkeypatch.setattr(hierarchical, "_compiled", lambda: None)
    np.testing.assert_array_equal(agglomerate(Z), expected)
    np.testing.assert_array_equal(agglomerate(Z), plain_merges(Z))
    with pytest.raises(ImportError, match="needs numba"):
        agglomerate(Z, compiled=True)
