"""The compiled M-steps of VEI, VEE, VEV, EVE and VVE against the Python models (the
reference), the monotone guard, a BFGS optimum and the failure status where Python raises."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import linalg

pytest.importorskip("numba")

from gaussmix import CollapsedComponentError
from gaussmix.compiled_msteps import (
    COMPILED_MODELS,
    compiled_estimate,
    compiled_mstep,
)
from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.forms import dense_covariances

# Compiled and Python paths take the same steps in a different arithmetic order. On
# well-conditioned statistics they agree to 4e-15 (relative to the largest entry), cold or
# warm-started from a nearby E-step's solution.
AGREEMENT = 1e-12
# Started at the solution itself, the guard compares F(previous) and F(new), equal to
# rounding: either may be kept, and the two differ by the inner iteration's stopping error
# (at worst 7e-11 measured, VVE).
TIE_AGREEMENT = 1e-9
# On ill-conditioned ones (condition numbers up to 1e7, components of half a point) the
# objective is flat to its rounding level along some directions, where both iterations stop
# at points of equal F: F agrees to 1e-14 relative, the covariances to at worst 1.1e-6
# (VEE; the Python model's own cold and warm solutions differ by 2.6e-7 there).
ILL_OBJECTIVE = 1e-11
ILL_AGREEMENT = 1e-5
# mstep.maximize adds this to every n_k before the model sees it.
N_K_FLOOR = 10.0 * np.finfo(np.float64).eps


def _test_models():
    """tests/covariance/test_models.py (its BFGS optimum and objective), imported once."""
    module = sys.modules.get("test_models")
    if module is None:
        path = Path(__file__).parent / "covariance" / "test_models.py"
        spec = importlib.util.spec_from_file_location("test_models", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["test_models"] = module
        spec.loader.exec_module(module)
    return module


def statistics(seed: int, conditioning: str) -> tuple[np.ndarray, np.ndarray]:
    """n_k and full scatter of a random mixture: K = 1..5, D = 1..6, unequal n_k (some
    below one point); ``"ill"`` spreads the feature scales over three decades (condition
    numbers up to 1e7)."""
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 6))
    d = int(rng.integers(1, 7))
    n_k = rng.uniform(0.3, 40.0, size=count)
    n_k[rng.integers(count)] = rng.uniform(0.05, 1.5)
    spread = 1.5 if conditioning == "ill" else 0.3
    scatter = np.empty((count, d, d))
    for k in range(count):
        rows = rng.normal(size=(d + 4, d)) * 10.0 ** rng.uniform(-spread, spread, d)
        rows = rows @ linalg.qr(rng.normal(size=(d, d)))[0]
        scatter[k] = n_k[k] * (rows.T @ rows) / (d + 4)
    return n_k + N_K_FLOOR, scatter


def python_dense(code, n_k, scatter, reg_covar=0.0, previous=None) -> np.ndarray:
    """The Python model's dense covariances, warm-started from dense ``previous``."""
    model = get_covariance_model(code)
    d = scatter.shape[-1]
    reduced = np.einsum("kii->ki", scatter) if model.scatter == "diagonal" else scatter
    options = {}
    if previous is not None:
        diagonal = model.form == "diagonal"
        options["previous"] = np.einsum("kii->ki", previous) if diagonal else previous
    compact = model.estimate(n_k, reduced, reg_covar, d, **options)
    return dense_covariances(compact, model.form, n_k.shape[0], d)


def compiled_dense(code, n_k, scatter, reg_covar=0.0, previous=None) -> np.ndarray:
    status, covariances = compiled_estimate(code, n_k, scatter, reg_covar, previous)
    assert status == 0
    return covariances


def objective(n_k, scatter, covariances) -> float:
    """F = Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹), written with loops (slogdet, inv)."""
    return _test_models().objective(n_k, scatter, covariances)


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def perturbed(scatter: np.ndarray, seed: int, size: float = 0.05) -> np.ndarray:
    """Statistics of a nearby E-step: each W_k congruent to a slightly moved one."""
    rng = np.random.default_rng(seed)
    d = scatter.shape[-1]
    moves = np.eye(d) + size * rng.normal(size=(scatter.shape[0], d, d))
    return moves @ scatter @ np.swapaxes(moves, 1, 2)


def _assert_same(ours, reference, n_k, scatter, conditioning, tolerance=AGREEMENT) -> float:
    difference = relative_difference(ours, reference)
    if conditioning == "well":
        assert difference <= tolerance
    else:
        value, expected = objective(n_k, scatter, ours), objective(n_k, scatter, reference)
        assert abs(value - expected) <= ILL_OBJECTIVE * abs(expected)
        assert difference <= ILL_AGREEMENT
    return difference


