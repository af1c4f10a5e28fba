"""The statistics of a k-means start's labels (gaussmix.kmeans.partition_statistics and the
Partition start) against per-label means and scatters computed directly."""

from __future__ import annotations

import numpy as np
import pytest

from gaussmix import GaussianMixture, fitting, fused
from gaussmix.covariance import get_covariance_model
from gaussmix.initialization import (
    Partition,
    dense_responsibilities,
    draw_start,
    initial_responsibilities,
    parameters_from_responsibilities,
)
from gaussmix.kmeans import partition_statistics

KINDS = ("trace", "diagonal", "full")
MODELS = (
    "EII", "VII", "EEI", "VVI", "EVI", "EEE", "EEV", "EVV", "VVV",
    "VEI", "VEE", "VEV", "EVE", "VVE",
)  # fmt: skip
needs_numba = pytest.mark.skipif(not fused.available(), reason="numba is not installed")


def _labelled(seed: int, n_samples: int = 5000, n_features: int = 4, n_clusters: int = 3):
    """Rows far from the origin (where a raw-moment formula would cancel), labels with an
    empty cluster, and weights with zeros."""
    rng = np.random.default_rng(seed)
    X = 1e3 + rng.normal(size=(n_samples, n_features)) @ rng.normal(size=(n_features,) * 2)
    labels = rng.integers(0, n_clusters - 1, size=n_samples)  # the last cluster stays empty
    weights = rng.uniform(0.0, 2.0, size=n_samples)
    weights[::7] = 0.0
    return X, labels, weights, n_clusters


def _direct(X, labels, weights, n_clusters):
    """n_k, means and centred scatters of every label, cluster by cluster."""
    w = np.ones(X.shape[0]) if weights is None else weights
    n_k = np.array([w[labels == k].sum() for k in range(n_clusters)])
    means = np.zeros((n_clusters, X.shape[1]))
    scatters = np.zeros((n_clusters, X.shape[1], X.shape[1]))
    for k in range(n_clusters):
        rows, row_weights = X[labels == k], w[labels == k]
        if n_k[k] > 0:
            means[k] = np.average(rows, axis=0, weights=row_weights)
            centred = rows - means[k]
            scatters[k] = (centred * row_weights[:, None]).T @ centred
    return n_k, means, scatters


def _centred(statistics, kind):
    """The mean and the centred scatter the statistics stand for (about their shift)."""
    n_k = np.where(statistics.n_k > 0, statistics.n_k, 1.0)
    d = statistics.weighted_sum / n_k[:, None]
    if kind == "full":
        scatter = statistics.scatter - n_k[:, None, None] * np.einsum("ki,kj->kij", d, d)
    elif kind == "diagonal":
        scatter = statistics.scatter - n_k[:, None] * d * d
    else:
        scatter = statistics.scatter - n_k * np.sum(d * d, axis=1)
    return statistics.shift + d, scatter


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=needs_numba)])
def test_partition_statistics_equal_the_direct_means_and_scatters(kind, weighted, compiled):
    X, labels, weights, n_clusters = _labelled(seed=3)
    weights = weights if weighted else None
    statistics = partition_statistics(X, weights, labels, n_clusters, kind, compiled=compiled)
    n_k, means, scatters = _direct(X, labels, weights, n_clusters)
    mean, scatter = _centred(statistics, kind)
    expected = {
        "full": scatters,
        "diagonal": np.diagonal(scatters, axis1=1, axis2=2),
        "trace": np.trace(scatters, axis1=1, axis2=2),
    }[kind]
    np.testing.assert_allclose(statistics.n_k, n_k, rtol=1e-13)
    assert statistics.n_k[-1] == 0.0 and np.all(statistics.shift[-1] == 0.0)
    np.testing.assert_allclose(mean, means, rtol=1e-13)
    np.testing.assert_allclose(scatter, expected, rtol=1e-11, atol=1e-9 * np.abs(expected).max())
    assert statistics.total_weight == pytest.approx(
        X.shape[0] if weights is None else weights.sum(), rel=1e-14
    )
    if kind == "full":
        np.testing.assert_array_equal(statistics.scatter, np.swapaxes(statistics.scatter, 1, 2))


@needs_numba
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_samples", [300, 9000])  # one and three NumPy blocks
def test_partition_statistics_compiled_and_numpy_give_the_same_bits(kind, n_samples):
    X, labels, weights, n_clusters = _labelled(seed=4, n_samples=n_samples, n_features=6)
    for w in (None, weights):
        compiled = partition_statistics(X, w, labels, n_clusters, kind, compiled=True)
        numpy = partition_statistics(X, w, labels, n_clusters, kind, compiled=False)
        for name in ("n_k", "shift", "weighted_sum", "scatter"):
            assert getattr(compiled, name).tobytes() == getattr(numpy, name).tobytes(), name


@pytest.mark.parametrize("code", MODELS)
def test_a_partition_start_equals_its_one_hot_start(code):
    X, labels, weights, _ = _labelled(seed=5, n_samples=600, n_features=3, n_clusters=3)
    labels = labels % 2 + (np.arange(600) % 3 == 0)  # three non-empty clusters
    model = get_covariance_model(code)
    partition = Partition(labels.astype(np.int64), 3)
    from_labels = parameters_from_responsibilities(X, weights, partition, model, 1e-6)
    from_one_hot = parameters_from_responsibilities(
        X, weights, partition.responsibilities(), model, 1e-6
    )
    # Iterative models: their inner iterations stop on a tolerance, from statistics that
    # differ in rounding.
    tolerance = 1e-10 if code in MODELS[:9] else 1e-7
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_allclose(
            getattr(from_labels, name), getattr(from_one_hot, name), rtol=tolerance, atol=1e-12
        )


def test_the_kmeans_draw_is_a_partition_of_float64_rows_only():
    X, _, _, _ = _labelled(seed=6, n_samples=400, n_features=2)
    start = draw_start(X, None, 3, "kmeans", np.random.RandomState(0))
    assert isinstance(start, Partition)
    one_hot = initial_responsibilities(X, None, 3, "kmeans", np.random.RandomState(0))
    np.testing.assert_array_equal(start.responsibilities(), one_hot)
    assert not isinstance(
        draw_start(X.astype(np.float32), None, 3, "kmeans", np.random.RandomState(0)), Partition
    )
    assert not isinstance(draw_start(X, None, 3, "random", np.random.RandomState(0)), Partition)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_a_kmeans_fit_equals_the_fit_from_its_one_hot_start(covariance_type, monkeypatch):
    X, _, weights, _ = _labelled(seed=8, n_samples=500, n_features=5)
    arguments = dict(covariance_type=covariance_type, n_init=3, random_state=2)
    fitted = GaussianMixture(3, **arguments).fit(X, sample_weight=weights)
    # The same draws handed on as one-hot responsibilities (NumPy's products).
    monkeypatch.setattr(
        fitting, "draw_start", lambda *args: dense_responsibilities(draw_start(*args))
    )
    reference = GaussianMixture(3, **arguments).fit(X, sample_weight=weights)
    assert fitted.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(fitted.means_, reference.means_, rtol=1e-10)
    np.testing.assert_allclose(fitted.covariances_, reference.covariances_, rtol=1e-9)
    assert fitted.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-12)
