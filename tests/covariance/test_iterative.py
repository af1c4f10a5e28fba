"""The inner iterations of VEI, VEE, EVE, VVE, VEV: warm starts, the Newton orientation solver
against its plane-rotation fallback and a brute-force optimum, the monotone guard, singular
scatter."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import linalg
from test_models import (
    N_FEATURES,
    fitted_dense,
    objective,
    optimum,
    random_statistics,
    reduce_scatter,
)

from gaussmix import CollapsedComponentError
from gaussmix.covariance import (
    get_covariance_model,
    iterative,
    newton,
    orientation,
    volumes,
    warm_start,
)
from gaussmix.covariance.forms import dense_covariances
from gaussmix.mstep import maximize
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

ITERATIVE = ("VEI", "VEE", "EVE", "VVE", "VEV")
SHARED_ORIENTATION = ("EVE", "VVE")


def estimate(code: str, n_k, scatter, previous=None, model=None) -> np.ndarray:
    """Dense covariances of one M-step, warm-started from dense ``previous`` when given."""
    model = model or get_covariance_model(code)
    compact_previous = None
    if previous is not None:
        compact_previous = previous
        if model.form == "diagonal":
            compact_previous = np.diagonal(previous, axis1=1, axis2=2).copy()
    compact = model.estimate(
        n_k,
        reduce_scatter(scatter, model.scatter),
        0.0,
        N_FEATURES,
        **({} if compact_previous is None else {"previous": compact_previous}),
    )
    return dense_covariances(compact, model.form, n_k.shape[0], N_FEATURES)


def warm_start_for(code: str, seed: int) -> np.ndarray:
    """A feasible previous solution far from this seed's optimum: another seed's optimum."""
    n_k, scatter = random_statistics(seed + 10)
    return fitted_dense(code, n_k, scatter)


def fallback_only(monkeypatch) -> None:
    """Make every Newton step fail, so that only the fallback steps move: plane rotations of
    the orientation (EVE, VVE), Celeux & Govaert's fixed point (VEI, VEE, VEV)."""
    monkeypatch.setattr(newton, "newton_step", lambda gradient, hessian: None)


def maximize_floor() -> float:
    """The tiny amount mstep.maximize adds to every n_k."""
    return 10.0 * np.finfo(np.float64).eps


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("code", ITERATIVE)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("start", ["cold", "warm"])
def test_m_step_equals_brute_force_cold_or_warm(code, seed, start):
    # The tolerances of test_models.test_m_step_equals_brute_force_constrained_maximum.
    n_k, scatter = random_statistics(seed)
    previous = warm_start_for(code, seed) if start == "warm" else None
    ours = estimate(code, n_k, scatter, previous)
    reference = optimum(code, seed)
    assert objective(n_k, scatter, ours) <= objective(n_k, scatter, reference) + 1e-9
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6 * np.abs(ours).max())


@pytest.mark.parametrize("code", ITERATIVE)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_warm_and_cold_m_steps_agree_to_1e_8(code, seed):
    n_k, scatter = random_statistics(seed)
    cold = estimate(code, n_k, scatter)
    warm = estimate(code, n_k, scatter, warm_start_for(code, seed))
    # Started at the answer itself, the iteration must stay there.
    again = estimate(code, n_k, scatter, cold)
    assert relative_difference(warm, cold) <= 1e-8
    assert relative_difference(again, cold) <= 1e-8


@pytest.mark.parametrize("code", ITERATIVE)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("start", ["cold", "warm"])
def test_fallback_steps_alone_reach_the_brute_force_optimum(code, seed, start, monkeypatch):
    # The fallback of the Newton iteration is a complete (linearly convergent) solver.
    n_k, scatter = random_statistics(seed)
    previous = warm_start_for(code, seed) if start == "warm" else None
    newton_result = estimate(code, n_k, scatter, previous)
    fallback_only(monkeypatch)
    fallback = estimate(code, n_k, scatter, previous)
    reference = optimum(code, seed)
    assert objective(n_k, scatter, fallback) <= objective(n_k, scatter, reference) + 1e-9
    np.testing.assert_allclose(fallback, reference, rtol=1e-6, atol=1e-6 * np.abs(reference).max())
    assert relative_difference(fallback, newton_result) <= 1e-8


