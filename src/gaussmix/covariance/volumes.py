"""Varying volumes with one shared shape (VEI, VEE, VEV): Newton on the log-volumes.

For fixed volumes λ_k = e^{u_k}, the best shared shape has a closed form (Celeux & Govaert
1995): with S(u) = Σ_k e^{−u_k} B_k, where B_k is the scatter matrix W_k (VEE) or the
diagonal matrix of its diagonal (VEI) or of its eigenvalues (VEV), the shape is
S / |S|^{1/d}. With it profiled out the objective is a function of the K log-volumes,

    F(u) = d Σ_k n_k u_k + d |S(u)|^{1/d},

which is convex (|S|^{1/d} is the exponential of (1/d) log|Σ_k e^{−u_k} B_k|, whose Hessian
(1/d)(diag(t) − C) is positive semi-definite by the operator convexity of x² since the
Q_k = e^{−u_k} S^{−1/2} B_k S^{−1/2} sum to I), with closed-form derivatives:
t_k = tr Q_k, C_kl = tr(Q_k Q_l), ψ = |S|^{1/d},

    ∇F = d n − ψ t,    ∇²F = ψ (diag(t) − C + t tᵀ/d).

:func:`fit_volumes` minimises it by :func:`gaussmix.covariance.newton.minimise` (quadratic
convergence: two to four steps warm-started, instead of the fixed point's 6–15 on faithful
and iris), with Celeux & Govaert's fixed point — shape given the volumes, then volumes given
the shape, λ_k = tr(B_k A⁻¹)/(d·n_k) — as the fallback step; ``tol`` is then the largest
relative change of a volume.

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781–793, §3.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gaussmix.covariance.constrained import check_scales
from gaussmix.covariance.newton import Evaluation, cholesky_solve, minimise

__all__ = ["fit_volumes", "shared_shape", "volume_objective"]

# A Newton step changes no volume by more than a factor e² (steps from far away overshoot).
_MAX_LOG_STEP = 2.0


def _pooled(values: np.ndarray, log_volumes: np.ndarray) -> np.ndarray:
    """S(u) = Σ_k e^{−u_k} B_k: a (d,) vector for diagonal B_k, a (d, d) matrix otherwise."""
    flat = values.reshape(values.shape[0], -1)
    return (np.exp(-log_volumes) @ flat).reshape(values.shape[1:])


def _log_det(pooled: np.ndarray) -> float:
    """log|S|, or -inf when S is not positive definite (or not finite)."""
    if pooled.ndim == 1:
        return float(np.log(pooled).sum()) if (pooled > 0).all() else -np.inf
    sign, log_det = np.linalg.slogdet(pooled)
    return float(log_det) if sign > 0 else -np.inf


def shared_shape(values: np.ndarray, log_volumes: np.ndarray, n_k: np.ndarray) -> np.ndarray:
    """The best shared shape for given volumes: S(u)/|S(u)|^{1/d}.

    Parameters
    ----------
    values : ndarray of shape (K, d) or (K, d, d)
        The diagonals (or eigenvalues) of W_k, or the matrices W_k.
    log_volumes : ndarray of shape (K,)
        u_k = log λ_k.
    n_k : ndarray of shape (K,)
        For the collapse error.

    Returns
    -------
    ndarray of shape (d,) or (d, d)
        Determinant one.

    Raises
    ------
    CollapsedComponentError
        If S is singular.
    """
    pooled = _pooled(values, log_volumes)
    scale = np.exp(_log_det(pooled) / values.shape[1])
    check_scales(np.atleast_1d(scale), n_k)
    return pooled / scale


def _fixed_point_step(
    values: np.ndarray, log_volumes: np.ndarray, n_k: np.ndarray
) -> np.ndarray | None:
    """Celeux & Govaert: the shape given the volumes, then λ_k = tr(B_k A⁻¹)/(d·n_k).

    None when a new volume is not positive: the scatter of a component that owns almost
    nothing can be indefinite by rounding (W_k = S_k − n_k d dᵀ), and then so can
    tr(W_k A⁻¹) be, while its volume stays well defined by the Newton iteration.
    """
    shape = shared_shape(values, log_volumes, n_k)
    if values.ndim == 2:
        traces = (values / shape).sum(axis=1)
    else:
        traces = np.trace(np.linalg.solve(shape, values), axis1=1, axis2=2)
    if not (traces > 0).all():
        return None
    return np.log(traces / (values.shape[1] * n_k))


def volume_objective(values: np.ndarray, n_k: np.ndarray) -> Callable[[np.ndarray], Evaluation]:
    """F(u) with its gradient and Hessian (see the module docstring).

    Parameters
    ----------
    values : ndarray of shape (K, d) or (K, d, d)
        Diagonals or eigenvalues of W_k (VEI, VEV), or the symmetric matrices W_k (VEE).
    n_k : ndarray of shape (K,)
        Effective numbers of points.

    Returns
    -------
    callable
        ``evaluate(u) -> (F, ∇F, ∇²F, rounding level of F)``; F = +inf (and None
        derivatives) where S(u) is not positive definite.
    """
    n_features = values.shape[1]
    diagonal = values.ndim == 2
    total = float(np.sum(n_k))

    flat = values.reshape(values.shape[0], -1)
    count = values.shape[0]
    # [W_1 … W_K] side by side, the right-hand side of S X = W.
    stacked = (
        None
        if diagonal
        else np.ascontiguousarray(values.transpose(1, 0, 2)).reshape(n_features, -1)
    )
    rounding = 64.0 * np.finfo(np.float64).eps * n_features

    def evaluate(log_volumes: np.ndarray) -> Evaluation:
        # Far from the minimum e^{-u} may overflow: such points are rejected as +inf (the
        # caller runs this under np.errstate).
        weights = np.exp(-log_volumes)
        pooled = (weights @ flat).reshape(values.shape[1:])
        if diagonal:
            log_det = _log_det(pooled)
            if not np.isfinite(log_det):
                return np.inf, None, None, np.inf
            shares = values * (weights[:, None] / pooled)  # Q_k's diagonals
            traces = shares.sum(axis=1)
            cross = shares @ shares.T
        else:
            # S⁻¹ [W_1 … W_K] in one factorisation.
            solved = cholesky_solve(pooled, stacked) if np.isfinite(pooled).all() else None
            if solved is None:
                return np.inf, None, None, np.inf
            log_det = solved[1]
            shares = solved[0].reshape(n_features, count, n_features).transpose(1, 0, 2)
            shares = shares * weights[:, None, None]  # Q_k = e^{-u_k} S⁻¹ W_k
            traces = np.trace(shares, axis1=1, axis2=2)
            cross = np.einsum("kij,lji->kl", shares, shares)
        root = float(np.exp(log_det / n_features))  # ψ = |S|^{1/d}
        if not root < np.inf:
            return np.inf, None, None, np.inf
        hessian = np.outer(traces, traces / n_features) - cross
        hessian.flat[:: count + 1] += traces
        hessian *= root
        value = n_features * (float(n_k @ log_volumes) + root)
        resolution = rounding * (float(n_k @ np.abs(log_volumes)) + total + root)
        return value, n_features * n_k - root * traces, hessian, resolution

    return evaluate


def fit_volumes(
    values: np.ndarray,
    n_k: np.ndarray,
    volumes: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Volumes and shared shape minimising F, from starting volumes.

    Parameters
    ----------
    values : ndarray of shape (K, d) or (K, d, d)
        Diagonals or eigenvalues of W_k (VEI, VEV), or the symmetric matrices W_k (VEE).
    n_k : ndarray of shape (K,)
        Effective numbers of points.
    volumes : ndarray of shape (K,)
        Positive starting volumes (the previous M-step's, or tr(W_k)/(d·n_k)).
    tol : float
        Largest relative change of a volume at which the iteration stops (see
        :mod:`gaussmix.covariance.newton`).
    max_iter : int
        Maximum number of steps.

    Returns
    -------
    volumes : ndarray of shape (K,)
    shape : ndarray of shape (d,) or (d, d)
        With determinant one.
    """

    def fixed_point(log_volumes: np.ndarray) -> tuple[np.ndarray, float]:
        stepped = _fixed_point_step(values, log_volumes, n_k)
        if stepped is None:  # no step possible: stay, which ends the iteration
            return log_volumes, 0.0
        return stepped, float(np.abs(stepped - log_volumes).max())

    # The optimal λ_k = tr(B_k A⁻¹)/(d·n_k) lies between tr(B_k)/(d·n_k) divided by the
    # largest and by the smallest entry of A; a start outside these bounds (for the shape
    # that the starting volumes give) is moved onto them. Warm starts from an M-step
    # after which a component's scatter shrank a thousandfold otherwise took 23 steps.
    traces = values.sum(axis=1) if values.ndim == 2 else np.trace(values, axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        cold = np.log(traces / (values.shape[1] * n_k))
    # The pooled scatter at the cold volumes must be positive definite (the first step of
    # the fixed point): checked whatever the start, so that the statistics of a component
    # that owns (almost) nothing, whose scatter is rounding noise, collapse on every path.
    shared_shape(values, cold, n_k)
    start = np.log(volumes)
    shape = shared_shape(values, start, n_k)
    shape_range = shape if shape.ndim == 1 else np.linalg.eigvalsh(shape)
    start = np.clip(start, cold - np.log(shape_range.max()), cold - np.log(shape_range.min()))

    with np.errstate(over="ignore", invalid="ignore"):
        log_volumes, _ = minimise(
            volume_objective(values, n_k),
            lambda u, step: u + step,
            fixed_point,
            start,
            tol,
            max_iter,
            _MAX_LOG_STEP,
        )
    return np.exp(log_volumes), shared_shape(values, log_volumes, n_k)
