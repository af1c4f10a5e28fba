"""MixtureDiscriminantAnalysis(missing="em") against independent computations.

References written here: scipy.optimize of the observed-data likelihood of the known
classes (class-specific and shared covariances), and Bayes' rule on scipy.stats marginals.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.utils.estimator_checks import parametrize_with_checks

from gaussmix import MixtureDiscriminantAnalysis
from gaussmix.exceptions import InvalidInputError, InvalidParameterError


def _classes(n=40, seed=0, fraction=0.2):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [
            rng.normal(0.0, 1.0, (n, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]]),
            rng.normal(0.0, 1.0, (n, 2)) @ np.array([[0.7, -0.3], [0.0, 1.2]]) + [2.5, 1.0],
        ]
    )
    y = np.repeat(["a", "b"], n)
    holes = rng.random(X.shape) < fraction
    holes[np.all(holes, axis=1), 0] = False
    Y = X.copy()
    Y[holes] = np.nan
    return X, Y, y


def _log_marginal(x, mean, covariance):
    o = ~np.isnan(x)
    return stats.multivariate_normal(mean[o], covariance[np.ix_(o, o)]).logpdf(x[o])


def _class_log_likelihood(Y, mean, covariance):
    """Σ log N(y_o | μ_o, Σ_oo) over rows of two features: complete, or one of them seen."""
    complete = ~np.isnan(Y).any(axis=1)
    total = np.sum(stats.multivariate_normal(mean, covariance).logpdf(Y[complete]))
    for j in range(2):
        alone = ~complete & ~np.isnan(Y[:, j])
        total += np.sum(stats.norm(mean[j], np.sqrt(covariance[j, j])).logpdf(Y[alone, j]))
    return total


def _unpack_cholesky(theta):
    L = np.array([[np.exp(theta[0]), 0.0], [theta[1], np.exp(theta[2])]])
    return L @ L.T


def _maximise(Y, labels, shared):
    """Class means and covariances maximising Σ_n log N(y_no | μ_{c_n}, Σ_{c_n}) directly."""
    n_covariances = 1 if shared else 2

    def unpack(theta):
        means = theta[:4].reshape(2, 2)
        covariances = [_unpack_cholesky(theta[4 + 3 * j : 7 + 3 * j]) for j in range(n_covariances)]
        return means, [covariances[0 if shared else c] for c in range(2)]

    def objective(theta):
        means, covariances = unpack(theta)
        return -sum(
            _class_log_likelihood(Y[labels == c], means[c], covariances[c]) for c in range(2)
        )

    start = np.zeros(4 + 3 * n_covariances)
    start[:4] = np.array([np.nanmean(Y[labels == c], axis=0) for c in range(2)]).ravel()
    result = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-8})
    return unpack(result.x)


@pytest.mark.parametrize("code, shared", [("VVV", False), ("EEE", True)])
def test_edda_is_the_observed_data_maximum_likelihood_of_the_classes(code, shared):
    _, Y, y = _classes()
    labels = (y == "b").astype(int)
    clf = MixtureDiscriminantAnalysis(
        model_type="edda", covariance_type=code, missing="em", tol=1e-12, max_iter=5000
    ).fit(Y, y)
    means, covariances = _maximise(Y, labels, shared)
    np.testing.assert_allclose(clf.means_, means, atol=1e-4)
    np.testing.assert_allclose(clf.covariances_, np.array(covariances), atol=1e-4)
    assert clf.n_iter_[0] > 1
    # The mixture log-likelihood of the classes, row by row.
    log_likelihood = sum(
        np.log(
            sum(
                weight * np.exp(_log_marginal(x, mean, covariance))
                for weight, mean, covariance in zip(
                    clf.class_weights_, clf.means_, clf.covariances_, strict=True
                )
            )
        )
        for x in Y
    )
    assert clf.log_likelihood_ == pytest.approx(log_likelihood, rel=1e-10)
    # Bayes' rule on the marginals of the observed entries.
    joint = np.array(
        [
            [
                np.log(prior) + _log_marginal(x, mean, covariance)
                for prior, mean, covariance in zip(
                    clf.priors_, clf.means_, clf.covariances_, strict=True
                )
            ]
            for x in Y
        ]
    )
    expected = np.exp(joint - np.logaddexp(joint[:, :1], joint[:, 1:]))
    np.testing.assert_allclose(clf.predict_proba(Y), expected, rtol=1e-9)


def test_without_nan_missing_em_is_the_ordinary_classifier():
    X, _, y = _classes()
    for options in ({"model_type": "edda"}, {"n_components": [1, 2], "covariance_types": "VVV"}):
        plain = MixtureDiscriminantAnalysis(**options).fit(X, y)
        em = MixtureDiscriminantAnalysis(**options, missing="em").fit(X, y)
        assert em.bic_ == plain.bic_
        np.testing.assert_array_equal(em.predict_proba(X), plain.predict_proba(X))


def test_mixture_type_selects_every_class_with_missing_values(tmp_path):
    _, Y, y = _classes(fraction=0.1)
    clf = MixtureDiscriminantAnalysis(
        n_components=[1, 2], covariance_types="VVV", missing="em"
    ).fit(Y, y)
    assert all(estimator.missing == "em" for estimator in clf.estimators_)
    class_densities = np.column_stack([e.score_samples(Y) for e in clf.estimators_])
    expected = np.sum(np.log(np.exp(class_densities) @ clf.class_weights_))
    assert clf.log_likelihood_ == pytest.approx(expected, rel=1e-12)
    # Each class's density of a row is its mixture's marginal, by scipy.
    estimator, x = clf.estimators_[0], Y[np.isnan(Y).any(axis=1)][0]
    covariances = estimator.covariances_
    marginal = np.log(
        sum(
            w * np.exp(_log_marginal(x, m, c))
            for w, m, c in zip(estimator.weights_, estimator.means_, covariances, strict=True)
        )
    )
    assert estimator.score_samples(x[None])[0] == pytest.approx(marginal, rel=1e-10)
    clf.save(tmp_path / "c.gmc")
    loaded = MixtureDiscriminantAnalysis.load(tmp_path / "c.gmc")
    assert loaded.missing == "em"
    np.testing.assert_allclose(loaded.predict_proba(Y), clf.predict_proba(Y), rtol=1e-12)


def test_edda_with_missing_values_round_trips_through_a_classifier_file(tmp_path):
    _, Y, y = _classes()
    clf = MixtureDiscriminantAnalysis(model_type="edda", covariance_type="EEE", missing="em")
    clf.fit(Y, y).save(tmp_path / "e.gmc")
    loaded = MixtureDiscriminantAnalysis.load(tmp_path / "e.gmc")
    np.testing.assert_allclose(loaded.predict_proba(Y), clf.predict_proba(Y), rtol=1e-12)


def test_nan_is_refused_without_missing_em_and_bad_values_are_named():
    _, Y, y = _classes()
    with pytest.raises(ValueError, match="NaN"):
        MixtureDiscriminantAnalysis(model_type="edda").fit(Y, y)
    with pytest.raises(InvalidParameterError, match="missing must be one of"):
        MixtureDiscriminantAnalysis(missing="drop").fit(Y, y)
    empty = Y.copy()
    empty[0] = np.nan
    with pytest.raises(InvalidInputError, match="at least one observed"):
        MixtureDiscriminantAnalysis(model_type="edda", missing="em").fit(empty, y)


@parametrize_with_checks([MixtureDiscriminantAnalysis(model_type="edda", missing="em")])
def test_edda_with_missing_em_passes_every_sklearn_check(estimator, check):
    check(estimator)
