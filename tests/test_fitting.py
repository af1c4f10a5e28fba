"""The fitting engine as a pure function, and select_model's lean path through it."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, datasets, select_model
from gaussmix.arrays import FitData
from gaussmix.covariance import get_covariance_model
from gaussmix.exceptions import CollapsedComponentWarning
from gaussmix.fitting import (
    FitSettings,
    GivenStart,
    WarmStart,
    fit_mixture,
    fit_warnings,
)
from gaussmix.hierarchical import build_tree

FAITHFUL = datasets.load_old_faithful().data
IRIS = datasets.load_iris().data


def _relative_gap(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _settings(covariance_type: str, n_components: int, **options) -> FitSettings:
    return FitSettings(n_components, get_covariance_model(covariance_type), **options)


def _assert_same_as_estimator(result, estimator) -> None:
    parameters = estimator._fitted_parameters()
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        gap = _relative_gap(getattr(result.parameters, name), getattr(parameters, name))
        assert gap <= 1e-12, name
    assert result.n_iter == estimator.n_iter_
    assert result.converged == estimator.converged_
    assert result.log_likelihood == pytest.approx(estimator.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(result.lower_bounds, estimator.lower_bounds_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied", "VEV", "EVE"])
def test_fit_mixture_gives_the_estimators_fit(covariance_type):
    weights = np.random.default_rng(1).uniform(0.5, 2.0, FAITHFUL.shape[0])
    result = fit_mixture(
        FitData(FAITHFUL, weights),
        _settings(covariance_type, 3, n_init=2),
        random_state=np.random.RandomState(0),
    )
    estimator = GaussianMixture(3, covariance_type=covariance_type, n_init=2, random_state=0)
    _assert_same_as_estimator(result, estimator.fit(FAITHFUL, sample_weight=weights))


def test_fit_mixture_is_pure():
    X = FAITHFUL.copy()
    settings = _settings("VVV", 2)
    first = fit_mixture(FitData(X, None), settings, random_state=np.random.RandomState(3))
    second = fit_mixture(FitData(X, None), settings, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(X, FAITHFUL)  # the data are not touched
    np.testing.assert_array_equal(first.parameters.means, second.parameters.means)
    assert first.lower_bounds == second.lower_bounds
    with pytest.raises(AttributeError):
        first.n_iter = 0  # a frozen value


def test_fit_mixture_rescales_extreme_data_exactly():
    # The engine fits X·2^300 as X·2^-307 (scaling.py): the same mixture scaled by 2^300
    # up to the rounding of a different arithmetic path, and the log-likelihood shifted by
    # the log of the Jacobian.
    settings = _settings("VVV", 2, reg_covar=0.0)
    plain = fit_mixture(FitData(FAITHFUL, None), settings, random_state=np.random.RandomState(0))
    huge = fit_mixture(
        FitData(np.ldexp(FAITHFUL, 300), None), settings, random_state=np.random.RandomState(0)
    )
    assert _relative_gap(huge.parameters.means, np.ldexp(plain.parameters.means, 300)) < 1e-12
    assert (
        _relative_gap(huge.parameters.covariances, np.ldexp(plain.parameters.covariances, 600))
        < 1e-12
    )
    jacobian = -2 * 300 * math.log(2.0)
    assert huge.log_likelihood == pytest.approx(plain.log_likelihood + jacobian, rel=1e-12)


def test_a_warm_start_continues_from_the_given_parameters():
    settings = _settings("full", 2, max_iter=3)
    first = fit_mixture(FitData(FAITHFUL, None), settings, random_state=np.random.RandomState(0))
    warm = WarmStart(first.parameters, first.lower_bound)
    continued = fit_mixture(FitData(FAITHFUL, None), settings, warm=warm)
    estimator = GaussianMixture(2, max_iter=3, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(FAITHFUL).fit(FAITHFUL)
    assert continued.n_init == 1
    _assert_same_as_estimator(continued, estimator)


def test_the_engine_warns_about_nothing_and_says_what_the_estimator_warns_about():
    settings = _settings("full", 3, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning from the engine fails the test
        result = fit_mixture(
            FitData(FAITHFUL, None), settings, random_state=np.random.RandomState(0)
        )
    found = fit_warnings(result, settings)
    assert [type(warning) for warning in found] == [ConvergenceWarning]
    assert "did not converge in max_iter = 2" in str(found[0])
    with pytest.warns(ConvergenceWarning) as caught:
        GaussianMixture(3, max_iter=2, random_state=0).fit(FAITHFUL)
    assert [str(warning.message) for warning in caught] == [str(found[0])]
    assert caught[0].filename == __file__  # points at the caller's fit


def test_an_interrupt_is_returned_once_an_iteration_is_complete():
    def interrupt_at_the_third(info):
        if info.iteration == 3:
            raise KeyboardInterrupt

    settings = _settings("full", 2)
    data = FitData(FAITHFUL, None)
    result = fit_mixture(
        data, settings, random_state=np.random.RandomState(0), progress=interrupt_at_the_third
    )
    assert isinstance(result.interrupt, KeyboardInterrupt)
    assert result.converged is False and result.n_iter == 3
    assert fit_warnings(result, settings) == ()  # no ConvergenceWarning after Ctrl-C

    def interrupt_at_once(info):
        raise KeyboardInterrupt

    # An interrupt inside the first iteration's callback: the iteration is complete.
    assert fit_mixture(data, settings, progress=interrupt_at_once).n_iter == 1


def test_given_responsibilities_replace_the_draw():
    start = build_tree(FAITHFUL, None).responsibilities(FAITHFUL.shape[0], 3)
    settings = _settings("EEE", 3, given=GivenStart(responsibilities=start))
    # No random numbers are drawn: any generator gives the same fit.
    first = fit_mixture(FitData(FAITHFUL, None), settings, random_state=np.random.RandomState(0))
    other = fit_mixture(FitData(FAITHFUL, None), settings, random_state=np.random.RandomState(9))
    np.testing.assert_array_equal(first.parameters.means, other.parameters.means)
    estimator = GaussianMixture(3, covariance_type="EEE", responsibilities_init=start)
    _assert_same_as_estimator(first, estimator.fit(FAITHFUL))


# ------------------------------------------------------------ select_model's lean path
_SELECT_OPTIONS = {"tol": 1e-5, "convergence": "relative", "reg_covar": 0.0, "max_iter": 1000}


def test_select_model_gives_the_table_of_fitting_each_cell_with_the_estimator():
    pytest.importorskip("pandas")
    codes, counts = ["EII", "VVI", "EEE", "VEV", "VVV"], [1, 2, 3, 4]
    table = select_model(
        FAITHFUL, n_components=counts, covariance_types=codes, n_jobs=1, nested_starts=False
    )
    table = table.results_.set_index(["covariance_type", "n_components"])
    tree = build_tree(FAITHFUL, None)
    n = FAITHFUL.shape[0]
    for count in counts:
        start = tree.responsibilities(n, count)
        for code in codes:
            row = table.loc[(code, count)]
            assert row["error"] == "", (code, count)
            estimator = GaussianMixture(
                count, covariance_type=code, responsibilities_init=start, **_SELECT_OPTIONS
            ).fit(FAITHFUL)
            assert row["log_likelihood"] == pytest.approx(estimator.log_likelihood_ * n, rel=1e-12)
            assert row["bic"] == pytest.approx(estimator.bic(FAITHFUL), rel=1e-12)
            assert row["aic"] == pytest.approx(estimator.aic(FAITHFUL), rel=1e-12)
            assert row["icl"] == pytest.approx(estimator.icl(FAITHFUL), rel=1e-12)
            assert row["n_iter"] == estimator.n_iter_
            assert row["converged"] == estimator.converged_
            assert row["reseeds"] == 0


def test_select_models_best_estimator_is_a_fitted_clonable_mixture():
    pytest.importorskip("pandas")
    from sklearn.base import clone

    selection = select_model(FAITHFUL, n_components=[3], covariance_types=["EEE"], n_jobs=1)
    best = selection.best_estimator_
    assert best.get_params()["responsibilities_init"] is None
    assert best.get_params()["init_params"] == "hierarchical"
    assert len(repr(best)) < 200
    assert best.n_features_in_ == 2 and best.n_samples_fit_ == FAITHFUL.shape[0]
    np.testing.assert_array_equal(selection.labels_, best.predict(FAITHFUL))
    refit = clone(best).fit(FAITHFUL)
    assert _relative_gap(refit.means_, best.means_) <= 1e-12


def test_select_model_records_reseeds_and_warns_only_about_the_selected_fit():
    pytest.importorskip("pandas")
    # On iris, VEE with G = 5 re-seeds a collapsing component from the hierarchical start;
    # the estimator fitting that cell alone says so.
    start = build_tree(IRIS, None).responsibilities(IRIS.shape[0], 5)
    cell = GaussianMixture(5, covariance_type="VEE", responsibilities_init=start, **_SELECT_OPTIONS)
    with pytest.warns(CollapsedComponentWarning, match="1 collapsing component"):
        cell.fit(IRIS)
    # Among other fits that win, the re-seed is recorded and nothing is warned.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        selection = select_model(IRIS, n_components=[2, 5], covariance_types=["VEV", "VEE"])
    table = selection.results_.set_index(["covariance_type", "n_components"])
    assert selection.best_params_ == {"covariance_type": "VEV", "n_components": 2}
    assert table.loc[("VEE", 5), "reseeds"] == 1
    assert table["reseeds"].drop(("VEE", 5)).eq(0).all()
    # When it is the selected fit, one warning names it.
    with pytest.warns(CollapsedComponentWarning) as caught:
        select_model(IRIS, n_components=[5], covariance_types=["VEE"])
    assert len(caught) == 1
    assert "in VEE with G = 5 1 collapsing component(s) were re-seeded" in str(caught[0].message)
    assert caught[0].filename == __file__