def profiled_value(code: str, n_k: np.ndarray, scatter: np.ndarray, axes: np.ndarray) -> float:
    diagonals = np.einsum("ji,kjl,li->ki", axes, scatter, axes)
    if code == "VVE":
        return float(np.sum(n_k[:, None] * np.log(diagonals)))
    terms = np.exp(np.mean(np.log(diagonals), axis=1))
    return float(n_k.sum() * scatter.shape[-1] * np.log(terms.sum()))


@pytest.mark.parametrize("code", SHARED_ORIENTATION)
def test_newton_derivatives_match_finite_differences(code):
    # g(D expm(S(θ))) by central differences, written independently of the module.
    rng = np.random.default_rng(7)
    n_features, n_components = 4, 3
    rows = rng.normal(size=(n_components, n_features, 12))
    scatter = rows @ np.swapaxes(rows, 1, 2)
    n_k = np.array([5.0, 8.0, 11.0])
    axes = linalg.qr(rng.normal(size=(n_features, n_features)))[0]
    pairs = list(zip(*np.triu_indices(n_features, 1), strict=True))

    def value(angles: np.ndarray) -> float:
        skew = np.zeros((n_features, n_features))
        for angle, (a, b) in zip(angles, pairs, strict=True):
            skew[a, b], skew[b, a] = angle, -angle
        return profiled_value(code, n_k, scatter, axes @ linalg.expm(skew))

    profile = orientation.vve_profile(n_k) if code == "VVE" else orientation.eve_profile(n_k)
    rotated = np.einsum("ji,kjl,lm->kim", axes, scatter, axes)
    g, gradient, hessian = profile(*orientation.diagonal_derivatives(rotated))
    size, h = len(pairs), 1e-4
    unit = np.eye(size)
    numeric_gradient = np.array(
        [(value(h * unit[p]) - value(-h * unit[p])) / (2 * h) for p in range(size)]
    )
    numeric_hessian = np.array(
        [
            [
                (
                    value(h * (unit[p] + unit[q]))
                    - value(h * (unit[p] - unit[q]))
                    - value(h * (unit[q] - unit[p]))
                    + value(-h * (unit[p] + unit[q]))
                )
                / (4 * h * h)
                for q in range(size)
            ]
            for p in range(size)
        ]
    )
    assert g == pytest.approx(value(np.zeros(size)), rel=1e-12)
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["diagonal", "full"])
def test_volume_derivatives_match_finite_differences(kind):
    # F(u) = d Σ n_k u_k + Σ_k e^{-u_k} tr(B_k A⁻¹) at the best A for u, by brute force:
    # the shape minimising the trace term is found by a general minimiser over log-shapes
    # (diagonal) or computed from the pooled matrix written out here (full).
    n_k, scatter = random_statistics(4)
    values = np.einsum("kii->ki", scatter) if kind == "diagonal" else scatter
    d = N_FEATURES

    def value(u: np.ndarray) -> float:
        pooled = sum(np.exp(-u[k]) * values[k] for k in range(3))
        if kind == "diagonal":
            shape = pooled / np.prod(pooled) ** (1 / d)
            trace = sum(np.exp(-u[k]) * np.sum(values[k] / shape) for k in range(3))
        else:
            shape = pooled / np.linalg.det(pooled) ** (1 / d)
            trace = sum(
                np.exp(-u[k]) * np.trace(np.linalg.solve(shape, values[k])) for k in range(3)
            )
        return d * float(n_k @ u) + trace

    u = np.log(np.array([0.7, 1.6, 2.9]))
    g, gradient, hessian, _ = volumes.volume_objective(values, n_k)(u)
    h, unit = 1e-5, np.eye(3)
    k = 1e-4  # the second differences' step: rounding / k² stays below 1e-7 relative
    numeric_gradient = [(value(u + h * e) - value(u - h * e)) / (2 * h) for e in unit]
    numeric_hessian = [
        [
            (
                value(u + k * (a + b))
                - value(u + k * (a - b))
                - value(u - k * (a - b))
                + value(u - k * (a + b))
            )
            / (4 * k * k)
            for b in unit
        ]
        for a in unit
    ]
    assert g == pytest.approx(value(u), rel=1e-12)
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-7)
    np.testing.assert_allclose(
        hessian, numeric_hessian, rtol=1e-5, atol=1e-5 * np.abs(hessian).max()
    )
    assert np.linalg.eigvalsh(hessian).min() > 0  # convex (module docstring)


