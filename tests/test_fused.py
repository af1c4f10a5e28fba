"""The compiled sweep of gaussmix.fused against the scipy reference and the array kernels."""

from __future__ import annotations

import numpy as np
import pytest

from gaussmix import fused
from gaussmix.backends.numpy import NumpyBackend, posterior_rows
from gaussmix.kernels import chunk_moments, posterior, prepare_parameters, whitened_kind
from test_kernels_reference import FORMS, assert_statistics_match, random_parameters, reference

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba is not installed")

KIND_OF_FORM = {"full": "full", "tied": "full", "diagonal": "diagonal", "spherical": "trace"}


def test_exp_is_within_two_ulps_of_numpy_and_exact_at_the_ends():
    rng = np.random.default_rng(0)
    values = -np.concatenate([rng.uniform(0, 708, 200_000), rng.uniform(0, 1e-6, 1000)])
    computed = fused.exp_nonpositive(values)
    expected = np.exp(values)
    assert np.max(np.abs(computed - expected) / expected) <= 2 * np.finfo(float).eps
    ends = fused.exp_nonpositive(np.array([0.0, -np.inf, -709.0, -1e4]))
    np.testing.assert_array_equal(ends, [1.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", ["full", "diagonal", "trace"])
@pytest.mark.parametrize("n_features", [1, 3, 9, 20])
def test_fused_statistics_equal_the_reference(form, kind, n_features):
    # D = 20 takes the BLAS scatter of wide data; 1, 3 and 9 the compiled one (9: its
    # 2 × 4 blocks, a remainder column and a last single row).
    parameters = random_parameters(form, 3, n_features, seed=n_features)
    rng = np.random.default_rng(1)
    X = rng.normal(scale=2.0, size=(97, n_features))
    sample_weight = rng.uniform(0.0, 3.0, size=97)
    sample_weight[::10] = 0.0
    for weights in (None, sample_weight):
        for chunk_size in (1, 7, 33, 1000):
            backend = NumpyBackend(X, weights, chunk_size, use_fused=True)
            statistics = backend.statistics(parameters, kind)
            expected = reference(X, weights, parameters, kind)
            assert_statistics_match(statistics, expected, 1e-12)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fused_and_array_kernels_agree_on_every_chunk(form, n_threads):
    parameters = random_parameters(form, 5, 4, seed=3)
    X = np.random.default_rng(4).normal(scale=2.0, size=(2000, 4))
    kind = KIND_OF_FORM[form]
    fast = NumpyBackend(X, None, 129, n_threads=n_threads, use_fused=True)
    plain = NumpyBackend(X, None, 129, n_threads=n_threads, use_fused=False)
    a, b = fast.statistics(parameters, kind), plain.statistics(parameters, kind)
    np.testing.assert_allclose(a.n_k, b.n_k, rtol=1e-12)
    np.testing.assert_allclose(
        a.scatter, b.scatter, rtol=1e-12, atol=1e-12 * np.abs(b.scatter).max()
    )
    np.testing.assert_allclose(a.log_likelihood, b.log_likelihood, rtol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_sums_do_not_depend_on_the_number_of_threads(form):
    """Blocks of chunks are summed in order, so every thread count gives the same bits."""
    parameters = random_parameters(form, 3, 5, seed=14)
    X = np.random.default_rng(15).normal(scale=2.0, size=(3001, 5))
    kind = KIND_OF_FORM[form]
    results = [
        NumpyBackend(X, None, 37, n_threads=n_threads, use_fused=True).statistics(parameters, kind)
        for n_threads in (1, 2, 3)
    ]
    for other in results[1:]:
        np.testing.assert_array_equal(other.scatter, results[0].scatter)
        np.testing.assert_array_equal(other.n_k, results[0].n_k)
        assert other.log_likelihood == results[0].log_likelihood


@pytest.mark.parametrize("form", FORMS)
def test_one_row_and_one_component(form):
    X = np.array([[0.3, -1.2, 2.0]])
    for n_components in (1, 4):
        parameters = random_parameters(form, n_components, 3, seed=5)
        kind = whitened_kind(form, KIND_OF_FORM[form])
        prepared = prepare_parameters(parameters)
        expected = chunk_moments(X, None, prepared, kind)
        computed = fused.chunk_moments(X, None, prepared, kind)
        np.testing.assert_allclose(computed.n_k, expected.n_k, rtol=1e-13)
        np.testing.assert_allclose(computed.second, expected.second, rtol=1e-12)
        np.testing.assert_allclose(computed.log_likelihood, expected.log_likelihood, rtol=1e-13)


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 299, 300, 1000])
@pytest.mark.parametrize("form", FORMS)
def test_fused_posterior_equals_the_array_posterior(form, chunk_size):
    # A block visited chunk by chunk in one compiled call, the last chunk short.
    parameters = random_parameters(form, 4, 3, seed=6)
    X = np.random.default_rng(7).normal(scale=3.0, size=(300, 3))
    prepared = prepare_parameters(parameters)
    log_norm, responsibilities = posterior_rows(X, prepared, True, chunk_size)
    expected_log_norm, expected_responsibilities = posterior(X, prepared)
    np.testing.assert_allclose(log_norm, expected_log_norm, rtol=1e-13)
    np.testing.assert_allclose(responsibilities, expected_responsibilities, rtol=1e-12, atol=1e-300)


def test_zero_weight_component_and_far_rows():
    """log π = −inf gives exactly zero; rows far from every component keep their mass."""
    parameters = random_parameters("full", 3, 2, seed=8)
    weights = np.array([0.5, 0.5, 0.0])
    parameters = type(parameters)(
        weights=weights,
        means=parameters.means,
        covariances=parameters.covariances,
        precisions_cholesky=parameters.precisions_cholesky,
        form="full",
    )
    X = np.array([[0.0, 0.0], [1e3, -1e3], [40.0, 40.0]])
    prepared = prepare_parameters(parameters)
    log_norm, responsibilities = fused.posterior(X, prepared)
    assert np.all(responsibilities[:, 2] == 0.0)
    np.testing.assert_allclose(responsibilities.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(log_norm, posterior(X, prepared)[0], rtol=1e-13)


def test_float32_chunks_match_float64_to_single_precision():
    parameters = random_parameters("full", 4, 6, seed=9)
    X = np.random.default_rng(10).normal(scale=2.0, size=(5000, 6))
    exact = NumpyBackend(X, None, 1024, use_fused=True).statistics(parameters, "full")
    single = NumpyBackend(X.astype(np.float32), None, 1024, use_fused=True).statistics(
        parameters, "full"
    )
    np.testing.assert_allclose(single.n_k, exact.n_k, rtol=1e-4)
    np.testing.assert_allclose(single.scatter, exact.scatter, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(single.log_likelihood, exact.log_likelihood, rtol=1e-5)


def test_float32_responsibilities_are_never_subnormal():
    """Exponents far below the row's largest give exactly 0, not a subnormal float32.

    Two unit-variance components 14 apart, rows spread between them: exp of the
    exponent gaps (up to ±98) would fall into float32's subnormal range for many rows.
    """
    parameters = random_parameters("spherical", 2, 1, seed=13)
    parameters = type(parameters)(
        weights=np.array([0.5, 0.5]),
        means=np.array([[0.0], [14.0]]),
        covariances=np.ones(2),
        precisions_cholesky=np.ones(2),
        form="spherical",
    )
    X = np.linspace(-2.0, 16.0, 4001)[:, None]
    exact_log_norm, exact = posterior(X, prepare_parameters(parameters))
    assert np.any((exact > 0) & (exact < np.finfo(np.float32).tiny))  # the case is real
    single = X.astype(np.float32)
    prepared = prepare_parameters(parameters, np, np.float32)
    for evaluate in (fused.posterior, posterior):  # compiled sweep and array kernels
        log_norm, responsibilities = evaluate(single, prepared)
        magnitude = np.abs(responsibilities)
        assert np.all((magnitude == 0) | (magnitude >= np.finfo(np.float32).tiny))
        np.testing.assert_allclose(responsibilities, exact, atol=1e-6)
        np.testing.assert_allclose(log_norm, exact_log_norm, rtol=1e-5)
    statistics = NumpyBackend(single, None, 333, use_fused=True).statistics(parameters, "trace")
    expected = NumpyBackend(X, None, 333, use_fused=True).statistics(parameters, "trace")
    np.testing.assert_allclose(statistics.n_k, expected.n_k, rtol=1e-5)
    np.testing.assert_allclose(statistics.weighted_sum, expected.weighted_sum, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(statistics.scatter, expected.scatter, rtol=1e-5, atol=1e-3)


def test_fortran_ordered_data_give_the_same_statistics():
    parameters = random_parameters("diagonal", 3, 5, seed=11)
    X = np.random.default_rng(12).normal(size=(400, 5))
    c_order = NumpyBackend(X, None, 64, use_fused=True).statistics(parameters, "diagonal")
    f_order = NumpyBackend(np.asfortranarray(X), None, 64, use_fused=True).statistics(
        parameters, "diagonal"
    )
    np.testing.assert_array_equal(c_order.scatter, f_order.scatter)
