"""The fast chunk kernels against a plain reference written here with scipy and explicit loops."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix.backends.numpy import NumpyBackend
from gaussmix.covariance.forms import dense_covariances, precision_cholesky_from_covariances
from gaussmix.kernels import (
    chunk_statistics,
    log_gaussian_density,
    log_responsibilities,
    posterior,
    prepare_parameters,
    weighted_log_prob,
)
from gaussmix.parameters import MixtureParameters

FORMS = ("full", "tied", "diagonal", "spherical")
KINDS = ("full", "diagonal", "trace")


def random_parameters(form: str, n_components: int, n_features: int, seed: int = 0):
    """A mixture with well-conditioned random covariances of the given form."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=2.0, size=(n_components, n_features))
    if form == "full":
        factors = rng.normal(size=(n_components, n_features, n_features))
        covariances = factors @ np.swapaxes(factors, 1, 2) / n_features + np.eye(n_features)
    elif form == "tied":
        factor = rng.normal(size=(n_features, n_features))
        covariances = factor @ factor.T / n_features + np.eye(n_features)
    elif form == "diagonal":
        covariances = rng.uniform(0.5, 2.0, size=(n_components, n_features))
    else:
        covariances = rng.uniform(0.5, 2.0, size=n_components)
    weights = rng.uniform(0.5, 1.0, size=n_components)
    return MixtureParameters(
        weights=weights / weights.sum(),
        means=means,
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, form),
        form=form,
    )


def reference(X, sample_weight, parameters, kind):
    """E-step statistics with scipy log-densities and explicit per-component loops."""
    n_components, n_features = parameters.means.shape
    dense = dense_covariances(parameters.covariances, parameters.form, n_components, n_features)
    weighted = np.column_stack(
        [
            np.log(parameters.weights[k])
            + multivariate_normal(parameters.means[k], dense[k]).logpdf(X).reshape(-1)
            for k in range(n_components)
        ]
    )
    log_norm = logsumexp(weighted, axis=1)
    responsibilities = np.exp(weighted - log_norm[:, None])
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    n_k = np.zeros(n_components)
    weighted_sum = np.zeros((n_components, n_features))
    magnitude = np.zeros((n_components, n_features))
    scatter = np.zeros((n_components, n_features, n_features))
    for n in range(X.shape[0]):
        for k in range(n_components):
            r = weights[n] * responsibilities[n, k]
            difference = X[n] - parameters.means[k]
            n_k[k] += r
            weighted_sum[k] += r * difference
            magnitude[k] += r * np.abs(difference)
            scatter[k] += r * np.outer(difference, difference)
    if kind == "diagonal":
        scatter = np.diagonal(scatter, axis1=1, axis2=2)
    elif kind == "trace":
        scatter = np.trace(scatter, axis1=1, axis2=2)
    return {
        "weighted": weighted,
        "n_k": n_k,
        "weighted_sum": weighted_sum,
        "magnitude": magnitude,
        "scatter": scatter,
        "log_likelihood": float(np.sum(weights * log_norm)),
    }


