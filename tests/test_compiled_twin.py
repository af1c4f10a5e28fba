"""The compiled twin of the iterative models (compiled_msteps.CompiledIterativeModel) against
the Python models: same optimum cold and warm, the monotone guard, the Python model's
errors where the compiled M-step fails, and where a fit chooses it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from gaussmix import CollapsedComponentError, compiled_msteps
from gaussmix.backends.numpy import NumpyBackend, SmallDataBackend
from gaussmix.compiled_em import compiled_loop
from gaussmix.compiled_msteps import (
    COMPILED_MODELS,
    CompiledIterativeModel,
    compiled_model,
    python_model,
)
from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.iterative import VVE
from gaussmix.mstep import maximize
from gaussmix.statistics import SufficientStatistics

# The compiled M-steps' measured agreement with the Python models (test_compiled_msteps.py).
AGREEMENT = 1e-12
TIE_AGREEMENT = 1e-9
N_K_FLOOR = 10.0 * np.finfo(np.float64).eps


def statistics(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n_k and full scatter of random well-conditioned components: K = 1..4, D = 1..5."""
    rng = np.random.default_rng(seed)
    count, d = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    n_k = rng.uniform(2.0, 40.0, size=count) + N_K_FLOOR
    scatter = np.empty((count, d, d))
    for k in range(count):
        rows = rng.normal(size=(d + 5, d)) * rng.uniform(0.5, 2.0, d)
        scatter[k] = n_k[k] * (rows.T @ rows) / (d + 5)
    return n_k, scatter


def reduced(model, scatter: np.ndarray) -> np.ndarray:
    """The scatter in the model's kind: VEI's diagonals, the others' matrices."""
    return np.einsum("kii->ki", scatter) if model.scatter == "diagonal" else scatter


def objective(n_k, scatter, covariances) -> float:
    """F = Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹), written with a loop (slogdet, solve)."""
    total = 0.0
    for k in range(n_k.shape[0]):
        sigma = np.diag(covariances[k]) if covariances.ndim == 2 else covariances[k]
        w = np.diag(scatter[k]) if scatter.ndim == 2 else scatter[k]
        sign, log_det = np.linalg.slogdet(sigma)
        assert sign > 0
        total += n_k[k] * log_det + np.trace(np.linalg.solve(sigma, w))
    return total


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("code", COMPILED_MODELS)
def test_twin_reaches_the_python_models_optimum_cold_and_warm(code):
    model = get_covariance_model(code)
    twin = CompiledIterativeModel(model)
    for seed in range(8):
        n_k, scatter = statistics(seed)
        d = scatter.shape[-1]
        kind = reduced(model, scatter)
        reg_covar = 1e-6 if seed % 2 else 0.0
        cold = model.estimate(n_k, kind, reg_covar, d)
        ours = twin.estimate(n_k, kind, reg_covar, d)
        assert ours.shape == cold.shape
        assert relative_difference(ours, cold) <= AGREEMENT
        # Warm from a nearby solution (the previous M-step's) and from the solution itself.
        moved = model.estimate(n_k, kind * 1.1 + 0.05 * np.abs(kind).max(), reg_covar, d)
        for previous, tolerance in ((moved, AGREEMENT), (cold, TIE_AGREEMENT)):
            warm = model.estimate(n_k, kind, reg_covar, d, previous=previous)
            ours = twin.estimate(n_k, kind, reg_covar, d, previous=previous)
            assert relative_difference(ours, warm) <= tolerance


@pytest.mark.parametrize("code", COMPILED_MODELS)
def test_twin_never_ends_above_a_feasible_previous(code):
    model = get_covariance_model(code)
    twin = CompiledIterativeModel(model)
    for seed in range(6):
        n_k, scatter = statistics(seed)
        d = scatter.shape[-1]
        kind = reduced(model, scatter)
        # A feasible previous solution: the model's own optimum for other statistics.
        rng = np.random.default_rng(seed + 50)
        moves = np.eye(d) + 0.3 * rng.normal(size=(n_k.size, d, d))
        other = reduced(model, moves @ scatter @ np.swapaxes(moves, 1, 2))
        previous = model.estimate(n_k, other, 0.0, d)
        ours = twin.estimate(n_k, kind, 0.0, d, previous=previous)
        before = objective(n_k, kind, previous)
        assert objective(n_k, kind, ours) <= before + 1e-12 * abs(before)


