"""GaussianMixture invariants beyond scikit-learn: chunking, sample weights, float32, DataFrames."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.mixture
from numpy.testing import assert_allclose, assert_array_equal

from gaussmix import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
ATTRIBUTES = [
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "lower_bounds_",
    "log_likelihood_history_",
]

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def clusters(seed: int, n_samples: int = 200, n_features: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, n_features))
    labels = rng.integers(0, 3, size=n_samples)
    return centres[labels] + rng.normal(size=(n_samples, n_features))


def explicit_start(X: np.ndarray, covariance_type: str, n_components: int = 3) -> dict:
    """Means on data points, equal weights, unit precisions: a start independent of the rows."""
    n_features = X.shape[1]
    shapes = {
        "full": np.tile(np.eye(n_features), (n_components, 1, 1)),
        "tied": np.eye(n_features),
        "diag": np.ones((n_components, n_features)),
        "spherical": np.ones(n_components),
    }
    return {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": X[:: max(1, X.shape[0] // n_components)][:n_components],
        "precisions_init": shapes[covariance_type],
    }


def assert_same_attributes(first, second, rtol: float) -> None:
    for name in ATTRIBUTES:
        expected = np.asarray(getattr(second, name), dtype=np.float64)
        scale = float(np.max(np.abs(expected)))
        assert_allclose(getattr(first, name), expected, rtol=rtol, atol=rtol * scale, err_msg=name)
    assert first.n_iter_ == second.n_iter_
    assert first.converged_ == second.converged_
    assert first.lower_bound_ == pytest.approx(second.lower_bound_, rel=rtol)
    assert first.log_likelihood_ == pytest.approx(second.log_likelihood_, rel=rtol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_results_do_not_depend_on_chunk_size(covariance_type):
    X = clusters(0, n_samples=90)
    weights = np.random.default_rng(0).uniform(0.0, 2.0, 90)
    fits = [
        GaussianMixture(
            n_components=3,
            covariance_type=covariance_type,
            chunk_size=chunk_size,
            tol=0.0,
            max_iter=10,
            random_state=0,
        ).fit(X, sample_weight=weights)
        for chunk_size in (1, 7, 1000)
    ]
    for other in fits[1:]:
        assert_same_attributes(other, fits[0], rtol=1e-10)
        assert_allclose(other.predict_proba(X), fits[0].predict_proba(X), atol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    X = clusters(1, n_samples=120)
    counts = np.random.default_rng(1).integers(0, 4, size=120)
    options = dict(
        n_components=3,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=20,
        **explicit_start(X, covariance_type),
    )
    weighted = GaussianMixture(**options).fit(X, sample_weight=counts)
    repeated = GaussianMixture(**options).fit(np.repeat(X, counts, axis=0))
    assert_same_attributes(weighted, repeated, rtol=1e-10)
    assert weighted.score(X, sample_weight=counts) == pytest.approx(
        repeated.score(np.repeat(X, counts, axis=0)), rel=1e-10
    )


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_zero_weight_rows_are_never_seeds(init_params):
    # Rows of weight zero sit far away; a start seeded on one would pull a mean there.
    X = clusters(2, n_samples=100)
    outliers = np.full((30, 2), 500.0)
    weights = np.r_[np.ones(100), np.zeros(30)]
    gm = GaussianMixture(n_components=3, init_params=init_params, random_state=0, max_iter=0)
    gm.fit(np.vstack([X, outliers]), sample_weight=weights)
    assert np.all(np.abs(gm.means_) < 100.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_offset_data_give_the_float64_variances(covariance_type):
    # Two well-separated unit-variance clusters at 1e4: float32 loses the variance if
    # moments are taken about the origin, not if they are taken about the current means.
    rng = np.random.default_rng(3)
    n_samples = 20_000
    labels = rng.integers(0, 2, n_samples)
    X = np.array([[1e4, 1e4], [1e4 + 20.0, 1e4 - 20.0]])[labels] + rng.normal(size=(n_samples, 2))
    X32 = X.astype(np.float32)
    options = dict(
        n_components=2,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=5,
        means_init=np.array([[1e4 + 1.0, 1e4 + 1.0], [1e4 + 19.0, 1e4 - 19.0]]),
        weights_init=np.array([0.5, 0.5]),
    )
    single = GaussianMixture(**options).fit(X32)
    double = GaussianMixture(**options).fit(X32.astype(np.float64))
    assert single.means_.dtype == np.float64
    assert_allclose(single.covariances_, double.covariances_, rtol=1e-3, atol=1e-3)
    assert_allclose(single.means_, double.means_, rtol=1e-7)
    assert single.log_likelihood_ == pytest.approx(double.log_likelihood_, rel=1e-4)


def test_fit_predict_equals_fit_then_predict():
    X = clusters(4)
    labels = GaussianMixture(n_components=3, random_state=0).fit_predict(X)
    fitted = GaussianMixture(n_components=3, random_state=0).fit(X)
    assert_array_equal(labels, fitted.predict(X))


def test_dataframe_input_records_feature_names():
    X = clusters(5, n_features=3)
    frame = pd.DataFrame(X, columns=["length", "width", "depth"])
    gm = GaussianMixture(n_components=2, random_state=0).fit(frame)
    assert_array_equal(gm.feature_names_in_, ["length", "width", "depth"])
    assert gm.n_features_in_ == 3
    with pytest.warns(UserWarning, match="feature names"):
        plain = gm.score_samples(X)
    assert_allclose(gm.score_samples(frame), plain, rtol=1e-12)


def test_renamed_columns_warn_or_raise_as_sklearn_does():
    X = clusters(6, n_features=2)
    frame = pd.DataFrame(X, columns=["a", "b"])
    ours = GaussianMixture(n_components=2, random_state=0).fit(frame)
    theirs = sklearn.mixture.GaussianMixture(n_components=2, random_state=0).fit(frame)
    renamed = frame.rename(columns={"b": "c"})
    for estimator in (ours, theirs):
        with pytest.raises(ValueError, match="feature names"):
            estimator.predict(renamed)
    # A plain array after a DataFrame fit: a warning, in both.
    for estimator in (ours, theirs):
        with pytest.warns(UserWarning, match="feature names"):
            estimator.predict(X)
    # A DataFrame after a plain-array fit: a warning too.
    plain = GaussianMixture(n_components=2, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="feature names"):
        plain.predict(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.predict(frame)


def test_sample_draws_from_the_fitted_mixture():
    X = clusters(7)
    gm = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)
    drawn, labels = gm.sample(30_000)
    for k in range(3):
        rows = drawn[labels == k]
        assert rows.shape[0] / 30_000 == pytest.approx(gm.weights_[k], abs=0.015)
        assert_allclose(rows.mean(axis=0), gm.means_[k], atol=0.05)
        assert_allclose(np.cov(rows.T), gm.covariances_[k], atol=0.08)


def test_verbose_prints_each_start_and_every_interval(capsys):
    X = clusters(8)
    GaussianMixture(
        n_components=2, n_init=2, tol=0.0, max_iter=6, verbose=2, verbose_interval=3
    ).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("Initialization 0") for line in lines) == 1
    assert sum(line.startswith("Initialization 1") for line in lines) == 1
    iterations = [line for line in lines if line.strip().startswith("Iteration")]
    assert [line.split()[1] for line in iterations] == ["3", "6", "3", "6"]
    assert all("log-likelihood" in line and "change" in line for line in iterations)
