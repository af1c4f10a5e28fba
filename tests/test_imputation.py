"""GaussianMixtureImputer: conditional means and draws under the fitted mixture."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from gaussmix import GaussianMixture, GaussianMixtureImputer


def _data(n=400, seed=0, fraction=0.2):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 3.0, -2.0]])
    mixing = np.array([[1.0, 0.7, 0.3], [0.0, 0.8, 0.5], [0.0, 0.0, 0.6]])
    X = centres[labels] + rng.standard_normal((n, 3)) @ mixing
    holes = rng.random(X.shape) < fraction
    holes[np.all(holes, axis=1), 0] = False
    with_nan = X.copy()
    with_nan[holes] = np.nan
    return X, with_nan


def _reference_fill(x, gm):
    """Σ_k r_k (μ_km + Σ_k,mo Σ_k,oo⁻¹ (x_o − μ_ko)) for one row, with scipy.stats."""
    o = np.flatnonzero(~np.isnan(x))
    m = np.flatnonzero(np.isnan(x))
    log_r = np.array(
        [
            np.log(w) + stats.multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(x[o])
            for w, mu, S in zip(gm.weights_, gm.means_, gm.covariances_, strict=True)
        ]
    )
    r = np.exp(log_r - np.logaddexp.reduce(log_r))
    fills = [
        mu[m] + S[np.ix_(m, o)] @ np.linalg.solve(S[np.ix_(o, o)], x[o] - mu[o])
        for mu, S in zip(gm.means_, gm.covariances_, strict=True)
    ]
    out = x.copy()
    out[m] = r @ np.array(fills)
    return out


def test_transform_fills_the_conditional_mean_of_the_fitted_mixture():
    _, X = _data()
    imputer = GaussianMixtureImputer(2, random_state=0).fit(X)
    completed = imputer.transform(X)
    expected = np.array([_reference_fill(x, imputer.mixture_) for x in X[:40]])
    np.testing.assert_allclose(completed[:40], expected, atol=1e-10)
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(completed[observed], X[observed])
    assert not np.isnan(completed).any()


def test_the_mixture_is_the_missing_em_fit():
    _, X = _data(seed=1)
    imputer = GaussianMixtureImputer(2, covariance_type="VVV", random_state=3).fit(X)
    gm = GaussianMixture(2, covariance_type="VVV", random_state=3, missing="em").fit(X)
    np.testing.assert_allclose(imputer.mixture_.means_, gm.means_, atol=1e-12)


def test_conditional_means_beat_mean_imputation_on_mixture_data():
    complete, X = _data(n=1000, seed=2)
    holes = np.isnan(X)
    ours = GaussianMixtureImputer(2, random_state=0).fit_transform(X)
    simple = SimpleImputer().fit_transform(X)

    def rmse(filled):
        return np.sqrt(np.mean((filled[holes] - complete[holes]) ** 2))

    assert rmse(ours) < 0.8 * rmse(simple)


def test_draws_are_reproducible_and_spread_like_the_conditional_distribution():
    _, X = _data(seed=3)
    a = GaussianMixtureImputer(1, sample_posterior=True, random_state=7).fit(X)
    first, second = a.transform(X), a.transform(X)
    np.testing.assert_array_equal(first, second)
    other = GaussianMixtureImputer(1, sample_posterior=True, random_state=8).fit(X)
    assert not np.array_equal(first, other.transform(X))
    # G = 1, one pattern drawn many times: the draws' mean and variance are those of
    # the conditional normal (standard errors of 20,000 draws).
    gm = a.mixture_
    row = np.array([[1.0, np.nan, 0.5]])
    draws = np.array(
        [
            GaussianMixtureImputer(1, sample_posterior=True, random_state=seed)
            .fit(X)
            .transform(row)[0, 1]
            for seed in range(3)
        ]
    )
    assert np.all(np.isfinite(draws))
    S, mu = gm.covariances_[0], gm.means_[0]
    o, m = [0, 2], [1]
    mean = mu[m] + S[np.ix_(m, o)] @ np.linalg.solve(S[np.ix_(o, o)], row[0, o] - mu[o])
    var = S[1, 1] - S[np.ix_(m, o)] @ np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)])
    many = np.repeat(row, 20000, axis=0)
    sampled = GaussianMixtureImputer(1, sample_posterior=True, random_state=0).fit(X)
    values = sampled.transform(many)[:, 1]
    assert values.mean() == pytest.approx(mean[0], abs=4 * np.sqrt(var[0, 0] / 20000))
    assert values.var() == pytest.approx(var[0, 0], rel=0.05)


def test_rows_with_nothing_observed_get_the_mixture_mean():
    _, X = _data(seed=4)
    imputer = GaussianMixtureImputer(2, random_state=0).fit(X)
    filled = imputer.transform(np.full((1, 3), np.nan))[0]
    gm = imputer.mixture_
    np.testing.assert_allclose(filled, gm.weights_ @ gm.means_, atol=1e-12)


def test_works_in_a_pipeline_and_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    complete, X = _data(seed=5)
    features = X[:, :2].copy()
    empty = np.isnan(features).all(axis=1)
    features[empty, 0] = complete[empty, 0]
    frame = pd.DataFrame(features, columns=["a", "b"])
    target = complete[:, 2]
    pipeline = make_pipeline(GaussianMixtureImputer(2, random_state=0), LinearRegression())
    pipeline.fit(frame, target)
    assert np.all(np.isfinite(pipeline.predict(frame)))
    imputer = pipeline[0]
    np.testing.assert_array_equal(imputer.get_feature_names_out(), ["a", "b"])


def test_masked_entries_are_imputed():
    _, X = _data(seed=6)
    masked = np.ma.masked_array(np.nan_to_num(X, nan=-1e6), mask=np.isnan(X))
    a = GaussianMixtureImputer(2, random_state=0).fit_transform(X)
    b = GaussianMixtureImputer(2, random_state=0).fit_transform(masked)
    np.testing.assert_allclose(a, b, atol=1e-12)


@parametrize_with_checks([GaussianMixtureImputer()])
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
