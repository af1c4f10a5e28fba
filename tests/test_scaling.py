"""Exact power-of-two rescaling of extreme data (gaussmix.scaling) and fits at 1e±150."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, InvalidInputError
from gaussmix.covariance.forms import precision_cholesky_from_covariances
from gaussmix.parameters import MixtureParameters
from gaussmix.scaling import (
    SAFE_EXPONENT,
    data_exponent,
    log_density_offset,
    scale_parameters,
)


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) * 0.5 + 4.0])


def test_data_inside_the_safe_band_are_not_rescaled():
    assert data_exponent(np.array([[2.0**SAFE_EXPONENT - 1, -3.0]]), 1e-6) == 0
    assert data_exponent(np.array([[2.0**-SAFE_EXPONENT]]), 1e-6) == 0
    assert data_exponent(np.zeros((3, 2)), 1e-6) == 0


def test_extreme_data_are_scaled_into_the_unit_interval():
    X = np.array([[3e150, -1.0], [2.0, -7e150]])
    exponent = data_exponent(X, 1e-6)
    scaled = np.ldexp(X, -exponent)
    assert 0.5 <= np.max(np.abs(scaled)) < 1.0
    # Powers of two change only the exponent: scaling back gives the very same bits.
    assert np.array_equal(np.ldexp(scaled, exponent), X)


def test_tiny_data_are_scaled_only_as_far_as_reg_covar_allows():
    # Beyond 4^-e·reg_covar = 2^100 the regulariser dominates every variance anyway.
    exponent = data_exponent(np.array([[1e-300]]), 1e-6)
    assert math.isfinite(math.ldexp(1e-6, -2 * exponent))
    assert math.ldexp(1e-6, -2 * exponent) <= 2.0**101
    assert data_exponent(np.array([[1e-300]]), 0.0) == math.frexp(1e-300)[1]


def test_scaled_parameters_describe_the_scaled_density():
    covariance = np.array([[2.0, 0.3], [0.3, 0.5]])
    parameters = MixtureParameters(
        weights=np.array([1.0]),
        means=np.array([[1.0, -2.0]]),
        covariances=covariance[None],
        precisions_cholesky=precision_cholesky_from_covariances(covariance[None], "full"),
        form="full",
    )
    exponent = 37
    scaled = scale_parameters(parameters, exponent)
    x = np.array([0.5, -1.0])
    factor = 2.0**exponent
    # p_scaled(2^e x) = p(x) · 2^(−e·D): compare with scipy on both sides.
    expected = multivariate_normal(parameters.means[0], covariance).logpdf(x) + log_density_offset(
        exponent, 2
    )
    got = multivariate_normal(scaled.means[0], scaled.covariances[0]).logpdf(factor * x)
    assert got == pytest.approx(expected, rel=1e-12)
    factor_back = scale_parameters(scaled, -exponent)
    for name in ("means", "covariances", "precisions_cholesky"):
        assert np.array_equal(getattr(factor_back, name), getattr(parameters, name))


def start(blobs_scale: float, covariance_type: str) -> dict:
    precisions = np.stack([np.eye(2), np.eye(2)]) if covariance_type == "full" else np.ones((2, 2))
    return {
        "weights_init": [0.5, 0.5],
        "means_init": np.array([[0.5, 0.0], [3.0, 3.0]]) * blobs_scale,
        "precisions_init": precisions / blobs_scale**2,
    }


def fit(X, scale, covariance_type="full"):
    model = GaussianMixture(
        2,
        covariance_type=covariance_type,
        reg_covar=0.0,
        tol=0.0,
        max_iter=10,
        **start(scale, covariance_type),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.mark.parametrize("scale", [1e-150, 1e150, 2.0**-500, 2.0**505])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_a_fit_at_an_extreme_scale_is_the_scaled_fit(blobs, scale, covariance_type):
    reference = fit(blobs, 1.0, covariance_type)
    extreme = fit(blobs * scale, scale, covariance_type)
    np.testing.assert_allclose(extreme.weights_, reference.weights_, rtol=1e-10)
    np.testing.assert_allclose(extreme.means_ / scale, reference.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        extreme.covariances_ / scale**2, reference.covariances_, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        extreme.log_likelihood_, reference.log_likelihood_ - 2 * math.log(scale), rtol=1e-10
    )
    np.testing.assert_allclose(
        extreme.predict_proba(blobs * scale), reference.predict_proba(blobs), atol=1e-10
    )
    np.testing.assert_allclose(
        extreme.score_samples(blobs * scale),
        reference.score_samples(blobs) - 2 * math.log(scale),
        rtol=1e-10,
    )


def test_float32_near_its_largest_value_fits_like_float64(blobs):
    scale = 1e37
    X = (blobs * scale).astype(np.float32)
    single = fit(X, scale)
    double = fit(X.astype(np.float64), scale)
    np.testing.assert_allclose(single.means_ / scale, double.means_ / scale, atol=1e-4)
    np.testing.assert_allclose(
        single.covariances_ / scale**2, double.covariances_ / scale**2, atol=1e-3
    )
    log_density = single.score_samples(X)
    assert log_density.dtype == np.float32
    np.testing.assert_allclose(log_density, double.score_samples(X.astype(np.float64)), rtol=1e-4)


def test_variances_beyond_float64_raise_a_clear_error(blobs):
    with pytest.raises(InvalidInputError, match="Rescale X"):
        GaussianMixture(2, random_state=0).fit(blobs * 1e300)
