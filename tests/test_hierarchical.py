"""Model-based agglomerative clustering: each merge is the cheapest, cuts, subsampling."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from gaussmix.hierarchical import build_tree, scaled_principal_components

FLOOR = 1e-2  # the documented ε added to every group's scatter on whitened data


def group_cost(points: np.ndarray, weights: np.ndarray) -> float:
    """n · log|(W + εI)/n| for one group, with its scatter written as a loop."""
    total = weights.sum()
    mean = (weights[:, None] * points).sum(axis=0) / total
    scatter = np.zeros((points.shape[1], points.shape[1]))
    for point, weight in zip(points, weights, strict=True):
        scatter += weight * np.outer(point - mean, point - mean)
    sign, log_det = np.linalg.slogdet(scatter + FLOOR * np.eye(points.shape[1]))
    assert sign > 0
    return total * (log_det - points.shape[1] * np.log(total))


def test_every_merge_is_the_cheapest_pair_by_brute_force():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(14, 2)) * [1.0, 3.0]
    weights = rng.integers(1, 3, size=14).astype(float)
    tree = build_tree(X, weights)
    points = scaled_principal_components(X, weights)
    groups = {i: [i] for i in range(14)}
    for kept, absorbed in tree.merges:
        costs = {}
        for a in groups:
            for b in groups:
                if a < b:
                    union = groups[a] + groups[b]
                    costs[a, b] = (
                        group_cost(points[union], weights[union])
                        - group_cost(points[groups[a]], weights[groups[a]])
                        - group_cost(points[groups[b]], weights[groups[b]])
                    )
        cheapest = min(costs.values())
        assert costs[kept, absorbed] <= cheapest + 1e-9 * max(1.0, abs(cheapest))
        groups[kept] += groups.pop(absorbed)


def test_cut_recovers_separated_groups_and_is_deterministic():
    rng = np.random.default_rng(1)
    truth = np.repeat([0, 1, 2], 30)
    X = np.array([[0, 0], [10, 0], [0, 10]])[truth] + rng.normal(size=(90, 2))
    tree = build_tree(X)
    assert adjusted_rand_score(truth, tree.labels(3)) == 1.0
    np.testing.assert_array_equal(build_tree(X).merges, tree.merges)
    assert np.bincount(tree.labels(5)).size == 5


def test_clustering_does_not_depend_on_feature_units():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    scaled = X * [1.0, 1000.0, 0.01] + [5.0, -3.0, 100.0]
    np.testing.assert_array_equal(build_tree(X).merges, build_tree(scaled).merges)


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


def test_rows_of_zero_weight_are_left_out():
    X = np.random.default_rng(4).normal(size=(20, 2))
    weights = np.ones(20)
    weights[[3, 7]] = 0.0
    tree = build_tree(X, weights)
    assert 3 not in tree.rows and 7 not in tree.rows
