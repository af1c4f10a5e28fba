"""The shared orientation D of EVE and VVE: safeguarded Newton steps on the rotation group.

With the eigenvalues of Σ_k profiled out, the M-step objective of EVE and VVE is a function
g(D) of the shared orientation alone, through the diagonals ω_kj = (Dᵀ W_k D)_jj:

* VVE: g = Σ_k n_k Σ_j log ω_kj;
* EVE: g = N·d·log Σ_k (Π_j ω_kj)^{1/d}

(constants dropped). :func:`fit_shared_orientation` minimises g over rotations
D ← D·R(S), S skew-symmetric with the P = d(d − 1)/2 free angles θ_ab = S_ab (a < b), by
Newton's method on those angles: the gradient and Hessian of ω_kj in the angles at S = 0
are closed-form (:func:`diagonal_derivatives`), so one Newton step costs a few array
operations on (K, d, P, P) arrays, vectorised over components and pairs of axes, and the
convergence is quadratic: warm-started from the previous M-step's orientation, two or three
steps per M-step. The rotation is the Cayley transform R(S) = (I − S/2)⁻¹(I + S/2), exactly
orthogonal and equal to exp(S) to second order, so the Newton model is exact to second order.

Safeguards and stopping (:func:`gaussmix.covariance.newton.minimise`): a Newton step is
taken only if the Hessian is positive definite and the step passes a backtracking line
search, otherwise one sweep of plane rotations
(:func:`~gaussmix.covariance.decomposition.rotation_sweep`, each rotation an exact
one-dimensional minimisation), so g never rises beyond rounding; the iteration stops after a
full Newton step of at most ``angle_tol`` radians (or one after which the quadratic rate
predicts so), or a sweep that moves D by at most ``angle_tol``.

Why Newton in NumPy rather than a compiled sweep (measured on the shared 2-core machine):
plane rotations converge linearly, 10–20 sweeps per M-step on well-conditioned 3-D
statistics (``tests/covariance``) and 600–5,000 on iris (150 × 4, G = 4, from a cold start),
and a sweep in Python cost 1–2 ms. A numba version of the VVE sweep (K = d = 4) ran in
15 µs, but took 4.2 s to compile on first use (plus 1.1 s to import numba), for each
objective, against a 0.5 s workflow. The Newton iteration reaches the same optimum
(covariances equal to 1e-11) in 5–10 steps cold and two or three warm, 0.1–0.2 ms a step
in NumPy (``benchmarks/bench_msteps.py``), so there is no compiled path to keep in step
with a fallback.

References
----------
Absil, P.-A., Mahony, R. and Sepulchre, R. (2008). *Optimization Algorithms on Matrix
Manifolds*, Princeton University Press, ch. 6 (Newton's method with a retraction).
Flury, B. N. and Gautschi, W. (1986). *SIAM J. Sci. Stat. Comput.* 7(1), 169–184.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from scipy.linalg import lapack

from gaussmix.covariance.decomposition import PairObjective, rotation_sweep
from gaussmix.covariance.newton import Evaluation, minimise

__all__ = [
    "ProfiledObjective",
    "cayley_rotation",
    "diagonal_derivatives",
    "eve_profile",
    "fit_shared_orientation",
    "rotation_generators",
    "vve_profile",
]

ProfiledObjective = Callable[
    [np.ndarray, np.ndarray | None, np.ndarray | None],
    tuple[float, np.ndarray | None, np.ndarray | None],
]
"""Maps the diagonals ω (K, d) and their angle gradients (K, d, P) and Hessians (K, d, P, P)
(or None, for the value alone) to g and its gradient (P,) and Hessian (P, P)."""


@cache
def rotation_generators(n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The generators G_p = E_ab − E_ba of the rotations, one per pair of axes a < b.

    Parameters
    ----------
    n_features : int
        d.

    Returns
    -------
    generators : ndarray of shape (P, d, d)
        P = d(d − 1)/2 skew-symmetric matrices (read-only).
    first, second : ndarray of shape (P,)
        a and b of each pair.
    """
    first, second = np.triu_indices(n_features, 1)
    generators = np.zeros((first.size, n_features, n_features))
    generators[np.arange(first.size), first, second] = 1.0
    generators[np.arange(first.size), second, first] = -1.0
    for array in (generators, first, second):
        array.setflags(write=False)
    return generators, first, second


