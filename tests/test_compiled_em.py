"""The compiled EM loop of small float64 data against the Python loop it replaces.

The Python loop (``em.run_em`` iterating ``backend.statistics`` and ``mstep.maximize`` /
the collapse policy) is the independent implementation: it is reached with the same
executor behind a plain proxy, which :func:`gaussmix.compiled_em.compiled_loop` does not
accept, so both loops see the same E-step and differ only in the M-step, the precision
factors and the bookkeeping.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture, compiled_em, compiling, fused
from gaussmix.backends.numpy import NumpyBackend, SmallDataBackend
from gaussmix.collapse import ComponentReseeder
from gaussmix.covariance import get_covariance_model
from gaussmix.em import EMInterrupted, run_em
from gaussmix.exceptions import CollapsedComponentError
from gaussmix.initialization import parameters_from_responsibilities

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba is not installed")

CLOSED_FORM = ("EII", "VII", "EEI", "VVI", "EVI", "EEE", "EEV", "EVV", "VVV")
ITERATIVE = ("VEI", "VEE", "VEV", "EVE", "VVE")
COMPILED = CLOSED_FORM + ITERATIVE
N_SAMPLES = 180


class PythonLoop:
    """The same executor, hidden from compiled_loop: run_em keeps every iteration in Python."""

    def __init__(self, backend):
        self.backend = backend

    def statistics(self, parameters, kind):
        return self.backend.statistics(parameters, kind)

    def map_rows(self, function):
        return self.backend.map_rows(function)


def _mixture_data(n_components: int, n_features: int, seed: int):
    """Rows of a K-component mixture with correlated shapes, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(n_components, n_features))
    shapes = rng.normal(scale=0.7, size=(n_components, n_features, n_features))
    labels = rng.integers(n_components, size=N_SAMPLES)
    noise = rng.normal(size=(N_SAMPLES, n_features))
    X = centres[labels] + np.einsum("nd,nde->ne", noise, shapes[labels]) + 0.3 * noise
    return X, labels


def _start(X, weights, labels, n_components, model, seed, reg_covar):
    """One M-step from responsibilities near the labels (a start the fits share)."""
    rng = np.random.default_rng(seed)
    responsibilities = 0.5 * np.eye(n_components)[labels] + 0.5 * rng.dirichlet(
        np.ones(n_components), size=X.shape[0]
    )
    return parameters_from_responsibilities(X, weights, responsibilities, model, reg_covar)


def _weights(n_samples: int) -> np.ndarray:
    weights = np.random.default_rng(11).uniform(0.2, 2.0, n_samples)
    weights[::9] = 0.0
    return weights


def _fit_both(backend, start, model, **options):
    """run_em through the compiled loop and through the Python loop, each with a reseeder."""
    results = []
    for executor in (backend, PythonLoop(backend)):
        reseeder = ComponentReseeder(backend, backend.X, backend.sample_weight, 20)
        results.append(run_em(executor, start, model, reseeder=reseeder, **options))
    return results


def _relative_gap(computed, expected) -> float:
    computed, expected = np.asarray(computed), np.asarray(expected)
    scale = max(float(np.max(np.abs(expected))), 1e-300)
    return float(np.max(np.abs(computed - expected))) / scale


def assert_same_run(compiled, python, tolerance=1e-12):
    assert compiled.n_iter == python.n_iter
    assert compiled.converged == python.converged
    assert compiled.parameters.form == python.parameters.form
    for field in ("weights", "means", "covariances", "precisions_cholesky"):
        computed = getattr(compiled.parameters, field)
        expected = getattr(python.parameters, field)
        assert computed.shape == expected.shape, field
        # The factors U = L⁻ᵀ carry the covariances' rounding times their condition number
        # (EVV at D = 5: 5e-12 for covariances equal to 1e-13).
        limit = 100 * tolerance if field == "precisions_cholesky" else tolerance
        assert _relative_gap(computed, expected) <= limit, (field, computed, expected)
    bounds = np.array(compiled.lower_bounds)
    expected_bounds = np.array(python.lower_bounds)
    scale = max(1.0, float(np.max(np.abs(expected_bounds), initial=0.0)))
    np.testing.assert_allclose(bounds, expected_bounds, rtol=0, atol=tolerance * scale)
    assert compiled.lower_bound == pytest.approx(python.lower_bound, rel=tolerance, abs=0)
    assert [(r.iteration, r.component, r.reason) for r in compiled.reseeds] == [
        (r.iteration, r.component, r.reason) for r in python.reseeds
    ]


def assert_same_optimum(compiled, python):
    """The two loops of an iterative model reach the same fit, to EM's own precision.

    Their inner Newton iterations stop at a step of 1e-10 (covariance/iterative.py), so
    inputs that differ in the last bits may stop them one step apart, and EM carries that
    on: EVE's and VVE's loops then end 1e-9 apart in the mean log-likelihood, possibly one
    iteration apart, and ~1e-8 apart in their parameters, which EM's tolerance determines
    only to about its square root. A wrong M-step moves them by 1e-3 and more.
    """
    assert abs(compiled.n_iter - python.n_iter) <= 2
    assert compiled.converged == python.converged
    assert compiled.lower_bound == pytest.approx(python.lower_bound, rel=1e-8, abs=0)
    for field in ("weights", "means", "covariances"):
        computed = getattr(compiled.parameters, field)
        expected = getattr(python.parameters, field)
        assert _relative_gap(computed, expected) <= 1e-5, (field, computed, expected)
    assert compiled.reseeds == python.reseeds == ()


