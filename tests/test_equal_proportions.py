"""Equal mixing proportions: π_k = 1/G exactly, the usual M-step with the true n_k, the
likelihood never decreasing, parameter counts, model files and select_model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gaussmix import GaussianMixture, select_model
from gaussmix.covariance import MCLUST_MODELS, get_covariance_model
from gaussmix.exceptions import InvalidParameterError
from gaussmix.initialization import parameters_from_responsibilities
from gaussmix.mstep import MStepRule
from gaussmix.noise import free_parameters


def data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack(
        [
            rng.normal([0.0, 0.0], [1.0, 0.5], size=(40, 2)),
            rng.normal([5.0, 1.0], [0.5, 1.0], size=(15, 2)),
            rng.normal([1.0, 6.0], [0.8, 0.8], size=(25, 2)),
        ]
    )


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_m_step_keeps_the_true_n_k_for_means_and_covariances(code):
    """The weights do not enter the means' and covariances' objective, so with π fixed they
    are the unconstrained M-step's (mclust 6 overwrites n_k for VVI, VEE, EVE, VVE, EVV)."""
    X = data()
    responsibilities = np.random.default_rng(1).dirichlet([1.0, 3.0, 0.5], size=X.shape[0])
    model = get_covariance_model(code)
    free = parameters_from_responsibilities(X, None, responsibilities, model, 1e-6)
    fixed = parameters_from_responsibilities(
        X, None, responsibilities, model, 1e-6, MStepRule(model, 1e-6, equal_proportions=True)
    )
    assert np.array_equal(fixed.weights, np.full(3, 1.0 / 3.0))
    np.testing.assert_allclose(fixed.means, free.means, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fixed.covariances, free.covariances, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("code", ["VVV", "VVI", "EVE", "VEE", "EII"])
def test_em_keeps_proportions_exact_and_never_decreases_the_likelihood(code):
    X = data(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = GaussianMixture(
            3,
            covariance_type=code,
            equal_proportions=True,
            random_state=0,
            tol=1e-8,
            max_iter=60,
        ).fit(X)
    assert np.array_equal(estimator.weights_, np.full(3, 1.0 / 3.0))
    history = estimator.log_likelihood_history_
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history[1:]))


def test_brute_force_maximum_over_means_with_fixed_weights():
    """One M-step's means maximise Σ γ log(π N) with π = 1/G, checked by perturbing them."""
    X = data(3)
    responsibilities = np.random.default_rng(4).dirichlet(np.ones(3), size=X.shape[0])
    model = get_covariance_model("VVV")
    rule = MStepRule(model, 0.0, equal_proportions=True)
    fitted = parameters_from_responsibilities(X, None, responsibilities, model, 0.0, rule)

    def objective(means):
        total = 0.0
        for k in range(3):
            inverse = np.linalg.inv(fitted.covariances[k])
            diff = X - means[k]
            total += np.sum(
                responsibilities[:, k] * -0.5 * np.einsum("ni,ij,nj->n", diff, inverse, diff)
            )
        return total

    best = objective(fitted.means)
    rng = np.random.default_rng(5)
    for _ in range(20):
        assert objective(fitted.means + rng.normal(scale=1e-3, size=(3, 2))) <= best


@pytest.mark.parametrize("code", MCLUST_MODELS)
@pytest.mark.parametrize("equal_proportions", [False, True])
@pytest.mark.parametrize("noise", [False, True])
def test_parameter_counts_follow_mclust(code, equal_proportions, noise):
    """mclust's nMclustParams: covariance + G·D + (G − 1 unless equal) + 2 with noise."""
    model = get_covariance_model(code)
    G, D = 3, 4
    expected = model.n_parameters(G, D) + G * D + (0 if equal_proportions else G - 1)
    expected += 2 if noise else 0
    assert (
        free_parameters(model, G, D, equal_proportions=equal_proportions, noise=noise) == expected
    )


def test_noise_only_counts_one_parameter():
    assert free_parameters(get_covariance_model("VVV"), 0, 3, noise=True) == 1


def test_estimator_bic_uses_the_reduced_count():
    X = data(6)
    free = GaussianMixture(3, random_state=0).fit(X)
    fixed = GaussianMixture(3, random_state=0, equal_proportions=True).fit(X)
    assert fixed._n_parameters() == free._n_parameters() - 2
    n = X.shape[0]
    assert np.isclose(fixed.bic(X), -2 * fixed.score(X) * n + fixed._n_parameters() * np.log(n))


def test_model_file_round_trip(tmp_path):
    X = data(7)
    fitted = GaussianMixture(3, equal_proportions=True, prior="default", random_state=0).fit(X)
    fitted.save(tmp_path / "model.gmm")
    loaded = GaussianMixture.load(tmp_path / "model.gmm")
    assert loaded.equal_proportions is True and loaded.prior == "default"
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded._n_parameters() == fitted._n_parameters()


def test_select_model_counts_and_fixes_proportions():
    X = data(8)
    selection = select_model(
        X, n_components=[2, 3], covariance_types=["VVV"], equal_proportions=True
    )
    table = selection.results_
    model = get_covariance_model("VVV")
    for _, row in table.iterrows():
        G = int(row["n_components"])
        assert row["n_parameters"] == model.n_parameters(G, 2) + 2 * G
    assert np.allclose(
        selection.best_estimator_.weights_, 1.0 / selection.best_params_["n_components"]
    )


def test_equal_proportions_must_be_a_boolean():
    with pytest.raises(InvalidParameterError, match="equal_proportions"):
        GaussianMixture(2, equal_proportions="yes").fit(data())
