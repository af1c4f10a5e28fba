"""Parity of gaussmix.GaussianMixture with scikit-learn's public API from the same start.

Both estimators run EM in float64 from the same initial weights, means and precisions
(or from the same k-means draw), with ``tol=0`` so that both run exactly ``max_iter``
iterations; every fitted attribute and every method must then agree to a relative
1e-8, far below any difference an error in one EM step would make.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.mixture
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
RELATIVE = 1e-8
FITTED = [
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
]

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def assert_close(actual, expected, name: str = "") -> None:
    """Equal to a relative 1e-8 of the largest entry of ``expected`` (entries may be ~0)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    assert_allclose(actual, expected, rtol=RELATIVE, atol=RELATIVE * scale, err_msg=name)


def blobs(n_features: int, seed: int = 0, n_samples: int = 240) -> np.ndarray:
    """Three overlapping, anisotropic clusters (EM takes many iterations on them)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, n_features))
    labels = rng.integers(0, 3, size=n_samples)
    mixing = rng.normal(size=(3, n_features, n_features))
    noise = rng.normal(size=(n_samples, n_features))
    return centres[labels] + np.einsum("nd,nde->ne", noise, mixing[labels])


def initial_values(X: np.ndarray, covariance_type: str, n_components: int = 3) -> dict:
    """A deliberately rough, explicit start: data points as means, the data's precision."""
    rng = np.random.default_rng(1)
    means = X[rng.choice(X.shape[0], n_components, replace=False)]
    weights = rng.uniform(1.0, 2.0, n_components)
    covariance = np.atleast_2d(np.cov(X.T))
    precision = np.linalg.inv(covariance)
    scales = rng.uniform(0.5, 2.0, n_components)
    if covariance_type == "full":
        precisions = np.stack([s * precision for s in scales])
    elif covariance_type == "tied":
        precisions = precision
    elif covariance_type == "diag":
        precisions = scales[:, None] / np.diag(covariance)[None, :]
    else:
        precisions = scales / np.mean(np.diag(covariance))
    return {
        "weights_init": weights / weights.sum(),
        "means_init": means,
        "precisions_init": precisions,
    }


def assert_same_fit(
    ours: GaussianMixture, theirs, X: np.ndarray, first_bound_offset: float = 0.0
) -> None:
    """Every fitted attribute and method output of the two estimators agree.

    ``first_bound_offset`` is the expected ``ours.lower_bounds_[0] − theirs.lower_bounds_[0]``
    (see :func:`test_same_random_state_gives_same_drawn_start`).
    """
    for name in FITTED:
        assert_close(getattr(ours, name), getattr(theirs, name), name)
    assert ours.converged_ == theirs.converged_
    assert ours.n_iter_ == theirs.n_iter_
    assert_close(ours.lower_bound_, theirs.lower_bound_, "lower_bound_")
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_)
    assert_close(ours.lower_bounds_[1:], theirs.lower_bounds_[1:], "lower_bounds_")
    assert_close(
        ours.lower_bounds_[0] - first_bound_offset, theirs.lower_bounds_[0], "lower_bounds_[0]"
    )
    assert ours.n_features_in_ == theirs.n_features_in_
    assert_close(ours.score(X), theirs.score(X), "score")
    assert_close(ours.score_samples(X), theirs.score_samples(X), "score_samples")
    assert_close(ours.bic(X), theirs.bic(X), "bic")
    assert_close(ours.aic(X), theirs.aic(X), "aic")
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=RELATIVE)
    assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 2, 5])
@pytest.mark.parametrize("max_iter", [1, 5, 40])
def test_same_explicit_start_gives_same_fit(covariance_type, n_features, max_iter):
    X = blobs(n_features)
    options = dict(
        n_components=3,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=max_iter,
        **initial_values(X, covariance_type),
    )
    ours = GaussianMixture(**options).fit(X)
    theirs = sklearn.mixture.GaussianMixture(**options).fit(X)
    assert ours.n_iter_ == max_iter
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_equals_sklearn(covariance_type):
    X = blobs(2, seed=3)
    options = dict(
        n_components=3,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=5,
        **initial_values(X, covariance_type),
    )
    labels = GaussianMixture(**options).fit_predict(X)
    assert_array_equal(labels, sklearn.mixture.GaussianMixture(**options).fit_predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_gives_same_drawn_start(covariance_type, init_params):
    # The same seed must drive the same draw (the same KMeans call for "kmeans").
    # One deliberate difference: when each component starts on a single data point
    # ("k-means++", "random_from_data"), scikit-learn's initial weights are 1/n_samples
    # each and do not sum to one; ours are 1/K. Responsibilities, and so every later
    # iteration, are the same; only the first lower bound (of the start) differs, by
    # exactly log(n_samples / K).
    # For "tied" from single points scikit-learn's starting covariance is computed from
    # raw moments of *all* rows, as if every row's responsibilities summed to one; ours
    # is the maximum-likelihood value of the drawn responsibilities (reg_covar·I), so the
    # two runs legitimately differ; that start is checked on its own below.
    point_seeds = init_params in ("k-means++", "random_from_data")
    if point_seeds and covariance_type == "tied":
        return
    X = blobs(2, seed=4)
    options = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        tol=0.0,
        max_iter=5,
        random_state=7,
        # scikit-learn forms diagonal variances from raw moments: for a component on a
        # single point the cancellation error, ~eps·|x|², must stay well below reg_covar.
        reg_covar=1e-3,
    )
    ours = GaussianMixture(**options).fit(X)
    theirs = sklearn.mixture.GaussianMixture(**options).fit(X)
    offset = np.log(X.shape[0] / 3) if point_seeds else 0.0
    assert_same_fit(ours, theirs, X, first_bound_offset=offset)


