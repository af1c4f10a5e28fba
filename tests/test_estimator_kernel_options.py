"""GaussianMixture's kernel options: dtype, backend, threads and chunking keep the answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SklearnMixture

from gaussmix import GaussianMixture, InvalidParameterError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def data(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 1.0], [-2.0, 4.0]])
    return centres[rng.integers(0, 3, size=700)] + rng.normal(scale=[1.0, 0.6], size=(700, 2))


def same_start(X, covariance_type):
    initial = SklearnMixture(3, covariance_type=covariance_type, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        initial.fit(X)
    return {
        "weights_init": initial.weights_,
        "means_init": initial.means_,
        "precisions_init": initial.precisions_,
    }


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_threaded_fit_matches_scikit_learn(covariance_type):
    X = data()
    start = same_start(X, covariance_type)
    options = dict(covariance_type=covariance_type, tol=0.0, max_iter=25, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = SklearnMixture(3, **options).fit(X)
        got = GaussianMixture(3, chunk_size=61, **options).fit(X)
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-8)
    assert got.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-8)
    np.testing.assert_allclose(got.score_samples(X), expected.score_samples(X), rtol=1e-8)
    np.testing.assert_allclose(got.predict_proba(X), expected.predict_proba(X), atol=1e-8)
    np.testing.assert_array_equal(got.predict(X), expected.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_kernels_agree_with_float64_to_1e_4(covariance_type):
    X = data(1)
    start = same_start(X, covariance_type)
    options = dict(covariance_type=covariance_type, tol=0.0, max_iter=25, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        double = GaussianMixture(3, **options).fit(X)
        single = GaussianMixture(3, dtype="float32", **options).fit(X)
        from_float32 = GaussianMixture(3, **options).fit(X.astype(np.float32))
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(single, name), getattr(double, name), rtol=1e-4)
        np.testing.assert_array_equal(getattr(single, name), getattr(from_float32, name))
    # Fitted parameters are float64 (host M-step); the kernels ran in float32.
    assert single.means_.dtype == np.float64
    assert single.score_samples(X).dtype == np.float32
    assert double.score_samples(X.astype(np.float32)).dtype == np.float32


def test_dtype_float64_upcasts_float32_input():
    X = data(2).astype(np.float32)
    model = GaussianMixture(2, dtype="float64", random_state=0).fit(X)
    assert model.score_samples(X).dtype == np.float64


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("dtype", "float16", "dtype must be one of"), ("backend", "jax", "backend must be one of")],
)
def test_bad_kernel_options_are_refused(option, value, message):
    with pytest.raises(InvalidParameterError, match=message):
        GaussianMixture(2, **{option: value}).fit(data())
