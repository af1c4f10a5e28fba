"""The one compiled pass of small data (gaussmix.one_pass) against independent computations.

A start's compiled M-step is checked against the Python M-step; ICL's term Σ w log max_k γ
against log-densities from scipy.stats; select_model's whole table with the pass against
the table without it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GaussianMixture, fused, initialization, one_pass, select_model
from gaussmix import selection as selection_module
from gaussmix.covariance import get_covariance_model
from gaussmix.exceptions import CollapsedComponentError
from gaussmix.initialization import parameters_from_responsibilities

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba is not installed")

MODELS = ("EII", "VII", "EEI", "VVI", "EVI", "EEE", "EEV", "EVV", "VVV")
ITERATIVE = ("VEI", "VEE", "VEV", "EVE", "VVE")


def _data(seed: int = 0, n_samples: int = 150, n_features: int = 3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, n_features))
    labels = rng.integers(3, size=n_samples)
    X = centres[labels] + rng.normal(size=(n_samples, n_features)) @ rng.normal(
        size=(n_features, n_features)
    )
    return X, labels, rng


def _soft(labels, rng, n_components=3):
    gamma = rng.uniform(size=(labels.shape[0], n_components))
    gamma[np.arange(labels.shape[0]), labels] += 3.0
    return gamma / gamma.sum(axis=1, keepdims=True)


def _both_m_steps(code, seed, n_features, monkeypatch):
    """A start's parameters with the compiled first M-step offered, and without it (the
    Python M-step), and what the compiled M-step makes of the statistics it was offered."""
    X, labels, rng = _data(seed=seed, n_features=n_features)
    gamma = _soft(labels, rng)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    model = get_covariance_model(code)
    compiled = parameters_from_responsibilities(X, weights, gamma, model, 1e-6)
    calls, original = [], one_pass.first_m_step
    # Recorded, and refused (None): the Python M-step runs.
    monkeypatch.setattr(initialization.one_pass, "first_m_step", lambda *args: calls.append(args))
    reference = parameters_from_responsibilities(X, weights, gamma, model, 1e-6)
    assert len(calls) == 1  # the compiled M-step was offered the same statistics
    return compiled, reference, original(*calls[0])


@pytest.mark.parametrize("code", MODELS + ITERATIVE)
def test_first_m_step_equals_the_python_m_step(code, monkeypatch):
    compiled, reference, offered = _both_m_steps(code, 1, 4, monkeypatch)
    assert offered is not None
    # The iterative models' inner iterations stop on a tolerance: the same optimum.
    tolerance = 1e-12 if code in MODELS else 1e-8
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_allclose(
            getattr(compiled, name), getattr(reference, name), rtol=tolerance, atol=1e-13
        )


def test_a_start_that_does_not_factorise_raises_as_before():
    X, _, _ = _data(seed=5, n_features=2)
    gamma = np.zeros((X.shape[0], 2))
    gamma[0, 0] = 1.0  # one row: a zero covariance without regularisation
    gamma[1:, 1] = 1.0
    model = get_covariance_model("VVV")
    statistics = initialization._start_statistics(X, None, gamma, model)
    assert one_pass.first_m_step(statistics, model, 0.0) is None
    with pytest.raises(CollapsedComponentError, match="component 0"):
        parameters_from_responsibilities(X, None, gamma, model, 0.0)


def _log_map_sum_reference(X, weights, estimator):
    """Σ w log max_k γ from scipy.stats densities of the fitted estimator's dense parts."""
    covariances = estimator.covariances_
    K, D = estimator.means_.shape
    if estimator.covariance_type == "spherical":
        dense = [np.eye(D) * value for value in covariances]
    elif estimator.covariance_type == "diag":
        dense = [np.diag(row) for row in covariances]
    elif estimator.covariance_type == "tied":
        dense = [covariances] * K
    else:
        dense = list(covariances)
    log_prob = np.column_stack(
        [
            np.log(estimator.weights_[k])
            + multivariate_normal(estimator.means_[k], dense[k]).logpdf(X)
            for k in range(K)
        ]
    )
    log_map = log_prob.max(axis=1) - logsumexp(log_prob, axis=1)
    return float(np.sum((np.ones(X.shape[0]) if weights is None else weights) * log_map))


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "tied", "full"])
@pytest.mark.parametrize("weighted", [False, True])
def test_map_log_sum_equals_scipy(covariance_type, weighted):
    X, _, rng = _data(seed=2)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0]) if weighted else None
    estimator = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    estimator.fit(X, sample_weight=weights)

    parameters = estimator._fitted_parameters()
    value = one_pass.map_log_sum(X, weights, parameters)
    expected = _log_map_sum_reference(X, weights, estimator)
    assert value is not None and value < 0
    assert value == pytest.approx(expected, rel=1e-11, abs=1e-11)


