"""Sufficient statistics: additive over any split of the rows, and accurate far from the origin."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from gaussmix.covariance.forms import precision_cholesky_from_covariances
from gaussmix.kernels import accumulate_statistics, chunk_statistics
from gaussmix.mstep import centred_scatter
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

KINDS = ["trace", "diagonal", "full"]
FORM_OF_KIND = {"trace": "spherical", "diagonal": "diagonal", "full": "full"}


def random_mixture(rng: np.random.Generator, form: str, n_components: int, n_features: int):
    """A valid mixture of the given form with random weights, means and covariances."""
    weights = rng.uniform(0.2, 1.0, n_components)
    means = rng.normal(scale=2.0, size=(n_components, n_features))
    if form == "full":
        factors = rng.normal(size=(n_components, n_features, n_features))
        covariances = factors @ np.swapaxes(factors, 1, 2) + np.eye(n_features)
    elif form == "diagonal":
        covariances = rng.uniform(0.5, 2.0, (n_components, n_features))
    else:
        covariances = rng.uniform(0.5, 2.0, n_components)
    return MixtureParameters(
        weights=weights / weights.sum(),
        means=means,
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, form),
        form=form,
    )


def assert_statistics_equal(actual: SufficientStatistics, expected: SufficientStatistics) -> None:
    # Sums over different groupings of the same rows differ only by rounding.
    for name in ("n_k", "weighted_sum", "scatter"):
        reference = getattr(expected, name)
        scale = float(np.max(np.abs(reference)))
        assert_allclose(getattr(actual, name), reference, rtol=1e-10, atol=1e-12 * scale)
    assert_allclose(actual.shift, expected.shift, rtol=0, atol=0)
    assert actual.total_weight == pytest.approx(expected.total_weight, rel=1e-12)
    assert actual.log_likelihood == pytest.approx(expected.log_likelihood, rel=1e-10)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_samples=st.integers(1, 60),
    n_features=st.integers(1, 4),
    n_components=st.integers(1, 4),
    kind=st.sampled_from(KINDS),
    weighted=st.booleans(),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=6),
)
def test_statistics_of_all_rows_equal_the_sum_over_any_split(
    seed, n_samples, n_features, n_components, kind, weighted, cuts
):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=3.0, size=(n_samples, n_features)) + rng.normal(scale=50.0)
    weights = rng.uniform(0.0, 3.0, n_samples) if weighted else None
    if weighted:
        weights[rng.uniform(size=n_samples) < 0.2] = 0.0
    parameters = random_mixture(rng, FORM_OF_KIND[kind], n_components, n_features)
    whole = chunk_statistics(X, weights, parameters, kind)

    boundaries = sorted({0, n_samples, *(int(cut * n_samples) for cut in cuts)})
    total = SufficientStatistics.zeros(parameters.means, kind)
    for start, stop in itertools.pairwise(boundaries):
        piece_weights = None if weights is None else weights[start:stop]
        total = total + chunk_statistics(X[start:stop], piece_weights, parameters, kind)
    assert_statistics_equal(total, whole)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(KINDS))
def test_statistics_are_invariant_to_row_order(seed, kind):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    weights = rng.uniform(0.0, 2.0, 40)
    parameters = random_mixture(rng, FORM_OF_KIND[kind], 3, 3)
    order = rng.permutation(40)
    assert_statistics_equal(
        chunk_statistics(X[order], weights[order], parameters, kind),
        chunk_statistics(X, weights, parameters, kind),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_statistics_equal_dense_sums(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    responsibilities = rng.dirichlet(np.ones(2), size=30)
    weights = rng.uniform(0.0, 2.0, 30)
    shift = rng.normal(size=(2, 3))
    statistics = accumulate_statistics(X, responsibilities, weights, shift, kind)
    for k in range(2):
        n_k = sum(weights[n] * responsibilities[n, k] for n in range(30))
        first = sum(weights[n] * responsibilities[n, k] * (X[n] - shift[k]) for n in range(30))
        second = sum(
            weights[n] * responsibilities[n, k] * np.outer(X[n] - shift[k], X[n] - shift[k])
            for n in range(30)
        )
        reduced = {"full": second, "diagonal": np.diag(second), "trace": np.trace(second)}[kind]
        assert statistics.n_k[k] == pytest.approx(n_k, rel=1e-12)
        assert_allclose(statistics.weighted_sum[k], first, rtol=1e-12, atol=1e-13)
        assert_allclose(statistics.scatter[k], reduced, rtol=1e-12, atol=1e-13)
    assert statistics.total_weight == pytest.approx(weights.sum(), rel=1e-12)


def test_zeros_is_the_neutral_element():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 2))
    parameters = random_mixture(rng, "full", 2, 2)
    statistics = chunk_statistics(X, None, parameters, "full")
    zero = SufficientStatistics.zeros(parameters.means, "full")
    assert_statistics_equal(zero + statistics, statistics)
    assert_statistics_equal(statistics + zero, statistics)


def test_adding_statistics_about_different_shifts_is_refused():
    shift = np.zeros((2, 3))
    with pytest.raises(ValueError, match="same shift"):
        SufficientStatistics.zeros(shift, "full") + SufficientStatistics.zeros(shift + 1, "full")
    with pytest.raises(ValueError, match="scatter"):
        SufficientStatistics.zeros(shift, "full") + SufficientStatistics.zeros(shift, "trace")


def test_statistics_are_float64_for_float32_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    parameters = random_mixture(rng, "full", 2, 3)
    statistics = chunk_statistics(X, None, parameters, "full")
    for name in ("n_k", "weighted_sum", "scatter", "shift"):
        assert getattr(statistics, name).dtype == np.float64


@pytest.mark.parametrize("kind", KINDS)
def test_shifted_scatter_keeps_the_variance_of_float32_data_far_from_the_origin(kind):
    # Unit-variance float32 data offset by 1e4: float32 resolves about 1e-3 there, so the
    # data are exact to ~1e-3/1 relative, but raw moments Σx² − n·x̄² (each ~1e8·n)
    # cancel catastrophically. Moments about the means must keep the variance.
    rng = np.random.default_rng(3)
    n_samples = 20_000
    exact = rng.normal(size=(n_samples, 2)) + 1e4
    X = exact.astype(np.float32)
    responsibilities = np.ones((n_samples, 1))
    reference = np.var(X.astype(np.float64), axis=0)  # float64 variance of the same numbers

    # Shift = the previous means, i.e. close to (but not equal to) the data mean.
    shift = X.astype(np.float64).mean(axis=0, keepdims=True) + 0.3
    statistics = accumulate_statistics(X, responsibilities, None, shift, kind)
    variances = centred_scatter(statistics, statistics.n_k)[0] / n_samples
    expected = {"full": np.diag, "diagonal": lambda v: v, "trace": np.sum}[kind](variances)
    target = {"full": reference, "diagonal": reference, "trace": reference.sum()}[kind]
    assert_allclose(expected, target, rtol=1e-3)

    # The data really do defeat raw moments in float32: the check above can fail.
    raw_second = np.sum(X * X, axis=0, dtype=np.float32) / np.float32(n_samples)
    raw_mean = np.sum(X, axis=0, dtype=np.float32) / np.float32(n_samples)
    raw_variance = raw_second - raw_mean * raw_mean
    assert np.max(np.abs(raw_variance - reference) / reference) > 1e-1


@pytest.mark.parametrize("kind", ["trace", "diagonal", "full"])
def test_reduced_scatter_is_the_same_from_matrices_or_their_diagonals(kind):
    from gaussmix.statistics import reduce_scatter, scatter_shape

    factors = np.random.default_rng(3).normal(size=(3, 4, 4))
    matrices = factors @ np.swapaxes(factors, 1, 2)
    matrices[:, 0, 1] += 1e-3  # not symmetric: "full" keeps ½ (S + Sᵀ)
    reduced = reduce_scatter(matrices, kind)
    assert reduced.shape == scatter_shape(kind, 3, 4)
    expected = {
        "trace": np.trace(matrices, axis1=1, axis2=2),
        "diagonal": np.diagonal(matrices, axis1=1, axis2=2),
        "full": (matrices + np.swapaxes(matrices, 1, 2)) / 2,
    }[kind]
    np.testing.assert_allclose(reduced, expected, rtol=1e-15, atol=0)
    if kind != "full":
        diagonals = np.diagonal(matrices, axis1=1, axis2=2).copy()
        assert reduce_scatter(diagonals, kind).tobytes() == reduced.tobytes()
