"""gaussmix.bootstrap: standard errors against repeated simulation, the jackknife formula,
failures and relabelling, determinism across n_jobs."""

from __future__ import annotations

import numpy as np
import pytest
from joblib import parallel_config
from scipy.stats import norm

from gaussmix import GaussianMixture, bootstrap
from gaussmix.exceptions import InvalidInputError, InvalidParameterError

# Two well-separated 1-D components (6 standard deviations apart), n = 200.
_PI, _MU, _N = np.array([0.4, 0.6]), np.array([-3.0, 3.0]), 200


def _simulate(rng, n=_N):
    first = rng.random(n) < _PI[0]
    return np.where(first, rng.normal(_MU[0], 1.0, n), rng.normal(_MU[1], 1.0, n))[:, None]


def _fit(X):
    return GaussianMixture(2, means_init=_MU[:, None]).fit(X)


def _flat(weights, means, covariances):
    return np.r_[weights[:1], np.ravel(means), np.ravel(covariances)]


@pytest.fixture(scope="module")
def simulated_standard_errors():
    """SD of the estimates over 300 data sets drawn from the true mixture."""
    rng = np.random.default_rng(1)
    estimates = [_fit(_simulate(rng)) for _ in range(300)]
    return np.std([_flat(m.weights_, m.means_, m.covariances_) for m in estimates], axis=0, ddof=1)


@pytest.mark.parametrize("method", ["nonparametric", "parametric"])
def test_bootstrap_standard_errors_match_repeated_simulation(method, simulated_standard_errors):
    # Ratio bootstrap SE / simulated SE, averaged over 4 data sets of 60 refits each.
    # Measured over 12 data sets, one data set's ratio has sd 0.09 (weight), 0.12–0.17
    # (means) and 0.16–0.27 (variances); the simulated SEs carry 4 % (300 data sets).
    # Tolerances are about 3 sd of the 4-set average; the mean over all five
    # parameters (sd about 0.05) must be within 0.15, which a factor √2 would fail.
    ratios = []
    for r in range(4):
        X = _simulate(np.random.default_rng(100 + r))
        result = bootstrap(_fit(X), X, n_bootstrap=60, method=method, random_state=r)
        assert result.n_fitted == 60 and not result.failures
        se = result.standard_errors
        ratios.append(
            _flat(se["weights"], se["means"], se["covariances"]) / simulated_standard_errors
        )
    average = np.mean(ratios, axis=0)
    tolerance = np.array([0.2, 0.3, 0.3, 0.45, 0.45])
    assert np.all(np.abs(average - 1) < tolerance), average
    assert abs(np.mean(average) - 1) < 0.15, average


@pytest.mark.parametrize("weighted", [False, True])
def test_jackknife_against_brute_force_leave_one_out(weighted):
    rng = np.random.default_rng(2)
    X = _simulate(rng, n=40)
    weights = rng.uniform(0.5, 2.0, len(X)) if weighted else None
    model = GaussianMixture(2, covariance_type="spherical", random_state=0)
    model.fit(X, sample_weight=weights)
    responsibilities = model.predict_proba(X)
    result = bootstrap(model, X, method="jackknife", level=0.9, sample_weight=weights)
    leave_one_out = []
    for i in range(len(X)):
        others = np.delete(np.arange(len(X)), i)
        refit = GaussianMixture(2, covariance_type="spherical", random_state=0)
        refit.set_params(responsibilities_init=responsibilities[others])
        refit.fit(X[others], sample_weight=None if weights is None else weights[others])
        leave_one_out.append(_flat(refit.weights_, refit.means_, refit.covariances_))
    leave_one_out = np.array(leave_one_out)
    n = len(X)
    variance = (n - 1) / n * np.sum((leave_one_out - leave_one_out.mean(0)) ** 2, axis=0)
    se = result.standard_errors
    np.testing.assert_allclose(
        _flat(se["weights"], se["means"], se["covariances"]), np.sqrt(variance), rtol=1e-9
    )
    low, high = (
        _flat(*(result.intervals[name][j] for name in ("weights", "means", "covariances")))
        for j in (0, 1)
    )
    half = norm.ppf(0.95) * np.sqrt(variance)
    np.testing.assert_allclose(low, leave_one_out.mean(0) - half, rtol=1e-9)
    np.testing.assert_allclose(high, leave_one_out.mean(0) + half, rtol=1e-9)
    assert result.replicates["covariances"].shape == (n, 2)


def test_percentile_intervals_and_shapes_follow_the_model():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(-3, 1, (50, 2)), rng.normal(3, 1, (70, 2))])
    model = GaussianMixture(2, covariance_type="tied", random_state=0).fit(X)
    result = bootstrap(model, X, n_bootstrap=20, random_state=0)
    assert result.estimates["covariances"].shape == (2, 2)
    assert result.replicates["covariances"].shape == (20, 2, 2)
    assert result.standard_errors["means"].shape == (2, 2)
    np.testing.assert_allclose(
        result.standard_errors["means"], np.std(result.replicates["means"], axis=0, ddof=1)
    )
    ninety = result.confidence_intervals(0.9)["weights"]
    np.testing.assert_allclose(
        ninety, np.quantile(result.replicates["weights"], [0.05, 0.95], axis=0)
    )
    assert np.all(result.intervals["weights"][0] <= ninety[0])


