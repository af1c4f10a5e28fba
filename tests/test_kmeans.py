"""gaussmix.kmeans against scikit-learn's KMeans(n_init=1), the reference it reproduces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning

from gaussmix import fused
from gaussmix.initialization import initial_responsibilities
from gaussmix.kmeans import kmeans, kmeans_available

PATHS = [False, pytest.param(True, marks=pytest.mark.skipif(not fused.available(), reason="numba"))]


def _data_sets() -> list[tuple[np.ndarray, np.ndarray | None, int]]:
    """(X, sample_weight, K): blobs, overlapping clouds, one column, many columns,
    weights with zeros, data far from the origin."""
    rng = np.random.default_rng(7)
    sets = []
    for n_samples, n_features, n_clusters in [(300, 2, 3), (500, 5, 4), (200, 1, 3), (400, 9, 5)]:
        centres = rng.normal(scale=3.0, size=(n_clusters, n_features))
        X = centres[rng.integers(0, n_clusters, n_samples)] + rng.standard_normal(
            (n_samples, n_features)
        )
        sets.append((X, None, n_clusters))
    overlapping = rng.standard_normal((600, 3)) * [1.0, 2.0, 0.5]
    sets.append((overlapping, None, 6))
    weights = rng.uniform(0.0, 3.0, size=600)
    weights[rng.integers(0, 600, 150)] = 0.0
    sets.append((overlapping, weights, 4))
    sets.append((1e4 + rng.standard_normal((250, 2)), rng.integers(1, 4, 250).astype(float), 3))
    return sets


DATA = _data_sets()


def _sklearn(X, sample_weight, n_clusters, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters, n_init=1, **options).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("case", range(len(DATA)))
def test_lloyd_from_the_same_centres_equals_scikit_learn(case, compiled):
    X, weights, n_clusters = DATA[case]
    init = X[np.random.default_rng(case).choice(X.shape[0], n_clusters, replace=False)]
    reference = _sklearn(X, weights, n_clusters, init=init)
    ours = kmeans(X, weights, n_clusters, np.random.RandomState(0), init=init, compiled=compiled)
    np.testing.assert_array_equal(ours.labels, reference.labels_)
    np.testing.assert_allclose(ours.centres, reference.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert ours.n_iter == reference.n_iter_


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("case", range(len(DATA)))
def test_seeds_and_random_stream_equal_scikit_learn(case, compiled):
    X, weights, n_clusters = DATA[case]
    ours_state, reference_state = np.random.RandomState(case), np.random.RandomState(case)
    ours = kmeans(X, weights, n_clusters, ours_state, compiled=compiled)
    # KMeans seeds on the rows centred on their column means.
    _, seeds = kmeans_plusplus(
        X - X.mean(axis=0), n_clusters, random_state=reference_state, sample_weight=weights
    )
    np.testing.assert_array_equal(ours.seeds, seeds)
    assert ours_state.randint(2**31) == reference_state.randint(2**31)
    reference = _sklearn(X, weights, n_clusters, random_state=np.random.RandomState(case))
    np.testing.assert_array_equal(ours.labels, reference.labels_)
    np.testing.assert_allclose(ours.centres, reference.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert ours.n_iter == reference.n_iter_


EMPTY_CASES = {
    # A centre far from every row owns nothing at the first assignment.
    "far centre": np.array([[0.0, 0.0], [4.0, 4.0], [100.0, 100.0]]),
    # Equal centres: the first takes every row, the other two are relocated together.
    "equal centres": np.full((3, 2), 4.0),
    "several far": np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0], [-50.0, 0.0]]),
}


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", list(EMPTY_CASES))
def test_empty_clusters_are_relocated_as_scikit_learn_does(name, weighted, compiled):
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.standard_normal((150, 2)), rng.standard_normal((150, 2)) + 4.0])
    weights = rng.uniform(0.5, 2.0, size=300) if weighted else None
    init = EMPTY_CASES[name]
    reference = _sklearn(X, weights, init.shape[0], init=init)
    ours = kmeans(X, weights, init.shape[0], np.random.RandomState(0), init=init, compiled=compiled)
    np.testing.assert_array_equal(ours.labels, reference.labels_)
    np.testing.assert_allclose(ours.centres, reference.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert ours.n_iter == reference.n_iter_


@pytest.mark.parametrize("compiled", PATHS)
def test_fewer_distinct_rows_than_clusters_match_scikit_learn(compiled):
    # Every distance zero: nothing can be relocated; the empty clusters sit on the
    # heaviest one (scikit-learn's rule).
    X = np.repeat([[1.0, 2.0], [3.0, 1.0]], 20, axis=0)
    init = np.array([[1.0, 2.0], [3.0, 1.0], [9.0, 9.0]])
    reference = _sklearn(X, None, 3, init=init)
    ours = kmeans(X, None, 3, np.random.RandomState(0), init=init, compiled=compiled)
    np.testing.assert_array_equal(ours.labels, reference.labels_)
    np.testing.assert_allclose(ours.centres, reference.cluster_centers_, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(not fused.available(), reason="numba")
@pytest.mark.parametrize("case", range(len(DATA)))
def test_compiled_and_numpy_paths_give_the_same_bits(case):
    X, weights, n_clusters = DATA[case]
    compiled = kmeans(X, weights, n_clusters, np.random.RandomState(case), compiled=True)
    numpy = kmeans(X, weights, n_clusters, np.random.RandomState(case), compiled=False)
    np.testing.assert_array_equal(compiled.seeds, numpy.seeds)
    np.testing.assert_array_equal(compiled.labels, numpy.labels)
    assert compiled.centres.tobytes() == numpy.centres.tobytes()
    assert compiled.n_iter == numpy.n_iter


@pytest.mark.parametrize("case", range(len(DATA)))
def test_the_kmeans_start_is_scikit_learns_kmeans(case):
    X, weights, n_clusters = DATA[case]
    start = initial_responsibilities(X, weights, n_clusters, "kmeans", np.random.RandomState(5))
    labels = _sklearn(X, weights, n_clusters, random_state=np.random.RandomState(5)).labels_
    np.testing.assert_array_equal(start, np.eye(n_clusters)[labels])


def test_float32_rows_are_left_to_scikit_learn():
    X32 = DATA[0][0].astype(np.float32)
    assert not kmeans_available(X32, None)
    assert not kmeans_available(DATA[0][0], np.ones(300, dtype=np.float32))
    assert kmeans_available(DATA[0][0], None)
    start = initial_responsibilities(X32, None, 3, "kmeans", np.random.RandomState(1))
    labels = _sklearn(X32, None, 3, random_state=np.random.RandomState(1)).labels_
    np.testing.assert_array_equal(start, np.eye(3)[labels])


def test_large_data_are_left_to_scikit_learns_threads():
    assert not kmeans_available(np.zeros((65537, 2)), None)
    assert kmeans_available(np.zeros((65536, 2)), None)


def test_equal_weights_cumulative_is_that_of_unit_weights_and_read_only():
    from gaussmix.kmeans import _cumulative, _equal_cumulative

    for n_samples in (1, 7, 300, 10_000):
        kept = _equal_cumulative(n_samples)
        assert kept.tobytes() == _cumulative(np.ones(n_samples)).tobytes()
        assert kept[-1] == 1.0 and not kept.flags.writeable
        assert _equal_cumulative(n_samples) is kept


@pytest.mark.parametrize("compiled", PATHS)
def test_unweighted_kmeans_is_kmeans_with_unit_weights(compiled):
    X = np.random.default_rng(2).normal(size=(257, 3))
    plain = kmeans(X, None, 4, np.random.RandomState(9), compiled=compiled)
    unit = kmeans(X, np.ones(257), 4, np.random.RandomState(9), compiled=compiled)
    np.testing.assert_array_equal(plain.seeds, unit.seeds)
    np.testing.assert_array_equal(plain.labels, unit.labels)
    assert plain.centres.tobytes() == unit.centres.tobytes()