def assert_statistics_match(statistics, expected, rtol):
    np.testing.assert_allclose(statistics.n_k, expected["n_k"], rtol=rtol, atol=0)
    # Σ r (x − μ) can be near zero by cancellation; its natural scale is Σ r |x − μ|.
    error = np.abs(statistics.weighted_sum - expected["weighted_sum"])
    assert np.all(error <= rtol * expected["magnitude"].max() + 1e-300)
    scale = np.abs(expected["scatter"]).max()
    assert np.abs(statistics.scatter - expected["scatter"]).max() <= rtol * scale
    np.testing.assert_allclose(
        statistics.log_likelihood, expected["log_likelihood"], rtol=rtol, atol=0
    )


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", KINDS)
def test_chunk_statistics_equal_the_reference_in_float64(form, kind):
    parameters = random_parameters(form, 3, 4)
    rng = np.random.default_rng(1)
    X = rng.normal(scale=2.0, size=(97, 4))
    sample_weight = rng.uniform(0.0, 3.0, size=97)
    sample_weight[::10] = 0.0
    for weights in (None, sample_weight):
        statistics = chunk_statistics(X, weights, parameters, kind)
        assert_statistics_match(statistics, reference(X, weights, parameters, kind), 1e-12)
        np.testing.assert_array_equal(statistics.shift, parameters.means)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("chunk_size", [1, 7, 33, 1000])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_backend_statistics_equal_the_reference_for_odd_chunk_sizes(form, chunk_size, n_threads):
    kind = {"full": "full", "tied": "full", "diagonal": "diagonal", "spherical": "trace"}[form]
    parameters = random_parameters(form, 4, 3, seed=2)
    X = np.random.default_rng(3).normal(scale=2.0, size=(101, 3))
    statistics = NumpyBackend(X, None, chunk_size, n_threads=n_threads).statistics(parameters, kind)
    assert_statistics_match(statistics, reference(X, None, parameters, kind), 1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_one_row_and_one_component(form):
    X = np.array([[0.3, -1.2, 2.0]])
    for n_components in (1, 3):
        parameters = random_parameters(form, n_components, 3, seed=4)
        kind = "full" if form in ("full", "tied") else "diagonal"
        statistics = chunk_statistics(X, None, parameters, kind)
        assert_statistics_match(statistics, reference(X, None, parameters, kind), 1e-12)
    parameters = random_parameters(form, 1, 3, seed=5)
    X = np.random.default_rng(6).normal(size=(50, 3))
    statistics = NumpyBackend(X, None, 9).statistics(parameters, "full")
    np.testing.assert_allclose(statistics.n_k, [50.0], rtol=1e-14)


@pytest.mark.parametrize("form", FORMS)
def test_weighted_log_prob_and_densities_equal_scipy(form):
    parameters = random_parameters(form, 3, 2, seed=7)
    X = np.random.default_rng(8).normal(scale=3.0, size=(40, 2))
    expected = reference(X, None, parameters, "full")["weighted"]
    np.testing.assert_allclose(weighted_log_prob(X, parameters), expected, rtol=1e-12)
    np.testing.assert_allclose(
        log_gaussian_density(X, parameters),
        expected - np.log(parameters.weights),
        rtol=1e-12,
    )
    prepared = prepare_parameters(parameters)
    log_norm, responsibilities = posterior(X, prepared)
    np.testing.assert_allclose(log_norm, logsumexp(expected, axis=1), rtol=1e-13)
    np.testing.assert_allclose(responsibilities.sum(axis=1), 1.0, rtol=1e-14)


def test_log_responsibilities_survive_underflow_and_leave_their_input():
    weighted = np.array([[-2000.0, -2001.0], [-5.0, -np.inf]])
    original = weighted.copy()
    log_norm, log_resp = log_responsibilities(weighted)
    np.testing.assert_array_equal(weighted, original)
    np.testing.assert_allclose(log_norm[0], -2000.0 + np.log1p(np.exp(-1.0)), rtol=1e-15)
    np.testing.assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=1e-12)
    assert log_resp[1, 1] == -np.inf


def test_float32_offset_data_keep_their_variance():
    """Data offset by 1e4 with unit variance: the centring keeps the digits in float32."""
    rng = np.random.default_rng(9)
    X64 = 1e4 + rng.normal(size=(20000, 2))
    parameters = MixtureParameters(
        weights=np.ones(1),
        means=np.full((1, 2), 1e4 + 0.01),
        covariances=np.ones((1, 2)),
        precisions_cholesky=np.ones((1, 2)),
        form="diagonal",
    )
    exact = NumpyBackend(X64, None, 1000).statistics(parameters, "diagonal")
    single = NumpyBackend(X64.astype(np.float32), None, 1000).statistics(parameters, "diagonal")
    # float32 rounding of the data itself (spacing 1e-3 at 1e4) bounds what can be kept.
    variance64 = exact.scatter / exact.n_k[:, None]
    variance32 = single.scatter / single.n_k[:, None]
    np.testing.assert_allclose(variance32, variance64, rtol=1e-3)