@pytest.mark.parametrize("code", COMPILED_MODELS)
def test_twin_raises_the_python_models_error(code):
    model = get_covariance_model(code)
    rng = np.random.default_rng(3)
    regular = rng.normal(size=(40, 4))
    regular = (regular - regular.mean(axis=0)).T @ (regular - regular.mean(axis=0))
    if code in ("EVE", "VVE"):
        points = rng.normal(size=(4, 4))  # rank three: singular to rounding
        degenerate = (points - points.mean(axis=0)).T @ (points - points.mean(axis=0))
    else:
        degenerate = np.zeros((4, 4))  # a component that owns nothing
    n_k, scatter = np.array([40.0, 4.0]), np.stack([regular, degenerate])
    with pytest.raises(CollapsedComponentError) as python_error:
        model.estimate(n_k, reduced(model, scatter), 0.0, 4)
    with pytest.raises(CollapsedComponentError) as twin_error:
        CompiledIterativeModel(model).estimate(n_k, reduced(model, scatter), 0.0, 4)
    assert str(twin_error.value) == str(python_error.value)


def test_twin_runs_the_python_model_on_a_nonzero_status(monkeypatch):
    model = VVE()
    n_k, scatter = statistics(2)
    d = scatter.shape[-1]
    previous = model.estimate(n_k, scatter * 1.2, 0.0, d)
    calls = []

    def failing(code, *arguments):
        calls.append(code)
        return 2, np.full_like(scatter, np.nan)  # the compiled M-step's HAND_OVER

    monkeypatch.setattr(compiled_msteps, "compiled_estimate", failing)
    ours = CompiledIterativeModel(model).estimate(n_k, scatter, 0.0, d, previous=previous)
    assert calls == ["VVE"]
    np.testing.assert_array_equal(ours, model.estimate(n_k, scatter, 0.0, d, previous=previous))


def test_twin_is_the_model_in_every_public_respect():
    for code in COMPILED_MODELS:
        model = get_covariance_model(code)
        twin = CompiledIterativeModel(model)
        assert python_model(twin) is model
        assert python_model(model) is model
        for attribute in ("name", "aliases", "form", "scatter", "orientation"):
            assert getattr(twin, attribute) == getattr(model, attribute)
        assert twin.n_parameters(4, 3) == model.n_parameters(4, 3)
    with pytest.raises(ValueError, match="default settings"):
        CompiledIterativeModel(VVE(tol=1e-6))
    with pytest.raises(ValueError, match="iterative models"):
        CompiledIterativeModel(get_covariance_model("VVV"))


def test_a_fit_chooses_the_twin_where_the_compiled_loop_runs():
    rows = np.random.default_rng(0).normal(size=(60, 3))
    small = SmallDataBackend(rows, None, 64, use_fused=True)
    vve = get_covariance_model("VVE")
    twin = compiled_model(vve, small)
    assert isinstance(twin, CompiledIterativeModel) and python_model(twin) is vve
    # Not for closed forms, variants, float32 data, the array kernels or chunked data.
    assert compiled_model(get_covariance_model("VVV"), small).name == "VVV"
    assert type(compiled_model(get_covariance_model("VVV"), small)) is not CompiledIterativeModel
    assert compiled_model(VVE(max_iter=5), small) == VVE(max_iter=5)
    single = SmallDataBackend(rows.astype(np.float32), None, 64, use_fused=True)
    assert compiled_model(vve, single) is vve
    assert compiled_model(vve, SmallDataBackend(rows, None, 64, use_fused=False)) is vve
    assert compiled_model(vve, NumpyBackend(rows, None, 16)) is vve
    # The compiled loop runs the Python model's code for the twin.
    start = maximize(
        SufficientStatistics.zeros(np.zeros((2, 3)), "full")
        + _two_clusters_statistics(rows, "full"),
        vve,
        0.0,
    )
    loop = compiled_loop(small, twin, start)
    assert loop is not None and loop.model is vve


def _two_clusters_statistics(rows: np.ndarray, kind: str) -> SufficientStatistics:
    from gaussmix.kernels import accumulate_statistics

    responsibilities = np.zeros((rows.shape[0], 2))
    responsibilities[np.arange(rows.shape[0]), (rows[:, 0] > 0).astype(int)] = 1.0
    return accumulate_statistics(rows, responsibilities, None, np.zeros((2, 3)), kind)