@pytest.mark.parametrize("code", SHARED_ORIENTATION)
def test_newton_is_quadratic_warm_started(code):
    # From the optimum of nearby statistics, a handful of Newton steps reach full precision.
    n_k, scatter = random_statistics(2)
    nearby = scatter * (1.0 + 1e-3 * np.random.default_rng(0).normal(size=scatter.shape))
    nearby = 0.5 * (nearby + np.swapaxes(nearby, 1, 2))
    previous = estimate(code, n_k, nearby)
    start = iterative._shared_orientation_of(previous)[0]
    profile = orientation.vve_profile(n_k) if code == "VVE" else orientation.eve_profile(n_k)
    model = get_covariance_model(code)
    _, steps = orientation.fit_shared_orientation(
        scatter, profile, _pair_objective(code, n_k), start, model.tol, model.max_iter, n_k.sum()
    )
    assert steps <= 4


def _pair_objective(code: str, n_k: np.ndarray):
    """Any pair objective will do here: the fallback is not expected to be used."""

    def unused(q, dq, d2q, rest):
        raise AssertionError("the Newton iteration needed its fallback")

    return unused


@pytest.mark.parametrize("code", ITERATIVE)
@pytest.mark.parametrize("seed", [0, 3])
def test_m_step_never_ends_above_a_feasible_previous(code, seed):
    # For many feasible previous solutions, F(new) <= F(previous).
    n_k, scatter = random_statistics(seed)
    for other in range(4):
        previous = warm_start_for(code, other)
        ours = estimate(code, n_k, scatter, previous)
        assert objective(n_k, scatter, ours) <= objective(n_k, scatter, previous) + 1e-12


@pytest.mark.parametrize("code", ITERATIVE)
def test_guard_returns_the_previous_covariances_when_the_new_ones_are_worse(code, monkeypatch):
    # Sabotage the inner solver so that it returns worse covariances: the guard must keep the
    # previous (feasible) ones exactly.
    n_k, scatter = random_statistics(0)
    previous = fitted_dense(code, n_k, scatter)
    if code in SHARED_ORIENTATION:
        turn = linalg.expm(np.array([[0.0, 0.3, 0.0], [-0.3, 0.0, 0.2], [0.0, -0.2, 0.0]]))
        monkeypatch.setattr(
            iterative,
            "fit_shared_orientation",
            lambda scatter, profile, pair, start, tol, max_iter, total: (start @ turn, 1),
        )
    else:
        solve = iterative.fit_volumes

        def worse(values, n_k, volumes, tol, max_iter):
            volumes, shape = solve(values, n_k, volumes, tol, max_iter)
            return volumes * np.array([1.3, 0.8, 1.1]), shape

        monkeypatch.setattr(iterative, "fit_volumes", worse)
    ours = estimate(code, n_k, scatter, previous)
    np.testing.assert_array_equal(ours, previous)
    # Without a previous solution there is nothing to keep: the sabotaged result comes out.
    assert objective(n_k, scatter, estimate(code, n_k, scatter)) > objective(n_k, scatter, previous)


@pytest.mark.parametrize("code", ITERATIVE)
def test_infeasible_previous_is_a_start_only(code):
    # Covariances outside the constraint (a user's precisions_init) are never returned.
    n_k, scatter = random_statistics(1)
    unconstrained = scatter / n_k[:, None, None]  # VVV: better than any constrained fit
    if get_covariance_model(code).form == "diagonal":
        unconstrained = np.einsum("kii->ki", unconstrained)[:, :, None] * np.eye(N_FEATURES)
    ours = estimate(code, n_k, scatter, unconstrained)
    assert relative_difference(ours, estimate(code, n_k, scatter)) <= 1e-8


@pytest.mark.parametrize("code", ITERATIVE)
def test_previous_of_another_shape_is_ignored(code):
    n_k, scatter = random_statistics(1)
    model = get_covariance_model(code)
    wrong = np.ones((2, N_FEATURES))  # wrong number of components and wrong form
    compact = model.estimate(n_k, reduce_scatter(scatter, model.scatter), 0.0, N_FEATURES, wrong)
    cold = model.estimate(n_k, reduce_scatter(scatter, model.scatter), 0.0, N_FEATURES)
    np.testing.assert_array_equal(compact, cold)


