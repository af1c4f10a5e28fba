"""A single Gaussian: log-density against scipy.stats, closed-form ML fit against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from sklearn.exceptions import NotFittedError

from gaussmix import Gaussian
from gaussmix.exceptions import InvalidInputError
from gaussmix.gaussian import gaussian_log_pdf, maximum_likelihood


def random_covariance(rng: np.random.Generator, n_features: int) -> np.ndarray:
    """A well-conditioned random SPD matrix with unequal scales."""
    factor = rng.normal(size=(n_features, n_features))
    scales = np.exp(rng.uniform(-1.0, 1.0, n_features))
    return (factor @ factor.T + n_features * np.eye(n_features)) * np.outer(scales, scales)


@pytest.mark.parametrize("n_features", [1, 2, 3, 7])
def test_log_pdf_equals_scipy_multivariate_normal(n_features):
    rng = np.random.default_rng(n_features)
    mean = rng.normal(scale=5.0, size=n_features)
    covariance = random_covariance(rng, n_features)
    X = mean + rng.normal(scale=3.0, size=(50, n_features))
    expected = stats.multivariate_normal(mean, covariance).logpdf(X)
    assert_allclose(gaussian_log_pdf(X, mean, covariance), expected, rtol=1e-12)


def test_log_pdf_far_in_the_tail_equals_scipy():
    # Tail points have log-densities of order −1e4; the Cholesky route keeps full precision.
    rng = np.random.default_rng(0)
    covariance = random_covariance(rng, 3)
    X = rng.normal(scale=100.0, size=(20, 3))
    expected = stats.multivariate_normal(np.zeros(3), covariance).logpdf(X)
    assert_allclose(gaussian_log_pdf(X, np.zeros(3), covariance), expected, rtol=1e-12)


def test_univariate_log_pdf_equals_scipy_norm():
    rng = np.random.default_rng(1)
    x = rng.normal(loc=3.0, scale=2.0, size=40)
    expected = stats.norm(loc=3.0, scale=2.0).logpdf(x)
    assert_allclose(gaussian_log_pdf(x, 3.0, 4.0), expected, rtol=1e-12)


def test_fitted_logpdf_pdf_score_equal_scipy():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3)) @ rng.normal(size=(3, 3)) + 4.0
    gaussian = Gaussian().fit(X)
    reference = stats.multivariate_normal(X.mean(axis=0), np.cov(X.T, bias=True))
    Y = rng.normal(size=(30, 3)) + 4.0
    assert_allclose(gaussian.logpdf(Y), reference.logpdf(Y), rtol=1e-12)
    assert_allclose(gaussian.score_samples(Y), reference.logpdf(Y), rtol=1e-12)
    assert_allclose(gaussian.pdf(Y), reference.pdf(Y), rtol=1e-11)
    assert gaussian.score(Y) == pytest.approx(np.mean(reference.logpdf(Y)), rel=1e-12)


def test_univariate_fit_equals_scipy_norm():
    rng = np.random.default_rng(3)
    x = rng.normal(loc=-2.0, scale=0.5, size=200)
    gaussian = Gaussian().fit(x)
    assert isinstance(gaussian.mean_, float)
    assert gaussian.mean_ == pytest.approx(x.mean(), rel=1e-12)
    assert gaussian.covariance_ == pytest.approx(x.var(), rel=1e-12)
    reference = stats.norm(loc=x.mean(), scale=x.std())
    assert_allclose(gaussian.logpdf(x), reference.logpdf(x), rtol=1e-12)


@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_maximum_likelihood_is_sample_mean_and_biased_covariance(n_features):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, n_features)) @ rng.normal(size=(n_features, n_features)) + 10.0
    mean, covariance = maximum_likelihood(X)
    assert_allclose(mean, X.mean(axis=0), rtol=1e-12)
    assert_allclose(covariance, np.atleast_2d(np.cov(X.T, bias=True)), rtol=1e-11, atol=1e-13)
    gaussian = Gaussian().fit(X)
    assert_allclose(gaussian.mean_, X.mean(axis=0), rtol=1e-12)
    assert_allclose(gaussian.covariance_, np.atleast_2d(np.cov(X.T, bias=True)), rtol=1e-11)


def test_weighted_maximum_likelihood_equals_numpy_weighted_moments():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 3)) @ rng.normal(size=(3, 3)) - 7.0
    weights = rng.uniform(0.0, 3.0, size=80)
    gaussian = Gaussian().fit(X, sample_weight=weights)
    assert_allclose(gaussian.mean_, np.average(X, axis=0, weights=weights), rtol=1e-12)
    expected = np.cov(X.T, aweights=weights, bias=True)
    assert_allclose(gaussian.covariance_, expected, rtol=1e-11, atol=1e-13)


def test_integer_weights_equal_repeated_rows():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(30, 2))
    counts = rng.integers(0, 4, size=30)
    weighted = Gaussian().fit(X, sample_weight=counts)
    repeated = Gaussian().fit(np.repeat(X, counts, axis=0))
    assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-12)
    assert_allclose(weighted.covariance_, repeated.covariance_, rtol=1e-11)


def test_sample_has_the_fitted_moments():
    rng = np.random.default_rng(7)
    covariance = random_covariance(rng, 3)
    X = rng.multivariate_normal([1.0, -2.0, 3.0], covariance, size=500)
    gaussian = Gaussian().fit(X)
    draws = gaussian.sample(40_000, random_state=0)
    assert draws.shape == (40_000, 3)
    # Standard errors with 40 000 draws are about 0.5% of a standard deviation.
    scale = np.sqrt(np.diag(gaussian.covariance_))
    assert_allclose((draws.mean(axis=0) - gaussian.mean_) / scale, 0.0, atol=0.03)
    correlation = np.cov(draws.T) / np.outer(scale, scale)
    expected = gaussian.covariance_ / np.outer(scale, scale)
    assert_allclose(correlation, expected, atol=0.03)
    assert_allclose(gaussian.sample(5, random_state=3), gaussian.sample(5, random_state=3))


def test_univariate_sample_is_one_dimensional():
    gaussian = Gaussian().fit(np.array([0.0, 1.0, 2.0, 3.0]))
    draws = gaussian.sample(20_000, random_state=1)
    assert draws.shape == (20_000,)
    assert draws.mean() == pytest.approx(1.5, abs=0.05)
    assert draws.var() == pytest.approx(1.25, rel=0.05)


def test_non_positive_definite_covariance_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="symmetric positive definite"):
        gaussian_log_pdf(np.zeros((2, 2)), np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_covariance_shape_mismatch_is_a_clear_error():
    with pytest.raises(InvalidInputError, match=r"covariance must have shape \(2, 2\)"):
        gaussian_log_pdf(np.zeros((2, 2)), np.zeros(2), np.eye(3))


def test_wrong_number_of_features_is_a_clear_error():
    gaussian = Gaussian().fit(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match="3 features"):
        gaussian.logpdf(np.zeros((4, 2)))
    with pytest.raises(InvalidInputError, match="must have 2 features"):
        gaussian_log_pdf(np.zeros((4, 3)), np.zeros(2), np.eye(2))


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "finite"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "finite"),
        (np.empty((0, 2)), "sample"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), "number"),
    ],
)
def test_bad_training_data_is_a_clear_error(X, message):
    with pytest.raises(ValueError, match=message):
        Gaussian().fit(X)


def test_negative_weights_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        Gaussian().fit(np.array([[1.0], [2.0], [3.0]]), sample_weight=[1.0, -1.0, 1.0])


def test_logpdf_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        Gaussian().logpdf(np.zeros((2, 2)))
