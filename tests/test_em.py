"""The EM loop: monotone log-likelihood, the reported likelihood, and one step against loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from gaussmix import GaussianMixture
from gaussmix.backends.numpy import NumpyBackend
from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.forms import precision_cholesky_from_covariances
from gaussmix.em import IterationInfo, run_em
from gaussmix.parameters import MixtureParameters

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def clusters(seed: int, n_samples: int = 300, n_features: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(3, n_features))
    labels = rng.integers(0, 3, size=n_samples)
    return (
        centres[labels]
        + rng.normal(size=(n_samples, n_features)) * rng.uniform(0.5, 1.5, 3)[labels, None]
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_likelihood_never_decreases_without_regularisation(covariance_type, seed):
    X = clusters(seed)
    gm = GaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        reg_covar=0.0,
        tol=0.0,
        max_iter=40,
        init_params="random",
        # Three data points as starting means: a poor start that EM must climb from.
        means_init=X[np.random.default_rng(seed).choice(X.shape[0], 3, replace=False)],
        random_state=seed,
    )
    with pytest.warns(Warning):  # ConvergenceWarning: tol=0 never converges
        gm.fit(X)
    history = gm.log_likelihood_history_
    assert history.shape == (41,)
    steps = np.diff(history)
    assert np.all(steps >= -1e-12 * np.abs(history[1:])), steps.min()
    # The run must actually climb, or the test would prove nothing.
    assert history[-1] - history[0] > 1e-2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_likelihood_is_the_score_of_the_returned_parameters(covariance_type):
    X = clusters(3)
    # reg_covar=0 makes every M-step exact, so the last one cannot lower the likelihood.
    gm = GaussianMixture(
        n_components=3, covariance_type=covariance_type, reg_covar=0.0, random_state=0
    ).fit(X)
    assert gm.log_likelihood_ == pytest.approx(gm.score(X), rel=1e-12)
    assert gm.log_likelihood_history_[-1] == gm.log_likelihood_
    assert_allclose(gm.log_likelihood_history_[:-1], gm.lower_bounds_, rtol=0, atol=0)
    # lower_bound_ belongs to the parameters before the last M-step, so it is lower.
    assert gm.lower_bound_ <= gm.log_likelihood_


def test_weighted_log_likelihood_is_the_weighted_score():
    X = clusters(4)
    weights = np.random.default_rng(4).uniform(0.0, 2.0, X.shape[0])
    gm = GaussianMixture(n_components=3, random_state=0).fit(X, sample_weight=weights)
    assert gm.log_likelihood_ == pytest.approx(gm.score(X, sample_weight=weights), rel=1e-12)


def dense_em_step(X, weights, means, covariances, covariance_type, reg_covar):
    """One EM step written with plain loops over points and components."""
    n_samples, n_features = X.shape
    n_components = weights.shape[0]
    full = [np.asarray(c) for c in covariances]
    joint = np.empty((n_samples, n_components))
    for n in range(n_samples):
        for k in range(n_components):
            joint[n, k] = weights[k] * stats.multivariate_normal(means[k], full[k]).pdf(X[n])
    responsibilities = joint / joint.sum(axis=1, keepdims=True)
    log_likelihood = np.mean(np.log(joint.sum(axis=1)))

    n_k = responsibilities.sum(axis=0)
    new_weights = n_k / n_samples
    new_means = np.zeros((n_components, n_features))
    for k in range(n_components):
        for n in range(n_samples):
            new_means[k] += responsibilities[n, k] * X[n]
        new_means[k] /= n_k[k]
    scatter = np.zeros((n_components, n_features, n_features))
    for k in range(n_components):
        for n in range(n_samples):
            diff = X[n] - new_means[k]
            scatter[k] += responsibilities[n, k] * np.outer(diff, diff)
    identity = np.eye(n_features)
    if covariance_type == "full":
        new = [scatter[k] / n_k[k] + reg_covar * identity for k in range(n_components)]
    elif covariance_type == "tied":
        shared = scatter.sum(axis=0) / n_samples + reg_covar * identity
        new = [shared] * n_components
    elif covariance_type == "diag":
        new = [np.diag(np.diag(scatter[k]) / n_k[k] + reg_covar) for k in range(n_components)]
    else:
        new = [
            (np.trace(scatter[k]) / (n_features * n_k[k]) + reg_covar) * identity
            for k in range(n_components)
        ]
    return new_weights, new_means, new, log_likelihood


def compact(covariances, covariance_type):
    """The compact (scikit-learn) shape of a list of dense covariance matrices."""
    if covariance_type == "full":
        return np.stack(covariances)
    if covariance_type == "tied":
        return covariances[0]
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.array([c[0, 0] for c in covariances])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("chunk_size", [7, 1000])
def test_one_iteration_equals_dense_loops(covariance_type, chunk_size):
    rng = np.random.default_rng(5)
    X = clusters(5, n_samples=60, n_features=3)
    model = get_covariance_model(covariance_type)
    weights = np.array([0.2, 0.5, 0.3])
    means = X[[0, 10, 20]] + 0.1
    base = [np.eye(3) * s + 0.3 * np.ones((3, 3)) for s in (0.7, 1.5, 2.5)]
    if covariance_type == "tied":
        base = [base[1]] * 3
    elif covariance_type == "diag":
        base = [np.diag(rng.uniform(0.5, 2.0, 3)) for _ in range(3)]
    elif covariance_type == "spherical":
        base = [np.eye(3) * s for s in (0.7, 1.5, 2.5)]
    covariances = compact(base, covariance_type)
    start = MixtureParameters(
        weights=weights,
        means=means,
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, model.form),
        form=model.form,
    )
    reg_covar = 1e-2
    result = run_em(
        NumpyBackend(X, None, chunk_size), start, model, reg_covar=reg_covar, tol=0.0, max_iter=1
    )
    new_weights, new_means, new_covariances, log_likelihood = dense_em_step(
        X, weights, means, base, covariance_type, reg_covar
    )
    assert result.n_iter == 1
    assert result.lower_bound == pytest.approx(log_likelihood, rel=1e-12)
    assert_allclose(result.parameters.weights, new_weights, rtol=1e-12)
    assert_allclose(result.parameters.means, new_means, rtol=1e-11, atol=1e-13)
    expected = compact(new_covariances, covariance_type)
    assert_allclose(result.parameters.covariances, expected, rtol=1e-11, atol=1e-13)
    precisions = result.parameters.precisions()
    if covariance_type in ("full", "tied"):
        assert_allclose(precisions, np.linalg.inv(expected), rtol=1e-10, atol=1e-12)
    else:
        assert_allclose(precisions, 1.0 / expected, rtol=1e-11)


def test_precision_cholesky_is_upper_triangular_factor_of_the_precision():
    X = clusters(6, n_features=3)
    gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    for factor, covariance in zip(gm.precisions_cholesky_, gm.covariances_, strict=True):
        assert_allclose(np.tril(factor, -1), 0.0, atol=0)
        assert_allclose(factor @ factor.T, np.linalg.inv(covariance), rtol=1e-10)


def test_callback_sees_every_iteration_and_the_change():
    X = clusters(7)
    seen: list[IterationInfo] = []
    gm = GaussianMixture(n_components=3, random_state=0, n_init=2, callback=seen.append).fit(X)
    assert [info.iteration for info in seen if info.init == 1][-1] <= gm.max_iter
    assert {info.init for info in seen} == {0, 1}
    best = [info for info in seen if info.init == seen[-1].init]
    for before, after in itertools.pairwise(best):
        assert after.change == pytest.approx(after.log_likelihood - before.log_likelihood)


def test_max_iter_zero_returns_the_start_unchanged():
    X = clusters(8)
    model = get_covariance_model("diag")
    covariances = np.ones((2, 2))
    start = MixtureParameters(
        weights=np.array([0.5, 0.5]),
        means=X[:2].copy(),
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, "diagonal"),
        form="diagonal",
    )
    result = run_em(NumpyBackend(X, None, 64), start, model, reg_covar=0.0, tol=0.0, max_iter=0)
    assert result.parameters is start
    assert result.n_iter == 0
    assert not result.converged