def cayley_rotation(skew: np.ndarray) -> np.ndarray:
    """The rotation (I − S/2)⁻¹(I + S/2) of a skew-symmetric S (equal to exp(S) to second order).

    Parameters
    ----------
    skew : ndarray of shape (d, d)

    Returns
    -------
    ndarray of shape (d, d)
        Orthogonal with determinant one.
    """
    identity = np.eye(skew.shape[0])
    # LAPACK's gesv directly (np.linalg.solve's checks cost more than this 4 × 4 solve).
    _, _, rotation, info = lapack.dgesv(identity - 0.5 * skew, identity + 0.5 * skew)
    if info != 0:  # I − S/2 is never singular for a real skew S; kept as a guard
        return np.linalg.solve(identity - 0.5 * skew, identity + 0.5 * skew)
    return rotation


def diagonal_derivatives(rotated: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagonals of R(S)ᵀ Ω_k R(S) with their gradient and Hessian in the angles at S = 0.

    Parameters
    ----------
    rotated : ndarray of shape (K, d, d)
        Ω_k = Dᵀ W_k D, symmetric.

    Returns
    -------
    diagonals : ndarray of shape (K, d)
        ω_kj = Ω_k,jj.
    gradients : ndarray of shape (K, d, P)
        ∂ω_kj/∂θ_p.
    hessians : ndarray of shape (K, d, P, P)
        ∂²ω_kj/∂θ_p∂θ_q.

    Notes
    -----
    With S = Σ_p θ_p G_p and R = I + S + S²/2 + O(S³) (exp and the Cayley transform agree
    to this order), diag(Rᵀ Ω R) = diag(Ω) + 2 diag(Ω S) + diag(Ω S² + Sᵀ Ω S) + O(S³), so
    ∂ω_j/∂θ_ab = 2 Ω_ab ([j = b] − [j = a]) and
    ∂²ω_j/∂θ_p∂θ_q = (Ω G_p G_q + Ω G_q G_p)_jj + 2 (G_pᵀ Ω G_q)_jj.
    """
    n_features = rotated.shape[-1]
    generators, first, second = rotation_generators(n_features)
    n_pairs = first.size
    pairs = np.arange(n_pairs)
    diagonals = np.diagonal(rotated, axis1=1, axis2=2).copy()
    gradients = np.zeros((*diagonals.shape, n_pairs))
    off_diagonal = rotated[:, first, second]
    gradients[:, second, pairs] = 2.0 * off_diagonal
    gradients[:, first, pairs] = -2.0 * off_diagonal
    times_generator = rotated[:, None] @ generators
    # (Ω G_p G_q)_jj = Σ_i (Ω G_p)_ji (G_q)_ij and (G_pᵀ Ω G_q)_jj = Σ_i (G_p)_ij (Ω G_q)_ij,
    # as matrix products batched over j (einsum took 3 ms at K = 9, d = 10; these 0.3 ms).
    product = times_generator.transpose(0, 2, 1, 3) @ generators.transpose(2, 1, 0)
    sandwich = generators.transpose(2, 0, 1) @ times_generator.transpose(0, 3, 2, 1)
    hessians = product + np.swapaxes(product, 2, 3) + 2.0 * sandwich
    return diagonals, gradients, hessians


def _log_derivatives(
    diagonals: np.ndarray, gradients: np.ndarray, hessians: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of log ω_kj from those of ω_kj."""
    log_gradients = gradients / diagonals[..., None]
    log_hessians = (
        hessians / diagonals[..., None, None]
        - log_gradients[..., :, None] * log_gradients[..., None, :]
    )
    return log_gradients, log_hessians


def vve_profile(n_k: np.ndarray) -> ProfiledObjective:
    """g = Σ_k n_k Σ_j log ω_kj, VVE's objective with λ_k A_k = diag(Ω_k)/n_k profiled out.

    Parameters
    ----------
    n_k : ndarray of shape (K,)

    Returns
    -------
    ProfiledObjective
    """

    def profile(diagonals, gradients, hessians):
        if np.any(~(diagonals > 0)):
            return np.inf, None, None
        value = float(np.sum(n_k[:, None] * np.log(diagonals)))
        if gradients is None or hessians is None:
            return value, None, None
        log_gradients, log_hessians = _log_derivatives(diagonals, gradients, hessians)
        return (
            value,
            np.einsum("k,kjp->p", n_k, log_gradients),
            np.einsum("k,kjpq->pq", n_k, log_hessians),
        )

    return profile


def eve_profile(n_k: np.ndarray) -> ProfiledObjective:
    """g = N·d·log Σ_k (Π_j ω_kj)^{1/d}, EVE's objective with λ and A_k profiled out.

    Parameters
    ----------
    n_k : ndarray of shape (K,)

    Returns
    -------
    ProfiledObjective

    Notes
    -----
    With L_k = (1/d) Σ_j log ω_kj and weights π_k = e^{L_k} / Σ_l e^{L_l}:
    ∇g = N d Σ_k π_k ∇L_k and ∇²g = N d [Σ_k π_k (∇²L_k + ∇L_k ∇L_kᵀ) − ∇̄ ∇̄ᵀ],
    ∇̄ = Σ_k π_k ∇L_k (the derivatives of a log-sum-exp).
    """
    scale = float(np.sum(n_k))

    def profile(diagonals, gradients, hessians):
        if np.any(~(diagonals > 0)):
            return np.inf, None, None
        n_features = diagonals.shape[1]
        log_scales = np.log(diagonals).sum(axis=1) / n_features
        largest = log_scales.max()
        terms = np.exp(log_scales - largest)
        total = np.sum(terms)
        value = float(scale * n_features * (np.log(total) + largest))
        if gradients is None or hessians is None:
            return value, None, None
        log_gradients, log_hessians = _log_derivatives(diagonals, gradients, hessians)
        mean_gradients = log_gradients.sum(axis=1) / n_features
        mean_hessians = log_hessians.sum(axis=1) / n_features
        weights = terms / total
        average = weights @ mean_gradients
        second = np.einsum(
            "k,kpq->pq",
            weights,
            mean_hessians + mean_gradients[:, :, None] * mean_gradients[:, None, :],
        )
        factor = scale * n_features
        return value, factor * average, factor * (second - np.outer(average, average))

    return profile


def _rotate(scatter: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Ω_k = Dᵀ W_k D, symmetrised (formed afresh from W, never updated in place)."""
    rotated = orientation.T @ (scatter @ orientation)
    return 0.5 * (rotated + np.swapaxes(rotated, 1, 2))


def _rotated_diagonals(scatter: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """ω_kj = (Dᵀ W_k D)_jj without the off-diagonal entries."""
    return np.sum(orientation * (scatter @ orientation), axis=1)


def _resolution(diagonals: np.ndarray, total: float) -> float:
    """Rounding level of g: 64·eps·N·d·(1 + max |log ω_kj|) bounds the error of both
    profiles (a sum of N·d logarithms, or N·d times a log-sum-exp of their means)."""
    with np.errstate(divide="ignore"):
        largest_log = float(np.abs(np.log(diagonals)).max())
    return 64.0 * np.finfo(np.float64).eps * total * diagonals.shape[1] * (1.0 + largest_log)


def fit_shared_orientation(
    scatter: np.ndarray,
    profile: ProfiledObjective,
    pair_objective: PairObjective,
    start: np.ndarray,
    angle_tol: float,
    max_iter: int,
    total: float,
) -> tuple[np.ndarray, int]:
    """Minimise a profiled objective g(D) over the shared orientation D.

    Parameters
    ----------
    scatter : ndarray of shape (K, d, d)
        The (regularised) centred scatter W_k.
    profile : ProfiledObjective
        g and its derivatives from the diagonals (:func:`eve_profile`, :func:`vve_profile`).
    pair_objective : PairObjective
        The same objective for one pair of axes, for the fallback sweep
        (:func:`~gaussmix.covariance.decomposition.rotation_sweep`).
    start : ndarray of shape (d, d)
        Orthogonal starting orientation (the previous M-step's, or a cold start).
    angle_tol : float
        Stop after a full Newton step whose largest angle (radians) is at most this.
    max_iter : int
        Maximum number of steps (Newton steps and fallback sweeps together).
    total : float
        N = Σ_k n_k, which sets the rounding level of g.

    Returns
    -------
    orientation : ndarray of shape (d, d)
        g(orientation) ≤ g(start), up to the rounding level of g.
    n_iter : int
        Steps taken.
    """
    n_features = scatter.shape[-1]
    if n_features < 2:
        return start.copy(), 0
    generators = rotation_generators(n_features)[0]

    def evaluate(axes: np.ndarray) -> Evaluation:
        diagonals, gradients, hessians = diagonal_derivatives(_rotate(scatter, axes))
        value, gradient, hessian = profile(diagonals, gradients, hessians)
        if gradient is None:
            return np.inf, None, None, np.inf
        return value, gradient, hessian, _resolution(diagonals, total)

    def retract(axes: np.ndarray, step: np.ndarray) -> np.ndarray:
        return axes @ cayley_rotation(np.einsum("p,pij->ij", step, generators))

    def sweep(axes: np.ndarray) -> tuple[np.ndarray, float]:
        swept = rotation_sweep(scatter, pair_objective, axes)
        return swept, float(np.abs(swept - axes).max())

    return minimise(evaluate, retract, sweep, start.copy(), angle_tol, max_iter, np.pi / 4)
