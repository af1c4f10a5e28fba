"""Per-chunk kernels: log-densities against scipy.stats, responsibilities summing to one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

from gaussmix.covariance.forms import dense_covariances, precision_cholesky_from_covariances
from gaussmix.kernels import (
    chunk_statistics,
    log_gaussian_density,
    log_responsibilities,
    weighted_log_prob,
)
from gaussmix.parameters import MixtureParameters

FORMS = ["spherical", "diagonal", "tied", "full"]


def random_mixture(seed: int, form: str, n_components: int = 3, n_features: int = 3):
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.1, 1.0, n_components)
    means = rng.normal(scale=3.0, size=(n_components, n_features))
    if form == "full":
        factors = rng.normal(size=(n_components, n_features, n_features))
        covariances = factors @ np.swapaxes(factors, 1, 2) + 0.5 * np.eye(n_features)
    elif form == "tied":
        factor = rng.normal(size=(n_features, n_features))
        covariances = factor @ factor.T + 0.5 * np.eye(n_features)
    elif form == "diagonal":
        covariances = rng.uniform(0.2, 3.0, (n_components, n_features))
    else:
        covariances = rng.uniform(0.2, 3.0, n_components)
    return MixtureParameters(
        weights=weights / weights.sum(),
        means=means,
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, form),
        form=form,
    )


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_log_density_equals_scipy_for_every_component(form, n_features):
    parameters = random_mixture(n_features, form, n_features=n_features)
    X = np.random.default_rng(10).normal(scale=4.0, size=(40, n_features))
    dense = dense_covariances(parameters.covariances, form, 3, n_features)
    expected = np.column_stack(
        [stats.multivariate_normal(parameters.means[k], dense[k]).logpdf(X) for k in range(3)]
    )
    assert_allclose(log_gaussian_density(X, parameters), expected.reshape(40, 3), rtol=1e-12)
    assert_allclose(
        weighted_log_prob(X, parameters),
        expected.reshape(40, 3) + np.log(parameters.weights),
        rtol=1e-12,
    )


@pytest.mark.parametrize("form", FORMS)
def test_log_norm_is_the_log_mixture_density(form):
    parameters = random_mixture(1, form)
    X = np.random.default_rng(11).normal(scale=3.0, size=(30, 3))
    dense = dense_covariances(parameters.covariances, form, 3, 3)
    density = sum(
        parameters.weights[k] * stats.multivariate_normal(parameters.means[k], dense[k]).pdf(X)
        for k in range(3)
    )
    log_norm, _ = log_responsibilities(weighted_log_prob(X, parameters))
    assert_allclose(log_norm, np.log(density), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    form=st.sampled_from(FORMS),
    scale=st.sampled_from([1.0, 1e2, 1e4]),
)
def test_responsibilities_sum_to_one_even_where_densities_underflow(seed, form, scale):
    # At scale 1e4 every linear-space density is 0.0; log space must still normalise.
    parameters = random_mixture(seed % 1000, form)
    X = np.random.default_rng(seed).normal(scale=scale, size=(25, 3))
    weighted = weighted_log_prob(X, parameters)
    log_norm, log_resp = log_responsibilities(weighted)
    assert np.all(np.isfinite(log_norm))
    # log γ = weighted − log_norm subtracts numbers of size M = max|weighted|, so each
    # responsibility carries a relative rounding error of a few eps·M and no better.
    rounding = 8 * np.finfo(np.float64).eps * max(1.0, float(np.max(np.abs(weighted))))
    assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=0, atol=rounding)
    assert np.all(log_resp <= rounding)


def test_zero_weight_component_gets_zero_responsibility_without_warning():
    parameters = random_mixture(2, "diagonal")
    parameters = MixtureParameters(
        weights=np.array([0.0, 0.5, 0.5]),
        means=parameters.means,
        covariances=parameters.covariances,
        precisions_cholesky=parameters.precisions_cholesky,
        form="diagonal",
    )
    X = parameters.means[[0, 0, 1]]
    _, log_resp = log_responsibilities(weighted_log_prob(X, parameters))
    assert np.all(np.exp(log_resp[:, 0]) == 0.0)
    assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_float32_data_stay_float32_in_the_kernels(form):
    parameters = random_mixture(3, form)
    X = np.random.default_rng(12).normal(size=(20, 3))
    weighted32 = weighted_log_prob(X.astype(np.float32), parameters)
    assert weighted32.dtype == np.float32
    assert_allclose(weighted32, weighted_log_prob(X, parameters), rtol=1e-5, atol=1e-5)


def test_log_density_of_offset_float32_data_keeps_its_precision():
    # The difference x − μ is formed before any product: data at 1e4 with unit spread
    # must give log-densities as good as centred data (float32 resolution ~1e-3 at 1e4).
    rng = np.random.default_rng(13)
    centred = rng.normal(size=(100, 2))
    means = np.array([[0.0, 0.0], [1.0, -1.0]])
    covariances = np.array([1.0, 2.0])
    parameters = MixtureParameters(
        weights=np.array([0.5, 0.5]),
        means=means + 1e4,
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, "spherical"),
        form="spherical",
    )
    X32 = (centred + 1e4).astype(np.float32)
    exact = np.column_stack(
        [
            stats.multivariate_normal(means[k] + 1e4, covariances[k]).logpdf(X32.astype(float))
            for k in range(2)
        ]
    )
    assert_allclose(log_gaussian_density(X32, parameters), exact, rtol=1e-3, atol=1e-2)


def test_chunk_statistics_log_likelihood_ignores_zero_weight_rows():
    parameters = random_mixture(4, "full")
    X = np.random.default_rng(14).normal(size=(10, 3))
    X[0] = 1e6  # would give a log-density of about −1e12
    weights = np.ones(10)
    weights[0] = 0.0
    with_zero = chunk_statistics(X, weights, parameters, "full")
    without = chunk_statistics(X[1:], None, parameters, "full")
    assert with_zero.log_likelihood == pytest.approx(without.log_likelihood, rel=1e-12)
    assert_allclose(with_zero.n_k, without.n_k, rtol=1e-12)
    assert with_zero.total_weight == without.total_weight