@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
def test_tied_start_from_single_points_is_the_regularised_ml_estimate(init_params):
    X = blobs(2, seed=4)
    reg_covar = 1e-3
    start = GaussianMixture(
        n_components=3,
        covariance_type="tied",
        init_params=init_params,
        max_iter=0,
        reg_covar=reg_covar,
        random_state=7,
    ).fit(X)
    # Each component owns exactly one point, so the pooled scatter about the means is 0.
    assert_allclose(start.covariances_, reg_covar * np.eye(2), rtol=1e-12, atol=1e-15)
    assert_allclose(start.weights_, np.full(3, 1 / 3), rtol=1e-12)
    seeds = [np.flatnonzero(np.all(X == mean, axis=1)) for mean in start.means_]
    assert all(seed.size == 1 for seed in seeds)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_keeps_the_same_start_as_sklearn(covariance_type):
    X = blobs(2, seed=5)
    options = dict(
        n_components=3,
        covariance_type=covariance_type,
        n_init=4,
        tol=1e-4,
        max_iter=30,
        random_state=11,
        init_params="random",
    )
    ours = GaussianMixture(**options).fit(X)
    theirs = sklearn.mixture.GaussianMixture(**options).fit(X)
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_options_converge_like_sklearn(covariance_type):
    # Default tol: both must stop at the same iteration and say they converged.
    X = blobs(2, seed=6)
    options = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    ours = GaussianMixture(**options).fit(X)
    theirs = sklearn.mixture.GaussianMixture(**options).fit(X)
    assert theirs.converged_
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_like_sklearn(covariance_type):
    X = blobs(2, seed=8)
    options = dict(
        n_components=3,
        covariance_type=covariance_type,
        warm_start=True,
        max_iter=3,
        tol=1e-6,
        **initial_values(X, covariance_type),
    )
    ours = GaussianMixture(**options)
    theirs = sklearn.mixture.GaussianMixture(**options)
    # Several short fits chain into one long run; the later ones measure their first
    # change from the previous fit's lower bound, so they may converge at iteration 1.
    for _ in range(6):
        ours.fit(X)
        theirs.fit(X)
        assert_same_fit(ours, theirs, X)


def test_warm_start_with_max_iter_zero_like_sklearn():
    X = blobs(2, seed=9)
    ours = GaussianMixture(n_components=2, warm_start=True, random_state=0).fit(X)
    theirs = sklearn.mixture.GaussianMixture(n_components=2, warm_start=True, random_state=0)
    theirs.fit(X)
    for estimator in (ours, theirs):
        estimator.set_params(max_iter=0).fit(X)
    assert ours.lower_bound_ == theirs.lower_bound_ == -np.inf
    assert ours.n_iter_ == theirs.n_iter_ == 0
    assert ours.converged_ == theirs.converged_
    for estimator in (ours, theirs):
        estimator.set_params(max_iter=100).fit(X)
    assert_same_fit(ours, theirs, X)


def test_warm_start_converged_fit_stops_after_one_iteration():
    X = blobs(2, seed=9)
    options = dict(n_components=2, warm_start=True, tol=1e-3, random_state=0)
    ours = GaussianMixture(**options).fit(X)
    theirs = sklearn.mixture.GaussianMixture(**options).fit(X)
    assert ours.converged_ and theirs.converged_
    ours.fit(X)
    theirs.fit(X)
    assert ours.n_iter_ == theirs.n_iter_ == 1
    assert ours.converged_ == theirs.converged_
    assert_close(ours.lower_bound_, theirs.lower_bound_)


@pytest.mark.parametrize("n_init", [1, 3])
def test_max_iter_zero_returns_the_start_like_sklearn(n_init):
    X = blobs(2, seed=10)
    options = dict(n_components=3, max_iter=0, n_init=n_init, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = GaussianMixture(**options).fit(X)
        theirs = sklearn.mixture.GaussianMixture(**options).fit(X)
    assert ours.n_iter_ == theirs.n_iter_ == 0
    assert ours.converged_ == theirs.converged_
    assert ours.lower_bound_ == theirs.lower_bound_
    for name in ("weights_", "means_", "precisions_cholesky_"):
        assert_close(getattr(ours, name), getattr(theirs, name), name)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_data_scored_as_float(covariance_type):
    # Integer input is converted once at the boundary: fitting and scoring integer data
    # gives what scikit-learn gives for the same data as float64.
    rng = np.random.default_rng(12)
    X = rng.integers(-20, 20, size=(150, 3))
    options = dict(n_components=2, covariance_type=covariance_type, tol=0.0, max_iter=5)
    options.update(initial_values(X.astype(float), covariance_type, n_components=2))
    ours = GaussianMixture(**options).fit(X)
    theirs = sklearn.mixture.GaussianMixture(**options).fit(X.astype(np.float64))
    assert_same_fit(ours, theirs, X.astype(np.float64))
    assert_close(ours.score(X), theirs.score(X.astype(np.float64)))


def test_sample_shapes_and_labels_like_sklearn():
    X = blobs(2, seed=13)
    ours = GaussianMixture(n_components=3, covariance_type="diag", random_state=0).fit(X)
    theirs = sklearn.mixture.GaussianMixture(
        n_components=3, covariance_type="diag", random_state=0
    ).fit(X)
    drawn, labels = ours.sample(50)
    reference, reference_labels = theirs.sample(50)
    assert drawn.shape == reference.shape
    assert labels.shape == reference_labels.shape
    # Rows are grouped by component, as in scikit-learn.
    assert_array_equal(labels, np.sort(labels))