@pytest.mark.parametrize("code", SHARED_ORIENTATION)
def test_scatter_singular_to_rounding_is_a_collapse(code):
    # Four points in four dimensions: the scatter has rank three, its smallest eigenvalue
    # is rounding; the optimum of EVE and VVE is then singular (mclust: "singular covariance").
    rng = np.random.default_rng(3)
    points = rng.normal(size=(4, 4))
    centred = points - points.mean(axis=0)
    singular = centred.T @ centred
    regular = rng.normal(size=(40, 4))
    regular = (regular - regular.mean(axis=0)).T @ (regular - regular.mean(axis=0))
    n_k = np.array([40.0, 4.0])
    model = get_covariance_model(code)
    with pytest.raises(CollapsedComponentError) as error:
        model.estimate(n_k, np.stack([regular, singular]), 0.0, 4)
    assert error.value.component == 1
    # reg_covar lifts it out of the singular set.
    covariances = model.estimate(n_k, np.stack([regular, singular]), 1e-3, 4)
    assert np.linalg.eigvalsh(covariances).min() > 0


def test_maximize_warm_starts_and_keeps_models_without_previous_working():
    rng = np.random.default_rng(5)
    n_k, scatter = random_statistics(0)
    statistics = SufficientStatistics(
        n_k=n_k,
        weighted_sum=np.zeros((3, N_FEATURES)),
        scatter=scatter,
        shift=rng.normal(size=(3, N_FEATURES)),
        total_weight=float(n_k.sum()),
        log_likelihood=0.0,
    )
    eve = get_covariance_model("EVE")
    start = maximize(statistics, eve, 0.0)
    moved = dataclasses.replace(
        statistics, scatter=scatter * np.array([1.0, 1.1, 0.9])[:, None, None]
    )
    warm = maximize(moved, eve, 0.0, previous=start)
    cold = maximize(moved, eve, 0.0)
    assert relative_difference(warm.covariances, cold.covariances) <= 1e-8

    @dataclasses.dataclass(frozen=True)
    class OldProtocol:
        """A model written before ``previous``: estimate has four parameters."""

        name: str = "OLD"
        aliases: tuple[str, ...] = ()
        form: str = "full"
        scatter: str = "full"
        orientation: str = "variable"

        def n_parameters(self, n_components, n_features):
            return n_components * n_features * (n_features + 1) // 2

        def estimate(self, n_k, scatter, reg_covar, n_features):
            return scatter / n_k[:, None, None]

    old = maximize(moved, OldProtocol(), 0.0, previous=start)
    expected = moved.scatter / (n_k + maximize_floor())[:, None, None]
    np.testing.assert_allclose(old.covariances, expected, rtol=1e-12)


def test_maximize_passes_previous_through_a_mixture(monkeypatch):
    # mstep.maximize gives the model the previous covariances (compact form) as `previous`.
    seen = {}
    model = get_covariance_model("VEE")
    original = type(model).estimate

    def spy(self, n_k, scatter, reg_covar, n_features, previous=None):
        seen["previous"] = previous
        return original(self, n_k, scatter, reg_covar, n_features, previous=previous)

    monkeypatch.setattr(type(model), "estimate", spy)
    n_k, scatter = random_statistics(1)
    previous = MixtureParameters(
        weights=n_k / n_k.sum(),
        means=np.zeros((3, N_FEATURES)),
        covariances=fitted_dense("VEE", n_k, scatter),
        precisions_cholesky=np.zeros((3, N_FEATURES, N_FEATURES)),
        form="full",
    )
    statistics = SufficientStatistics(
        n_k=n_k,
        weighted_sum=np.zeros((3, N_FEATURES)),
        scatter=scatter,
        shift=np.zeros((3, N_FEATURES)),
        total_weight=float(n_k.sum()),
        log_likelihood=0.0,
    )
    maximize(statistics, model, 0.0, previous=previous)
    assert seen["previous"] is previous.covariances


def test_guard_objective_is_the_loop_definition():
    n_k, scatter = random_statistics(2)
    covariances = fitted_dense("VVE", n_k, scatter)
    assert warm_start.covariance_objective(n_k, scatter, covariances) == pytest.approx(
        objective(n_k, scatter, covariances), rel=1e-13
    )
    diagonal = np.einsum("kii->ki", covariances)
    assert warm_start.covariance_objective(
        n_k, np.einsum("kii->ki", scatter), diagonal
    ) == pytest.approx(
        objective(n_k, scatter, diagonal[:, :, None] * np.eye(N_FEATURES)), rel=1e-13
    )
    indefinite = covariances.copy()
    indefinite[1] = -indefinite[1]
    assert warm_start.covariance_objective(n_k, scatter, indefinite) == np.inf
    assert warm_start.covariance_objective(n_k, np.einsum("kii->ki", scatter), -diagonal) == np.inf
