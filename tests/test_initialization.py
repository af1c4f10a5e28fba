"""Starting points: sample weights are honoured, and drawn starts equal repeated rows."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gaussmix import GaussianMixture
from gaussmix.initialization import initial_responsibilities

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def clusters(seed: int, n_samples: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, 2))
    return centres[rng.integers(0, 3, n_samples)] + rng.normal(size=(n_samples, 2))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_weighted_drawn_start_equals_the_start_on_repeated_rows(init_params, covariance_type):
    # k-means and k-means++ draw seeds through cumulative weights, so integer weights
    # and repeated rows (in the same order) consume the random stream identically.
    X = clusters(0)
    counts = np.random.default_rng(0).integers(0, 4, X.shape[0])
    options = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=3,
        tol=0.0,
        max_iter=10,
    )
    weighted = GaussianMixture(**options).fit(X, sample_weight=counts)
    repeated = GaussianMixture(**options).fit(np.repeat(X, counts, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-10, err_msg=name)
    # A k-means++ seed row starts with its whole weight (all its copies), a repeated-rows
    # seed with one copy: only the likelihood of the start itself may differ.
    first = 1 if init_params == "k-means++" else 0
    assert_allclose(weighted.lower_bounds_[first:], repeated.lower_bounds_[first:], rtol=1e-10)


def test_random_from_data_draws_seeds_in_proportion_to_their_weight():
    # Row 0 carries 95% of the weight: as 950 copies of it would, it is the seed of a
    # one-component start about 95% of the time (uniform seeding would give ~2%).
    X = clusters(1, n_samples=51)
    weights = np.ones(51)
    weights[0] = 950.0
    hits = 0
    for seed in range(200):
        responsibilities = initial_responsibilities(
            X, weights, 1, "random_from_data", np.random.RandomState(seed)
        )
        hits += responsibilities[0, 0] == 1.0
    assert 0.88 < hits / 200 < 0.99


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_initial_responsibilities_are_distributions(init_params):
    X = clusters(2)
    responsibilities = initial_responsibilities(X, None, 3, init_params, np.random.RandomState(0))
    assert responsibilities.shape == (60, 3)
    assert np.all(responsibilities >= 0)
    if init_params in ("kmeans", "random"):
        assert_allclose(responsibilities.sum(axis=1), 1.0, rtol=1e-12)
    else:
        # One seed point per component.
        assert_allclose(responsibilities.sum(axis=0), 1.0, rtol=0)
