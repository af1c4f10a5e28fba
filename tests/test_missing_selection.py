"""select_model(missing="em"): every cell a missing-value fit, checked cell by cell.

References: GaussianMixture(missing="em") started from the same responsibilities (the
hierarchical tree cut on the mean-imputed rows, built here), and the observed-data
log-likelihood summed row by row with scipy.stats marginals.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score

from gaussmix import GaussianMixture, select_model
from gaussmix.exceptions import InvalidInputError, InvalidParameterError
from gaussmix.hierarchical import build_tree

MODELS = ["EII", "VII", "EEE", "VVV"]
NUMBERS = ["log_likelihood", "n_parameters", "bic", "aic", "icl", "n_iter"]


def _faithful():
    return np.loadtxt(files("gaussmix") / "data/faithful.csv", delimiter=",", skiprows=1)


def _with_holes(X, fraction=0.1, seed=0):
    rng = np.random.default_rng(seed)
    holes = rng.random(X.shape) < fraction
    holes[np.all(holes, axis=1), 0] = False
    Y = X.copy()
    Y[holes] = np.nan
    return Y


def _column_mean_filled(Y):
    """NaN replaced by the column mean of the observed entries (written here)."""
    means = np.array([np.mean(column[~np.isnan(column)]) for column in Y.T])
    return np.where(np.isnan(Y), means, Y)


def _observed_log_likelihood(Y, weights, means, covariances):
    """Σ_n log Σ_k π_k N(y_o | μ_ko, Σ_k,oo), one row at a time."""
    total = 0.0
    for y in Y:
        o = ~np.isnan(y)
        densities = [
            weight * stats.multivariate_normal(mean[o], covariance[np.ix_(o, o)]).pdf(y[o])
            for weight, mean, covariance in zip(weights, means, covariances, strict=True)
        ]
        total += np.log(np.sum(densities))
    return total


def test_without_nan_the_table_is_the_one_of_missing_error():
    X = _faithful()
    plain = select_model(X, range(1, 4), MODELS)
    em = select_model(X, range(1, 4), MODELS, missing="em")
    np.testing.assert_allclose(
        em.results_[NUMBERS].to_numpy(float), plain.results_[NUMBERS].to_numpy(float), rtol=1e-12
    )
    assert list(em.results_["start"]) == list(plain.results_["start"])
    assert em.best_params_ == plain.best_params_
    assert em.best_estimator_.missing == "em" and plain.best_estimator_.missing == "error"


def test_every_cell_is_the_missing_value_fit_from_the_shared_start():
    Y = _with_holes(_faithful()[::2], fraction=0.1)
    selection = select_model(Y, range(1, 4), MODELS, missing="em", nested_starts=False)
    tree = build_tree(_column_mean_filled(Y), None)
    n = Y.shape[0]
    for row in selection.results_.itertuples():
        reference = GaussianMixture(
            row.n_components,
            covariance_type=row.covariance_type,
            responsibilities_init=tree.responsibilities(n, row.n_components),
            tol=1e-5,
            convergence="relative",
            reg_covar=0.0,
            max_iter=1000,
            missing="em",
        ).fit(Y)
        assert row.error == ""
        np.testing.assert_allclose(row.log_likelihood, reference.score(Y) * n, rtol=1e-10)
        expected_bic = -2 * row.log_likelihood + row.n_parameters * np.log(n)
        np.testing.assert_allclose(row.bic, expected_bic, rtol=1e-12)
    best = selection.best_estimator_
    assert best.covariance_type == "VVV"  # covariances_ of shape (K, D, D)
    chosen = selection.results_.loc[selection._best_row()]
    log_likelihood = _observed_log_likelihood(Y, best.weights_, best.means_, best.covariances_)
    np.testing.assert_allclose(log_likelihood, chosen.log_likelihood, rtol=1e-9)
    np.testing.assert_array_equal(selection.labels_, best.predict(Y))


def test_ten_percent_mcar_keeps_the_simulated_model():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 2.0], [0.0, 5.0, -2.0]])
    truth = np.repeat(np.arange(3), 80)
    X = centres[truth] + rng.standard_normal((240, 3))
    Y = _with_holes(X, fraction=0.1, seed=4)
    selection = select_model(Y, range(1, 6), ["EII", "VII", "EEE", "VVV"], missing="em")
    assert selection.best_params_["n_components"] == 3
    assert selection.best_estimator_.missing == "em"
    assert adjusted_rand_score(truth, selection.labels_) > 0.9
    # Nested starts keep every cell at least as likely as its own start's fit.
    alone = select_model(
        Y, range(1, 6), ["EII", "VII", "EEE", "VVV"], missing="em", nested_starts=False
    )
    gained = selection.results_["log_likelihood"] - alone.results_["log_likelihood"]
    assert np.all(gained.to_numpy() > -1e-6)


def test_bad_missing_values_are_refused_with_the_fix():
    Y = _with_holes(_faithful()[:60])
    with pytest.raises(InvalidParameterError, match="missing must be one of"):
        select_model(Y, 2, "EII", missing="yes")
    with pytest.raises(InvalidInputError, match="NaN"):
        select_model(Y, 2, "EII")
    with pytest.raises(InvalidInputError, match="does not combine with noise"):
        select_model(Y, 2, "EII", missing="em", noise=True)
    empty = Y.copy()
    empty[0] = np.nan
    with pytest.raises(InvalidInputError, match="at least one observed"):
        select_model(empty, 2, "EII", missing="em")