def test_deterministic_whatever_n_jobs_and_progress_reported():
    X = _simulate(np.random.default_rng(4), n=80)
    model = _fit(X)
    calls = []
    one = bootstrap(
        model, X, n_bootstrap=8, random_state=5, callback=lambda d, t: calls.append((d, t))
    )
    assert calls == [(done, 8) for done in range(1, 9)]
    # Threads keep the test light; the same Parallel call runs worker processes by default.
    with parallel_config(backend="threading"):
        two = bootstrap(model, X, n_bootstrap=8, random_state=5, n_jobs=2)
    for name in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(one.replicates[name], two.replicates[name])
    again = bootstrap(model, X, n_bootstrap=8, method="parametric", random_state=5)
    assert not np.array_equal(again.replicates["means"], one.replicates["means"])


# A row value no normal draw repeats exactly: fits "fail" on data that lack it.
_MARKER = 3.0


class _FailsWithoutMarker(GaussianMixture):
    """Fails on any data lacking the marker row (a refit that cannot be done)."""

    def fit(self, X, y=None, sample_weight=None):
        if not np.any(np.asarray(X) == _MARKER):
            raise ValueError("the marker row is missing")
        return super().fit(X, y, sample_weight)


class _StartFailsWithoutMarker(GaussianMixture):
    """Without the marker row the labelled start fails and a fresh fit swaps the labels."""

    def fit(self, X, y=None, sample_weight=None):
        if not np.any(np.asarray(X) == _MARKER):
            if self.responsibilities_init is not None:
                raise ValueError("the labelled start fails")
            self.means_init = np.array([[-3.0], [3.0]])
        return super().fit(X, y, sample_weight)


def _marked_data():
    rng = np.random.default_rng(6)
    X = np.r_[rng.normal(3, 1, 15), rng.normal(-3, 1, 15)][:, None]
    X[7, 0] = _MARKER  # in the right-hand component
    return X


def test_failed_refits_are_recorded_with_their_errors():
    X = _marked_data()
    model = _FailsWithoutMarker(2, random_state=0).fit(X)
    result = bootstrap(model, X, method="jackknife")
    assert [failure.replicate for failure in result.failures] == [7]
    assert result.failures[0].error == "ValueError: the marker row is missing"
    assert result.failures[0].start_error == "ValueError: the marker row is missing"
    assert result.n_fitted == 29 and 7 not in result.replicate_ids
    m = 29
    values = result.replicates["means"]
    expected = np.sqrt((m - 1) / m * np.sum((values - values.mean(0)) ** 2, axis=0))
    np.testing.assert_allclose(result.standard_errors["means"], expected, rtol=1e-12)


def test_failed_start_is_refitted_and_matched_by_means():
    X = _marked_data()
    model = _StartFailsWithoutMarker(2, means_init=[[3.0], [-3.0]]).fit(X)
    assert model.means_[0, 0] > 0 > model.means_[1, 0]
    result = bootstrap(model, X, method="jackknife")
    assert result.failures == ()
    assert result.relabelled == (7,)
    # The fresh fit put the left-hand component first; matching restored the model's order.
    means = result.replicates["means"][list(result.replicate_ids).index(7)]
    np.testing.assert_allclose(means, model.means_, atol=0.5)


def test_bad_arguments_are_errors():
    X = _simulate(np.random.default_rng(8), n=40)
    model = _fit(X)
    with pytest.raises(InvalidParameterError, match="method"):
        bootstrap(model, X, method="bayesian")
    with pytest.raises(InvalidParameterError, match="one refit per row"):
        bootstrap(model, X, n_bootstrap=10, method="jackknife")
    with pytest.raises(InvalidParameterError, match="level"):
        bootstrap(model, X, n_bootstrap=10, level=95)
    with pytest.raises(InvalidInputError, match=r"shape \(n_samples, 1\)"):
        bootstrap(model, np.hstack([X, X]), n_bootstrap=10)
    with pytest.raises(InvalidParameterError, match="GaussianMixture"):
        bootstrap(object(), X, n_bootstrap=10)


def test_semi_supervised_jackknife_keeps_the_labels_of_every_refit():
    rng = np.random.default_rng(9)
    X = _simulate(rng, n=40)
    labels = np.full(len(X), -1)
    labels[:6] = (X[:6, 0] > 0).astype(int)  # a few rows' components known
    model = GaussianMixture(2, covariance_type="spherical", semi_supervised=True).fit(X, labels)
    responsibilities = model.predict_proba(X)
    result = bootstrap(model, X, method="jackknife", y=labels)
    leave_one_out = []
    for i in range(len(X)):
        others = np.delete(np.arange(len(X)), i)
        refit = GaussianMixture(2, covariance_type="spherical", semi_supervised=True)
        refit.set_params(responsibilities_init=responsibilities[others])
        refit.fit(X[others], labels[others])
        leave_one_out.append(_flat(refit.weights_, refit.means_, refit.covariances_))
    leave_one_out = np.array(leave_one_out)
    n = len(X)
    variance = (n - 1) / n * np.sum((leave_one_out - leave_one_out.mean(0)) ** 2, axis=0)
    se = result.standard_errors
    np.testing.assert_allclose(
        _flat(se["weights"], se["means"], se["covariances"]), np.sqrt(variance), rtol=1e-9
    )
    # Without the labels the refits are ordinary fits, and differ.
    ordinary = bootstrap(model.set_params(semi_supervised=False), X, method="jackknife")
    assert not np.allclose(ordinary.replicates["means"], result.replicates["means"], rtol=1e-9)
    with pytest.raises(InvalidParameterError, match="semi_supervised=True"):
        bootstrap(model, X, method="jackknife", y=labels)
    with pytest.raises(InvalidParameterError, match="parametric"):
        bootstrap(model.set_params(semi_supervised=True), X, 10, "parametric", y=labels)