def test_map_log_sum_leaves_other_data_to_the_executor():
    X, _, _ = _data(seed=3)
    estimator = GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    parameters = estimator._fitted_parameters()
    assert one_pass.map_log_sum(X.astype(np.float32), None, parameters) is None
    with_nan = X.copy()
    with_nan[4, 1] = np.nan
    assert one_pass.map_log_sum(with_nan, None, parameters) is None
    far = X.copy()
    far[0] = 1e200  # squares overflow: the executor's far-row repair decides
    assert one_pass.map_log_sum(far, None, parameters) is None


def test_select_model_table_is_the_one_without_the_pass(monkeypatch):
    X, _, rng = _data(seed=4, n_samples=120)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    arguments = dict(n_components=range(1, 4), covariance_types=["EII", "VVI", "EEE", "EVE", "VVV"])
    fast = select_model(X, sample_weight=weights, **arguments).results_
    monkeypatch.setattr(selection_module, "map_log_sum", lambda *args: None)
    monkeypatch.setattr(initialization.one_pass, "first_m_step", lambda *args: None)
    slow = select_model(X, sample_weight=weights, **arguments).results_
    for column in ("log_likelihood", "bic", "aic", "icl"):
        np.testing.assert_allclose(fast[column], slow[column], rtol=1e-10)
    assert list(fast["n_iter"]) == list(slow["n_iter"])


@pytest.mark.parametrize("code", MODELS + ITERATIVE)
def test_above_four_features_closed_forms_give_the_python_m_steps_bits(code, monkeypatch):
    compiled, reference, offered = _both_m_steps(code, 6, 6, monkeypatch)
    if code in ITERATIVE:
        # Their inner iterations agree to a tolerance only: the Python M-step runs.
        assert offered is None
        return
    assert offered is not None
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        assert getattr(compiled, name).tobytes() == getattr(reference, name).tobytes(), name


@pytest.mark.parametrize("form", ["spherical", "diagonal"])
def test_compiled_elementwise_factors_are_numpys_at_any_dimension(form):
    from gaussmix import _compiled_em
    from gaussmix.compiled_em import _LAYOUTS, state_parameters
    from gaussmix.covariance.forms import precision_cholesky_from_covariances

    rng = np.random.default_rng(9)
    variances = rng.uniform(0.1, 10.0, size=(3, 7))
    if form == "spherical":
        variances = variances[:, :1].repeat(7, axis=1)
    dense = np.stack([np.diag(row) for row in variances])
    factors = np.empty(3 if form == "spherical" else 21)
    assert _compiled_em.precision_factors(_LAYOUTS[form], dense, factors)
    compact = variances[:, 0] if form == "spherical" else variances
    parameters = state_parameters(np.full(3, 1 / 3), rng.normal(size=(3, 7)), dense, factors, form)
    expected = precision_cholesky_from_covariances(compact, form)
    assert parameters.precisions_cholesky.tobytes() == expected.tobytes()
