"""Warm starts of the iterative M-steps, and the guard that keeps them monotone.

An M-step handed the previous covariances starts its inner iteration there and must not
end with a higher objective F = Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹) (−2 × the covariance part
of the expected complete-data log-likelihood) than they have, when they satisfy its
constraint: :func:`no_worse` evaluates F for both and keeps the better, which makes EM
monotone up to rounding whatever the inner iteration's stopping point.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEASIBLE_RTOL", "covariance_objective", "matches", "no_worse", "usable_previous"]

# A previous solution counts as satisfying the constraint when its constrained
# reconstruction agrees with it to this fraction of its largest entry: our own M-steps
# satisfy the constraints to rounding (about 1e-15).
FEASIBLE_RTOL = 1e-8


def covariance_objective(n_k: np.ndarray, scatter: np.ndarray, covariances: np.ndarray) -> float:
    """F = Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹), −2 × the covariance part of the expected
    complete-data log-likelihood.

    Parameters
    ----------
    n_k : ndarray of shape (K,)
        Effective numbers of points.
    scatter : ndarray of shape (K, d) or (K, d, d)
        Diagonals of W_k (diagonal form) or the matrices W_k (full form).
    covariances : ndarray of the same shape
        Variances (diagonal form) or covariance matrices.

    Returns
    -------
    float
        +inf when a covariance is not positive definite (or not finite).
    """
    if not np.all(np.isfinite(covariances)):
        return np.inf
    if covariances.ndim == 2:
        if not np.all(covariances > 0):
            return np.inf
        value = np.sum(n_k[:, None] * np.log(covariances)) + np.sum(scatter / covariances)
    else:
        try:
            factors = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            return np.inf
        log_det = 2.0 * np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
        trace = np.trace(np.linalg.solve(covariances, scatter), axis1=1, axis2=2)
        value = np.sum(n_k * log_det) + np.sum(trace)
    return float(value) if np.isfinite(value) else np.inf


def _covariance_objectives(
    n_k: np.ndarray, scatter: np.ndarray, covariances: np.ndarray, groups: int
) -> np.ndarray:
    """:func:`covariance_objective` of ``groups`` equal blocks of full covariances at once.

    Returns
    -------
    ndarray of shape (groups,)
        +inf for a block with a covariance that is not positive definite.
    """
    values = np.full(groups, np.inf)
    try:
        factors = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        blocks = np.split(np.arange(covariances.shape[0]), groups)
        return np.array([covariance_objective(n_k[b], scatter[b], covariances[b]) for b in blocks])
    log_det = 2.0 * np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
    trace = np.trace(np.linalg.solve(covariances, scatter), axis1=1, axis2=2)
    terms = (n_k * log_det + trace).reshape(groups, -1).sum(axis=1)
    finite = np.isfinite(terms)
    values[finite] = terms[finite]
    return values


def no_worse(
    n_k: np.ndarray, scatter: np.ndarray, new: np.ndarray, previous: np.ndarray | None
) -> np.ndarray:
    """The new covariances, or the previous ones if these have the lower objective.

    Parameters
    ----------
    n_k : ndarray of shape (K,)
    scatter : ndarray of shape (K, d) or (K, d, d)
        The (regularised) scatter the M-step fitted.
    new : ndarray
        The M-step's covariances.
    previous : ndarray or None
        The previous covariances when they satisfy the constraint, else None.

    Returns
    -------
    ndarray
        ``new``, or a copy of ``previous`` when F(previous) < F(new).
    """
    if previous is None:
        return new
    if new.ndim == 3:
        # Both objectives from one batched factorisation.
        both = _covariance_objectives(
            np.concatenate([n_k, n_k]),
            np.concatenate([scatter, scatter]),
            np.concatenate([previous, new]),
            2,
        )
        previous_value, new_value = both
    else:
        previous_value = covariance_objective(n_k, scatter, previous)
        new_value = covariance_objective(n_k, scatter, new)
    return previous.copy() if previous_value < new_value else new


def usable_previous(previous: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """``previous`` as float64 when it has the compact shape and is finite, else None.

    Parameters
    ----------
    previous : ndarray or None
    shape : tuple of int
        The compact shape the model's covariances have.

    Returns
    -------
    ndarray or None
    """
    if previous is None:
        return None
    previous = np.asarray(previous, dtype=np.float64)
    if previous.shape != shape or not np.all(np.isfinite(previous)):
        return None
    return previous


def matches(reconstructed: np.ndarray, previous: np.ndarray) -> bool:
    """Whether each component's reconstruction matches to FEASIBLE_RTOL of its largest entry.

    Parameters
    ----------
    reconstructed, previous : ndarray of shape (K, ...)

    Returns
    -------
    bool
    """
    axes = tuple(range(1, previous.ndim))
    error = np.max(np.abs(reconstructed - previous), axis=axes)
    return bool(np.all(error <= FEASIBLE_RTOL * np.max(np.abs(previous), axis=axes)))