@pytest.mark.parametrize("code", COMPILED_MODELS)
@pytest.mark.parametrize("conditioning", ["well", "ill"])
def test_cold_and_warm_m_steps_equal_the_python_model(code, conditioning):
    for seed in range(12):
        n_k, scatter = statistics(seed, conditioning)
        reg_covar = 1e-6 if seed % 3 == 0 else 0.0
        lifted = scatter + (reg_covar * n_k)[:, None, None] * np.eye(scatter.shape[-1])
        cold = python_dense(code, n_k, scatter, reg_covar)
        ours = compiled_dense(code, n_k, scatter, reg_covar)
        _assert_same(ours, cold, n_k, lifted, conditioning)
        # Warm: the previous M-step's solution for a nearby E-step's statistics, and the
        # solution itself (the iteration must stay there, as Python's does).
        nearby = python_dense(code, n_k, perturbed(scatter, seed), reg_covar)
        for previous, tolerance in ((nearby, AGREEMENT), (cold, TIE_AGREEMENT)):
            warm = python_dense(code, n_k, scatter, reg_covar, previous)
            ours_warm = compiled_dense(code, n_k, scatter, reg_covar, previous)
            _assert_same(ours_warm, warm, n_k, lifted, conditioning, tolerance)


@pytest.mark.parametrize("code", COMPILED_MODELS)
def test_never_ends_above_a_feasible_previous(code):
    # The monotone guard: F(new) ≤ F(previous) for feasible previous solutions, far and near.
    for seed, conditioning in [(seed, "well") for seed in range(6)] + [(7, "ill")]:
        n_k, scatter = statistics(seed, conditioning)
        for size in (0.3, 1e-3):
            previous = python_dense(code, n_k, perturbed(scatter, seed + 1, size))
            ours = compiled_dense(code, n_k, scatter, 0.0, previous)
            value, before = objective(n_k, scatter, ours), objective(n_k, scatter, previous)
            assert value <= before + 1e-12 * abs(before)


@pytest.mark.parametrize("code", COMPILED_MODELS)
def test_infeasible_previous_is_a_start_only(code):
    # Unconstrained covariances (VVV's, better than any constrained fit) are never returned.
    n_k, scatter = statistics(4, "well")
    unconstrained = scatter / n_k[:, None, None]
    if code == "VEI":
        unconstrained = np.einsum("kii->ki", unconstrained)[:, :, None] * np.eye(scatter.shape[-1])
    ours = compiled_dense(code, n_k, scatter, 0.0, unconstrained)
    assert relative_difference(ours, unconstrained) > 1e-3
    # The same start as the Python model's (EVE and VVE have local optima: not the cold one).
    warm = python_dense(code, n_k, scatter, 0.0, unconstrained)
    assert relative_difference(ours, warm) <= AGREEMENT


@pytest.mark.parametrize("code", COMPILED_MODELS)
@pytest.mark.parametrize("seed", [0, 1])
def test_m_step_equals_the_bfgs_optimum(code, seed):
    # tests/covariance/test_models.py's BFGS optimum and tolerances.
    models = _test_models()
    n_k, scatter = models.random_statistics(seed)
    reference = models.optimum(code, seed)
    for previous in (None, python_dense(code, n_k, perturbed(scatter, seed, 0.3))):
        ours = compiled_dense(code, n_k, scatter, 0.0, previous)
        assert objective(n_k, scatter, ours) <= objective(n_k, scatter, reference) + 1e-9
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6 * np.abs(ours).max())


def _collapsing_statistics(code: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    regular = rng.normal(size=(40, 4))
    regular = (regular - regular.mean(axis=0)).T @ (regular - regular.mean(axis=0))
    if code in ("EVE", "VVE"):
        # Four points in four dimensions: rank three, singular to rounding.
        points = rng.normal(size=(4, 4))
        centred = points - points.mean(axis=0)
        degenerate = centred.T @ centred
    else:
        degenerate = np.zeros((4, 4))  # a component that owns nothing
    return np.array([40.0, 4.0]), np.stack([regular, degenerate])


@pytest.mark.parametrize("code", COMPILED_MODELS)
def test_nonzero_status_where_the_python_model_raises(code):
    n_k, scatter = _collapsing_statistics(code)
    with pytest.raises(CollapsedComponentError):
        python_dense(code, n_k, scatter)
    status, _ = compiled_estimate(code, n_k, scatter, 0.0)
    assert status != 0
    # Non-finite statistics are handed over to the Python model.
    broken = scatter.copy()
    broken[0, 1, 1] = np.nan
    assert compiled_estimate(code, n_k, broken, 0.0)[0] != 0
    # reg_covar lifts the component out of the singular set, on both paths.
    lifted = compiled_dense(code, n_k, scatter, 1e-3)
    assert relative_difference(lifted, python_dense(code, n_k, scatter, 1e-3)) <= AGREEMENT


def test_unknown_code_names_the_compiled_models():
    with pytest.raises(ValueError, match="VEI, VEE, VEV, EVE, VVE"):
        compiled_mstep("VVV")