def test_the_compiled_loop_is_chosen_by_value():
    X, labels = _mixture_data(2, 2, seed=0)
    model = get_covariance_model("VVV")
    start = _start(X, None, labels, 2, model, 0, 1e-6)
    small = SmallDataBackend(X, None, 1000)
    assert compiled_em.compiled_loop(small, model, start) is not None
    assert set(compiled_em.compiled_models()) == set(COMPILED)
    # Not compiled: another executor, the array kernels, float32 data or weights, a
    # callback, a model variant whose settings the compiled M-step does not have.
    assert compiled_em.compiled_loop(PythonLoop(small), model, start) is None
    assert compiled_em.compiled_loop(NumpyBackend(X, None, 16), model, start) is None
    assert compiled_em.compiled_loop(SmallDataBackend(X, None, 1000, False), model, start) is None
    float32 = SmallDataBackend(X.astype(np.float32), None, 1000)
    assert compiled_em.compiled_loop(float32, model, start) is None
    weights32 = SmallDataBackend(X, np.ones(X.shape[0], np.float32), 1000)
    assert compiled_em.compiled_loop(weights32, model, start) is None
    assert compiled_em.compiled_loop(small, model, start, callback=print) is None
    for name in ITERATIVE:
        model = get_covariance_model(name)
        assert compiled_em.compiled_loop(small, model, start) is not None
        variant = dataclasses.replace(model, tol=1e-3)
        assert compiled_em.compiled_loop(small, variant, start) is None


@pytest.mark.parametrize("convergence", ["absolute", "relative"])
@pytest.mark.parametrize("name", COMPILED)
def test_the_compiled_loop_equals_the_python_loop(name, convergence):
    model = get_covariance_model(name)
    tol = 1e-9 if convergence == "absolute" else 1e-11
    for n_features in (1, 2, 5):
        for n_components in (1, 2, 3, 4):
            X, labels = _mixture_data(n_components, n_features, seed=n_components + n_features)
            for weights in (None, _weights(N_SAMPLES)):
                start = _start(X, weights, labels, n_components, model, 1, 1e-6)
                backend = SmallDataBackend(X, weights, 1000)
                compiled, python = _fit_both(
                    backend,
                    start,
                    model,
                    reg_covar=1e-6,
                    tol=tol,
                    max_iter=150,
                    convergence=convergence,
                )
                # Up to D = 4 the compiled Cholesky repeats LAPACK's operation order (the
                # loops then agree to the last bit here); at D = 5 it differs in the last
                # bits, which an ill-conditioned EVV component (condition number 1e5)
                # carries into its covariances at 1.3e-12.
                if name in ITERATIVE:
                    assert_same_optimum(compiled, python)
                else:
                    assert_same_run(compiled, python, 1e-12 if n_features <= 4 else 1e-11)
                # EM never lowers the likelihood (rounding aside: at convergence the
                # eigen-decompositions of EEV move it by ~1e-12 relative).
                steps = np.diff(compiled.lower_bounds)
                assert np.all(steps >= -1e-11 * np.abs(compiled.lower_bounds[1:])), steps.min()


@pytest.mark.parametrize("name", ["VVV", "EEE", "EVI", "VII"])
def test_warm_starts_offsets_and_iteration_budgets_equal_the_python_loop(name):
    model = get_covariance_model(name)
    X, labels = _mixture_data(3, 2, seed=4)
    start = _start(X, None, labels, 3, model, 2, 0.0)
    backend = SmallDataBackend(X, None, 1000)
    options = dict(reg_covar=0.0, tol=1e-6, convergence="relative")
    for max_iter in (1, 2, 7):
        compiled, python = _fit_both(backend, start, model, max_iter=max_iter, **options)
        assert compiled.n_iter == max_iter
        assert_same_run(compiled, python)
    # A warm start measures the first change from the previous bound; the offset of
    # rescaled data moves the level the relative rule divides by.
    first, _ = _fit_both(backend, start, model, max_iter=1000, **options)
    assert first.converged
    for offset in (0.0, 1e3):
        compiled, python = _fit_both(
            backend,
            first.parameters,
            model,
            max_iter=50,
            lower_bound=first.lower_bound,
            log_likelihood_offset=offset,
            **options,
        )
        assert compiled.n_iter <= 2
        assert_same_run(compiled, python)


def test_no_iteration_returns_the_start_itself():
    model = get_covariance_model("VVV")
    X, labels = _mixture_data(2, 2, seed=5)
    start = _start(X, None, labels, 2, model, 3, 1e-6)
    result = run_em(
        SmallDataBackend(X, None, 1000), start, model, reg_covar=1e-6, tol=1e-3, max_iter=0
    )
    assert result.parameters is start
    assert (result.n_iter, result.converged, result.lower_bounds) == (0, False, ())
    assert result.lower_bound == -np.inf


