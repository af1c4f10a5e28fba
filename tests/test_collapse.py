"""The collapse policy: re-seed collapsing components, discard hopeless starts, name the failure."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

from gaussmix import (
    CollapsedComponentError,
    CollapsedComponentWarning,
    GaussianMixture,
)
from gaussmix.backends.numpy import NumpyBackend
from gaussmix.collapse import EMPTY_FRACTION, ComponentReseeder, empty_components
from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.forms import precision_cholesky_from_covariances
from gaussmix.em import run_em
from gaussmix.mstep import maximize
from gaussmix.parameters import MixtureParameters


def mixture(weights, means, covariances, form="full") -> MixtureParameters:
    covariances = np.asarray(covariances, dtype=float)
    return MixtureParameters(
        weights=np.asarray(weights, dtype=float),
        means=np.asarray(means, dtype=float),
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, form),
        form=form,
    )


@pytest.fixture(scope="module")
def two_blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + np.array([6.0, 0.0])])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_the_reseeder_changes_nothing_on_ordinary_data(two_blobs, covariance_type):
    # Parity with scikit-learn rests on this: without a collapse, the M-step is untouched.
    model = get_covariance_model(covariance_type)
    start = GaussianMixture(2, covariance_type=covariance_type, max_iter=1, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(two_blobs)
    parameters = start._fitted_parameters()
    backend = NumpyBackend(two_blobs, None, 37)
    plain = run_em(backend, parameters, model, reg_covar=1e-6, tol=0.0, max_iter=20)
    guarded = run_em(
        backend,
        parameters,
        model,
        reg_covar=1e-6,
        tol=0.0,
        max_iter=20,
        reseeder=ComponentReseeder(backend, two_blobs, None, max_reseeds=10),
    )
    assert guarded.reseeds == ()
    assert guarded.lower_bounds == plain.lower_bounds
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        assert np.array_equal(getattr(guarded.parameters, name), getattr(plain.parameters, name))


def test_an_emptied_component_moves_to_the_worst_explained_row(two_blobs):
    X = np.vstack([two_blobs, [[3.0, 9.0]]])
    # Component 2 sits far from every row with a negligible weight: it owns nothing.
    parameters = mixture(
        [0.5, 0.5 - 1e-30, 1e-30],
        [[0.0, 0.0], [6.0, 0.0], [-500.0, -500.0]],
        [np.eye(2), 2.0 * np.eye(2), np.eye(2)],
    )
    backend = NumpyBackend(X, None, 16)
    statistics = backend.statistics(parameters, "full")
    assert statistics.n_k[2] < EMPTY_FRACTION
    reseeder = ComponentReseeder(backend, X, None, max_reseeds=5)
    new, events = reseeder.maximize(
        statistics, parameters, get_covariance_model("full"), 1e-3, iteration=4
    )

    # Worst-explained row found independently with scipy's densities.
    density = sum(
        weight * multivariate_normal(mean, covariance).pdf(X)
        for weight, mean, covariance in zip(
            parameters.weights, parameters.means, parameters.covariances, strict=True
        )
    )
    worst = int(np.argmin(density))
    assert worst == X.shape[0] - 1
    assert [(event.component, event.iteration, event.reason) for event in events] == [
        (2, 4, "emptied")
    ]
    np.testing.assert_array_equal(new.means[2], X[worst])
    pooled = 0.5 * np.eye(2) + 0.5 * 2.0 * np.eye(2)
    np.testing.assert_allclose(new.covariances[2], pooled + 1e-3 * np.eye(2), rtol=1e-12)
    # The seed row's weight is lent to the new component on top of the N rows it
    # already counts in, so the new weight is 1 / (N + 1).
    assert new.weights[2] == pytest.approx(1.0 / (X.shape[0] + 1), rel=1e-12)
    assert np.all(np.isfinite(new.precisions_cholesky))


def test_a_component_on_a_single_point_is_reseeded_at_reg_covar_zero():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(30, 2)), [[40.0, 40.0]]])
    # Component 1 explains only the outlier: its scatter is zero, its covariance singular.
    parameters = mixture([0.9, 0.1], [[0.0, 0.0], [40.0, 40.0]], [np.eye(2), 1e-4 * np.eye(2)])
    backend = NumpyBackend(X, None, 8)
    statistics = backend.statistics(parameters, "full")
    with pytest.raises(CollapsedComponentError):
        maximize(statistics, get_covariance_model("full"), 0.0)
    reseeder = ComponentReseeder(backend, X, None, max_reseeds=5)
    new, events = reseeder.maximize(statistics, parameters, get_covariance_model("full"), 0.0, 1)
    assert [(event.component, event.reason) for event in events] == [
        (1, "covariance not positive definite")
    ]
    assert events[0].n_k == pytest.approx(1.0)
    assert np.all(np.linalg.eigvalsh(new.covariances) > 0)


def test_a_singular_tied_covariance_cannot_be_reseeded():
    X = np.column_stack([np.arange(10.0), np.full(10, 2.0)])
    with pytest.raises(CollapsedComponentError) as raised:
        GaussianMixture(2, covariance_type="tied", reg_covar=0.0, random_state=0).fit(X)
    assert raised.value.component is None


def test_a_start_needing_too_many_reseeds_is_given_up(two_blobs):
    parameters = mixture(
        [0.5, 0.5 - 1e-30, 1e-30],
        [[0.0, 0.0], [6.0, 0.0], [-500.0, -500.0]],
        [np.eye(2), np.eye(2), np.eye(2)],
    )
    backend = NumpyBackend(two_blobs, None, 16)
    reseeder = ComponentReseeder(backend, two_blobs, None, max_reseeds=0)
    with pytest.raises(CollapsedComponentError, match="more than 0 re-seeds") as raised:
        reseeder.maximize(
            backend.statistics(parameters, "full"),
            parameters,
            get_covariance_model("full"),
            1e-6,
            iteration=1,
        )
    assert raised.value.component == 2


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_identical_rows_fit_with_a_warning_and_no_zero_weight(covariance_type):
    X = np.tile([[1.5, -2.0, 0.25]], (12, 1))
    with pytest.warns(CollapsedComponentWarning, match="re-seeded at the worst-explained rows"):
        model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert np.all(model.weights_ > 1e-3)
    np.testing.assert_allclose(model.means_, np.tile(X[:1], (3, 1)), rtol=1e-12)
    assert np.all(np.isfinite(model.precisions_cholesky_))


def test_when_nothing_can_be_fitted_the_error_names_component_n_k_and_remedies():
    X = np.tile([[1.0, 2.0]], (8, 1))
    with pytest.raises(CollapsedComponentError) as raised:
        GaussianMixture(2, reg_covar=0.0, n_init=2, random_state=0).fit(X)
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.component is not None and error.n_k is not None
    message = str(error)
    assert f"component {error.component}" in message
    assert "all 2 start(s)" in message
    for remedy in ("raise reg_covar", "fewer components", "standardise the features"):
        assert remedy in message


def test_a_failing_start_is_discarded_with_a_warning_when_another_succeeds(two_blobs):
    failing_start = 0

    def collapse_in_first_start(info):
        if info.init == failing_start and info.iteration == 1:
            raise CollapsedComponentError("component 1 collapsed (test)", component=1, n_k=0.0)

    model = GaussianMixture(2, n_init=3, random_state=0, callback=collapse_in_first_start)
    with pytest.warns(CollapsedComponentWarning, match="1 of 3 start"):
        model.fit(two_blobs)
    reference = GaussianMixture(2, n_init=3, random_state=0).fit(two_blobs)
    np.testing.assert_allclose(np.sort(model.means_[:, 0]), np.sort(reference.means_[:, 0]))


def test_a_component_left_empty_without_iterations_is_reported():
    # k-means leaves a cluster empty on two distinct points; with max_iter=0 no M-step
    # can re-seed it, so the fit says so.
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 5, axis=0)
    with pytest.warns(CollapsedComponentWarning, match="own almost none"):
        model = GaussianMixture(3, max_iter=0, random_state=0).fit(X)
    assert empty_components(np.array([10.0, 0.0, 5.0]), None).tolist() == [1]
    assert np.all(np.isfinite(model.means_))


def test_a_failed_refit_leaves_the_previous_fit_untouched(two_blobs):
    model = GaussianMixture(2, random_state=0).fit(two_blobs)
    means = model.means_.copy()
    model.set_params(reg_covar=0.0)
    with pytest.raises(CollapsedComponentError):
        model.fit(np.tile([[1.0, 2.0]], (8, 1)))
    assert np.array_equal(model.means_, means)
