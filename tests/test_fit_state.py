"""What a fit leaves on the estimator: the settings it was fitted with, a complete model after
an interrupt, the state before it after a failure, and warm starts that cannot continue."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gaussmix
import gaussmix.fitting
from gaussmix import GaussianMixture
from gaussmix.backends.numpy import NumpyBackend, SmallDataBackend
from gaussmix.datasets import load_old_faithful
from gaussmix.em import EMInterrupted

FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "converged_",
    "n_iter_",
    "lower_bound_",
    "lower_bounds_",
    "log_likelihood_",
    "log_likelihood_history_",
    "n_features_in_",
)


@pytest.fixture(scope="module")
def faithful():
    return load_old_faithful(as_frame=True).frame


def _fitted_state(model) -> dict:
    return {name: value for name, value in vars(model).items() if name.endswith("_")}


def _assert_same_state(state: dict, model) -> None:
    assert sorted(_fitted_state(model)) == sorted(state)
    for name, value in state.items():
        np.testing.assert_array_equal(getattr(model, name), value, err_msg=name)


def _assert_same_fit(model, reference) -> None:
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(model, name), getattr(reference, name))
    assert model.n_iter_ == reference.n_iter_
    assert model.lower_bound_ == reference.lower_bound_


# ------------------------------------------------------------------ model files
@pytest.mark.parametrize(
    "change", [{"n_components": 2}, {"covariance_type": "diag"}, {"covariance_type": "VVV"}]
)
def test_a_model_changed_by_set_params_saves_what_was_fitted(tmp_path, faithful, change):
    model = GaussianMixture(3, random_state=0).fit(faithful)
    labels, density = model.predict(faithful), model.score_samples(faithful)
    bic = model.bic(faithful)
    model.set_params(**change)
    # The fitted attributes still describe the 3-component full model, and serve it.
    np.testing.assert_array_equal(model.predict(faithful), labels)
    assert model.bic(faithful) == bic
    loaded = gaussmix.load(model.save(tmp_path / "m.gmm"))
    assert loaded.get_params()["n_components"] == 3
    assert loaded.get_params()["covariance_type"] == "full"
    np.testing.assert_array_equal(loaded.predict(faithful), labels)
    np.testing.assert_array_equal(loaded.score_samples(faithful), density)
    assert list(loaded.feature_names_in_) == ["eruptions", "waiting"]
    # The next fit uses the new settings, and so does the file it saves.
    model.fit(faithful)
    resaved = gaussmix.load(model.save(tmp_path / "m.gmm"))
    for name, value in change.items():
        assert resaved.get_params()[name] == value


def test_a_loaded_model_saves_again_unchanged(tmp_path, faithful):
    model = GaussianMixture(2, covariance_type="tied", random_state=0).fit(faithful)
    loaded = gaussmix.load(model.save(tmp_path / "a.gmm"))
    loaded.set_params(covariance_type="spherical")
    again = gaussmix.load(loaded.save(tmp_path / "b.gmm"))
    np.testing.assert_array_equal(again.covariances_, model.covariances_)
    assert again.covariance_type == "tied"


# ------------------------------------------------------------------ warm starts
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"n_components": 3}, "n_components changed from 2 to 3"),
        ({"covariance_type": "diag"}, "covariance_type changed from 'full' to 'diag'"),
    ],
)
def test_a_warm_start_that_cannot_continue_warns_and_fits_afresh(
    tmp_path, faithful, change, reason
):
    model = GaussianMixture(2, warm_start=True, random_state=0).fit(faithful)
    model.set_params(**change)
    with pytest.warns(UserWarning, match=f"{reason}.*previous fit was not used") as caught:
        model.fit(faithful)
    assert caught[0].filename == __file__  # points at the caller's fit
    fresh = GaussianMixture(**{**model.get_params(), "warm_start": False}).fit(faithful)
    _assert_same_fit(model, fresh)
    assert gaussmix.load(model.save(tmp_path / "m.gmm")).n_components == model.n_components


def test_a_warm_start_on_other_features_warns_and_fits_afresh(faithful):
    X = faithful.to_numpy()
    wider = np.column_stack([X, X[:, 0] + np.random.default_rng(0).normal(size=len(X))])
    model = GaussianMixture(2, warm_start=True, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="X has 3 features where the previous fit had 2"):
        model.fit(wider)
    _assert_same_fit(model, GaussianMixture(2, random_state=0).fit(wider))
    assert model.n_features_in_ == 3


def test_a_warm_start_with_the_same_settings_continues_silently(faithful):
    settings = {"n_components": 2, "random_state": 0, "tol": 0.0}
    model = GaussianMixture(**settings, warm_start=True, max_iter=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(faithful)
        model.set_params(max_iter=3).fit(faithful)  # changes nothing that shapes the model
    assert not [w for w in caught if "warm_start" in str(w.message)]
    # Two iterations, then three more from where they ended: five from the same start.
    with pytest.warns(UserWarning):
        reference = GaussianMixture(**settings, max_iter=5).fit(faithful)
    np.testing.assert_array_equal(model.means_, reference.means_)
    np.testing.assert_array_equal(model.covariances_, reference.covariances_)
    assert model.n_iter_ == 3


# ------------------------------------------------------------------ interrupts
def _interrupt_at(iteration: int, error: type[BaseException] = KeyboardInterrupt):
    def callback(info):
        if info.iteration == iteration:
            raise error("stopped by the callback")

    return callback


def test_an_interrupt_keeps_a_complete_model(tmp_path, faithful):
    model = GaussianMixture(3, random_state=0, tol=0.0, callback=_interrupt_at(3))
    with pytest.raises(EMInterrupted):
        model.fit(faithful)
    assert all(hasattr(model, name) for name in FITTED)
    assert model.n_features_in_ == 2
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    assert model.converged_ is False and model.n_iter_ == 3
    # A callback keeps the reference's EM loop in Python too, as the interrupted one's
    # (small data otherwise run the compiled loop, equal to rounding only).
    reference = GaussianMixture(3, random_state=0, tol=0.0, max_iter=3, callback=lambda i: None)
    with pytest.warns(UserWarning):
        reference.fit(faithful)
    np.testing.assert_array_equal(model.means_, reference.means_)
    assert model.log_likelihood_ == reference.log_likelihood_
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # feature names are known: no warning on a DataFrame
        np.testing.assert_array_equal(model.predict(faithful), reference.predict(faithful))
    model.callback = None
    loaded = gaussmix.load(model.save(tmp_path / "m.gmm"))
    assert list(loaded.feature_names_in_) == ["eruptions", "waiting"]
    assert loaded.converged_ is False


def test_an_interrupt_before_any_complete_iteration_undoes_the_fit(faithful, monkeypatch):
    previous = GaussianMixture(2, random_state=0).fit(faithful.to_numpy()[:, :1])
    state = _fitted_state(previous)
    calls = []

    def interrupting(statistics):
        def first_e_step_interrupted(backend, parameters, kind):
            calls.append(1)
            if len(calls) == 1:  # later E-steps (there must be none) would work
                raise KeyboardInterrupt
            return statistics(backend, parameters, kind)

        return first_e_step_interrupted

    # Both executors: small data such as these take the small-data one.
    for executor in (NumpyBackend, SmallDataBackend):
        monkeypatch.setattr(executor, "statistics", interrupting(executor.statistics))
    for model in (previous, GaussianMixture(2, random_state=0)):
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            model.fit(faithful)
        assert len(calls) == 1
    monkeypatch.undo()
    _assert_same_state(state, previous)
    assert _fitted_state(model) == {}


def test_an_interrupt_between_starts_keeps_the_finished_start(faithful, monkeypatch):
    calls = []
    draw = gaussmix.fitting.draw_start

    def interrupted_second_draw(*arguments):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # in the k-means of the second start, outside EM
        return draw(*arguments)

    monkeypatch.setattr(gaussmix.fitting, "draw_start", interrupted_second_draw)
    model = GaussianMixture(2, n_init=3, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(faithful)
    monkeypatch.setattr(gaussmix.fitting, "draw_start", draw)
    first = GaussianMixture(2, n_init=1, random_state=0).fit(faithful)
    np.testing.assert_array_equal(model.means_, first.means_)
    assert model.converged_ is False and list(model.feature_names_in_) == ["eruptions", "waiting"]


@pytest.mark.parametrize("fitted_before", [False, True])
def test_an_error_from_the_callback_leaves_the_state_before_the_fit(faithful, fitted_before):
    model = GaussianMixture(2, random_state=0)
    if fitted_before:
        model.fit(faithful.to_numpy()[:, :1])
    state = _fitted_state(model)
    model.set_params(callback=_interrupt_at(2, RuntimeError))
    with pytest.raises(RuntimeError, match="stopped by the callback"):
        model.fit(faithful)
    _assert_same_state(state, model)
