"""Property-based robustness of GaussianMixture.fit on hostile and degenerate data.

Every input either fits, with finite parameters, responsibilities summing to one and
(at reg_covar=0, where no component was re-seeded) a log-likelihood history that never
decreases, or raises a ValueError subclass with a message. Nothing else: no other
exception, no NaN, no RuntimeWarning (overflow, invalid value), no hang (max_iter is
bounded).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaussmix import (
    CollapsedComponentError,
    CollapsedComponentWarning,
    GaussianMixture,
    InvalidInputError,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DEGENERATE_CASES = (
    "ordinary",
    "duplicated_rows",
    "identical_rows",
    "constant_column",
    "collinear_features",
    "more_features_than_samples",
    "samples_equal_components",
    "scaled_1e-150",
    "scaled_1e150",
    "huge_and_tiny_columns",
    "float32_near_max",
    "float32_near_tiny",
    "weights_with_zeros",
    "one_dominant_weight",
)

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def make_case(case: str, seed: int, n_samples: int, n_features: int, n_components: int):
    """Data (and sample weights) of one degenerate kind, drawn from a seeded generator."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(n_components, n_features))
    X = centres[rng.integers(n_components, size=n_samples)] + rng.normal(
        size=(n_samples, n_features)
    )
    weights = None
    if case == "duplicated_rows":
        X = np.repeat(X[: max(1, n_samples // 3)], 3, axis=0)[:n_samples]
        X = np.vstack([X, X[: n_samples - X.shape[0]]]) if X.shape[0] < n_samples else X
    elif case == "identical_rows":
        X = np.tile(X[:1], (n_samples, 1))
    elif case == "constant_column":
        X[:, rng.integers(n_features)] = 3.25
    elif case == "collinear_features":
        X = np.hstack([X, 2.0 * X[:, :1] - X[:, -1:]])
    elif case == "more_features_than_samples":
        X = rng.normal(size=(n_samples, n_samples + n_features))
    elif case == "samples_equal_components":
        X = X[:n_components]
    elif case == "scaled_1e-150":
        X = X * 1e-150
    elif case == "scaled_1e150":
        X = X * 1e150
    elif case == "huge_and_tiny_columns":
        X[:, 0] *= 1e150
        X[:, -1] *= 1e-150
    elif case == "float32_near_max":
        limit = np.finfo(np.float32).max
        X = (rng.uniform(-1.0, 1.0, size=X.shape) * limit).astype(np.float32)
    elif case == "float32_near_tiny":
        tiny = np.finfo(np.float32).tiny
        X = (X * tiny).astype(np.float32)
    elif case == "weights_with_zeros":
        weights = rng.integers(0, 3, size=X.shape[0]).astype(np.float64)
    elif case == "one_dominant_weight":
        weights = np.ones(X.shape[0])
        weights[rng.integers(X.shape[0])] = 1e12
    return X, weights


def fit_or_explain(X, sample_weight, **params):
    """Fit; on failure check the error is a ValueError with a message. Returns (model, warnings)."""
    model = GaussianMixture(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(X, sample_weight=sample_weight)
        except ValueError as error:
            assert isinstance(error, (InvalidInputError, CollapsedComponentError)), error
            assert len(str(error)) > 40
            fitted = None
        else:
            fitted = model
            probabilities = model.predict_proba(X)
            log_density = model.score_samples(X)
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not runtime, [str(w.message) for w in runtime]
    if fitted is None:
        return None, caught
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    assert np.isfinite(model.lower_bound_) and np.isfinite(model.log_likelihood_)
    assert np.all(np.isfinite(model.log_likelihood_history_))
    assert np.all(model.weights_ > 0)
    np.testing.assert_allclose(model.weights_.sum(), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(probabilities)) and np.all(probabilities >= 0)
    row_tolerance = 1e-5 if X.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=row_tolerance)
    assert np.all(np.isfinite(log_density))
    return model, caught


def never_decreases(history: np.ndarray, dtype) -> bool:
    """Whether a log-likelihood history is non-decreasing up to the rounding of its dtype."""
    slack = (1e-4 if dtype == np.float32 else 1e-8) * np.maximum(1.0, np.abs(history[1:]))
    return bool(np.all(np.diff(history) >= -slack))


@PROPERTY_SETTINGS
@given(
    case=st.sampled_from(DEGENERATE_CASES),
    seed=st.integers(0, 2**16),
    n_samples=st.integers(1, 24),
    n_features=st.integers(1, 4),
    n_components=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    reg_covar=st.sampled_from([0.0, 1e-6, 1e-2]),
    init_params=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]),
    n_init=st.integers(1, 2),
    max_iter=st.integers(1, 15),
)
def test_every_input_fits_finitely_or_raises_a_value_error(
    case,
    seed,
    n_samples,
    n_features,
    n_components,
    covariance_type,
    reg_covar,
    init_params,
    n_init,
    max_iter,
):
    X, weights = make_case(case, seed, n_samples, n_features, n_components)
    model, caught = fit_or_explain(
        X,
        weights,
        n_components=n_components,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        init_params=init_params,
        n_init=n_init,
        max_iter=max_iter,
        tol=0.0,
        random_state=seed,
    )
    collapsed = any(issubclass(w.category, CollapsedComponentWarning) for w in caught)
    if model is not None and reg_covar == 0.0 and not collapsed:
        assert never_decreases(model.log_likelihood_history_, X.dtype)


@PROPERTY_SETTINGS
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=2, max_size=40
    ),
    n_features=st.integers(1, 4),
    n_components=st.integers(1, 3),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
)
def test_arbitrary_finite_values_fit_finitely_or_raise_a_value_error(
    values, n_features, n_components, covariance_type
):
    # Hypothesis' floats reach 1e±308, subnormals and exact duplicates of each other.
    n_samples = len(values) // n_features
    if n_samples == 0:
        return
    X = np.array(values[: n_samples * n_features]).reshape(n_samples, n_features)
    fit_or_explain(
        X,
        None,
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=10,
        random_state=0,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(
    "case", [case for case in DEGENERATE_CASES if case != "samples_equal_components"]
)
def test_degenerate_data_fit_with_the_default_reg_covar(case, covariance_type):
    # Where a sound answer exists (reg_covar > 0 keeps every covariance positive
    # definite), gaussmix must give it rather than an error.
    X, weights = make_case(case, seed=7, n_samples=30, n_features=3, n_components=2)
    model, _ = fit_or_explain(
        X, weights, n_components=2, covariance_type=covariance_type, random_state=0
    )
    assert model is not None


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_as_many_samples_as_components_fits(covariance_type):
    X, _ = make_case("samples_equal_components", seed=3, n_samples=30, n_features=2, n_components=3)
    model, _ = fit_or_explain(X, None, n_components=3, covariance_type=covariance_type)
    assert model is not None
    np.testing.assert_allclose(np.sort(model.weights_), np.full(3, 1 / 3), rtol=1e-6)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**16),
    bad_value=st.sampled_from([np.nan, np.inf, -np.inf]),
    n_samples=st.integers(2, 20),
)
def test_non_finite_input_raises_before_anything_is_written(seed, bad_value, n_samples):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    row, column = rng.integers(n_samples), rng.integers(3)
    X[row, column] = bad_value
    model = GaussianMixture(2)
    with pytest.raises(InvalidInputError, match=f"row {row}, column {column}"):
        model.fit(X)
    assert not hasattr(model, "weights_")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    case=st.sampled_from(
        [
            "ordinary",
            "duplicated_rows",
            "scaled_1e-150",
            "scaled_1e150",
            "float32_near_max",
            "weights_with_zeros",
            "one_dominant_weight",
        ]
    ),
    seed=st.integers(0, 2**16),
    n_samples=st.integers(30, 60),
    n_features=st.integers(1, 3),
    n_components=st.integers(1, 3),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    init_params=st.sampled_from(["kmeans", "random"]),
)
def test_log_likelihood_never_decreases_at_reg_covar_zero(
    case, seed, n_samples, n_features, n_components, covariance_type, init_params
):
    # EM's monotonicity (Bishop 2006, §9.4) holds wherever no component was re-seeded.
    X, weights = make_case(case, seed, n_samples, n_features, n_components)
    model, caught = fit_or_explain(
        X,
        weights,
        n_components=n_components,
        covariance_type=covariance_type,
        reg_covar=0.0,
        init_params=init_params,
        max_iter=15,
        tol=0.0,
        random_state=seed,
    )
    if model is not None and not any(
        issubclass(w.category, CollapsedComponentWarning) for w in caught
    ):
        assert never_decreases(model.log_likelihood_history_, X.dtype)