def _collapsing_data():
    """A blob and five copies of a row on its edge; labels give that corner to component 1."""
    rng = np.random.default_rng(21)
    X = np.vstack([rng.normal(size=(150, 2)), np.tile([[2.0, 2.0]], (5, 1))])
    labels = ((X[:, 0] > 1.0) & (X[:, 1] > 1.0)).astype(int)
    return X, labels


def test_a_collapse_hands_the_iteration_to_the_python_loop_and_back(monkeypatch):
    model = get_covariance_model("VVV")
    X, labels = _collapsing_data()
    start = parameters_from_responsibilities(X, None, np.eye(2)[labels], model, 0.0)
    backend = SmallDataBackend(X, None, 1000)
    runs = []
    original_run = compiled_em.CompiledLoop.run

    def recording_run(self, parameters, *arguments, **options):
        run = original_run(self, parameters, *arguments, **options)
        runs.append((len(run.lower_bounds), run.takeover))
        return run

    monkeypatch.setattr(compiled_em.CompiledLoop, "run", recording_run)
    # Component 1 shrinks onto the duplicated row until its covariance fails to factorise
    # (iteration 9), and is re-seeded by the collapse policy. Later collapses of this run
    # are borderline: whether LAPACK factorises a covariance that close to singular
    # depends on its last bits, which differ between any two ways of summing the rows.
    options = dict(reg_covar=0.0, tol=1e-10, max_iter=12)
    compiled, python = _fit_both(backend, start, model, **options)
    assert [(event.iteration, event.component) for event in python.reseeds] == [(9, 1)]
    assert_same_run(compiled, python)
    # Compiled up to the collapse, the re-seeding iteration in Python, compiled again.
    assert runs == [(8, True), (3, False)]
    # Without a collapse policy both loops raise the same error at the same iteration.
    errors = []
    for executor in (backend, PythonLoop(backend)):
        with pytest.raises(CollapsedComponentError) as raised:
            run_em(executor, start, model, **options)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]


def test_an_emptied_component_is_reseeded_by_the_python_loop():
    model = get_covariance_model("VVI")
    X, labels = _mixture_data(2, 2, seed=6)
    start = parameters_from_responsibilities(X, None, np.eye(2)[labels], model, 1e-6)
    start = type(start)(
        weights=np.array([0.5, 0.5 - 1e-30, 1e-30]),
        means=np.vstack([start.means, [[-500.0, -500.0]]]),
        covariances=np.vstack([start.covariances, [[1.0, 1.0]]]),
        precisions_cholesky=np.vstack([start.precisions_cholesky, [[1.0, 1.0]]]),
        form=start.form,
    )
    compiled, python = _fit_both(
        SmallDataBackend(X, None, 1000), start, model, reg_covar=1e-6, tol=1e-8, max_iter=100
    )
    assert [(r.iteration, r.reason) for r in python.reseeds] == [(1, "emptied")]
    assert_same_run(compiled, python)


def test_ctrl_c_between_compiled_calls_keeps_the_complete_iterations(monkeypatch):
    model = get_covariance_model("EEV")
    X, labels = _mixture_data(3, 2, seed=7)
    start = _start(X, None, labels, 3, model, 4, 1e-6)
    backend = SmallDataBackend(X, None, 1000)
    # Three iterations per compiled call; the second call is interrupted before it runs.
    monkeypatch.setattr(compiled_em, "_WORK_PER_CALL", 3 * X.shape[0] * 3 * 2)
    calls = []
    original = compiling.call

    def interrupt_second(dispatcher, *arguments):
        calls.append(dispatcher)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(dispatcher, *arguments)

    monkeypatch.setattr(compiling, "call", interrupt_second)
    options = dict(reg_covar=1e-6, tol=0.0)
    with pytest.raises(EMInterrupted) as interrupted:
        run_em(backend, start, model, max_iter=100, **options)
    monkeypatch.setattr(compiling, "call", original)
    reached = interrupted.value.result
    assert reached.n_iter == 3 and not reached.converged
    python = run_em(PythonLoop(backend), start, model, max_iter=3, **options)
    assert_same_run(reached, python)


@pytest.mark.parametrize("name", ["VVV", "diag", "EEE", "EII"])
def test_fits_equal_the_python_loop_that_a_callback_keeps(name):
    X, _ = _mixture_data(3, 2, seed=8)
    settings = dict(covariance_type=name, random_state=0, max_iter=60, tol=1e-8)
    compiled = GaussianMixture(3, **settings).fit(X)
    python = GaussianMixture(3, callback=lambda info: None, **settings).fit(X)
    for field in ("weights_", "means_", "covariances_", "lower_bounds_"):
        assert _relative_gap(getattr(compiled, field), getattr(python, field)) <= 1e-12, field
    assert compiled.n_iter_ == python.n_iter_
    with pytest.warns(ConvergenceWarning):
        GaussianMixture(3, **{**settings, "max_iter": 2}).fit(X)
