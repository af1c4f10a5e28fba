"""Helpers for the eigen-decomposition Σ_k = λ_k D_k A_k D_kᵀ shared by the constrained models.

λ_k = |Σ_k|^{1/D} is the volume, A_k a diagonal matrix with |A_k| = 1 the shape and D_k an
orthogonal matrix the orientation (Celeux & Govaert 1995, eq. 2).

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781–793.
Browne, R. P. and McNicholas, P. D. (2014). Estimating common principal components in
high dimensions. *Advances in Data Analysis and Classification* 8(2), 217–226.
Flury, B. N. and Gautschi, W. (1986). An algorithm for simultaneous orthogonal
transformation of several positive definite symmetric matrices to nearly diagonal form.
*SIAM Journal on Scientific and Statistical Computing* 7(1), 169–184.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gaussmix.covariance.base import Orientation

__all__ = [
    "Decomposition",
    "Orientation",
    "PairObjective",
    "decompose",
    "decompose_variances",
    "eigh_descending",
    "geometric_mean",
    "regularized_scatter",
    "rotation_sweep",
]


@dataclass(frozen=True)
class Decomposition:
    """Volume, shape and orientation of K covariance matrices.

    Parameters
    ----------
    volume : ndarray of shape (n_components,)
        λ_k = |Σ_k|^{1/D}.
    shape : ndarray of shape (n_components, n_features)
        Diagonal of A_k, with product one.
    orientation : ndarray of shape (n_components, n_features, n_features)
        D_k, orthogonal; column j goes with ``shape[k, j]``.
    """

    volume: np.ndarray
    shape: np.ndarray
    orientation: np.ndarray


def geometric_mean(values: np.ndarray) -> np.ndarray:
    """Geometric mean along the last axis, computed in log space.

    Parameters
    ----------
    values : ndarray of shape (..., n)
        Positive numbers.

    Returns
    -------
    ndarray of shape (...)
    """
    # np.mean's own sum and division (the same bits) without its ~2 µs of Python.
    logs = np.log(values)
    return np.exp(logs.sum(axis=-1) / logs.shape[-1])


def eigh_descending(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of symmetric matrices, largest eigenvalue first.

    Parameters
    ----------
    matrices : ndarray of shape (..., n, n)
        Symmetric matrices.

    Returns
    -------
    eigenvalues : ndarray of shape (..., n)
    eigenvectors : ndarray of shape (..., n, n)
        Column j belongs to eigenvalue j.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(0.5 * (matrices + np.swapaxes(matrices, -1, -2)))
    return eigenvalues[..., ::-1], eigenvectors[..., ::-1]


def regularized_scatter(
    n_k: np.ndarray, scatter: np.ndarray, reg_covar: float, n_features: int
) -> np.ndarray:
    """The scatter W_k + n_k·reg_covar·I, in the shape of ``scatter``.

    Parameters
    ----------
    n_k : ndarray of shape (n_components,)
        Effective numbers of points.
    scatter : ndarray of shape (K,), (K, D) or (K, D, D)
        Traces, diagonals or full centred scatter matrices.
    reg_covar : float
        Non-negative regularisation.
    n_features : int
        D.

    Returns
    -------
    ndarray

    Notes
    -----
    Regularising the scatter rather than the estimate keeps every constraint exact (a shared
    shape stays shared), and for the four scikit-learn models it is the same as adding
    ``reg_covar`` to every variance of the estimate, since those estimates are linear in W_k.
    """
    if scatter.ndim == 3:
        return scatter + (reg_covar * n_k)[:, None, None] * np.eye(n_features)
    if scatter.ndim == 2:
        return scatter + (reg_covar * n_k)[:, None]
    return scatter + reg_covar * n_k * n_features


PairObjective = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[float, float, float]
]
"""Maps (q, q', q'', rest), each of shape (K,), to a profiled objective h and its first two
derivatives in the rotation angle; see :func:`rotation_sweep`."""


def rotation_sweep(
    scatter: np.ndarray,
    pair_objective: PairObjective,
    orientation: np.ndarray,
    max_newton_steps: int = 30,
) -> np.ndarray:
    """One sweep of plane rotations of a shared orientation D, each minimising a profiled objective.

    Parameters
    ----------
    scatter : ndarray of shape (n_components, n_features, n_features)
        Centred scatter W_k.
    pair_objective : callable
        ``pair_objective(q, dq, d2q, rest) -> (h, dh, d2h)``: the model's objective with
        its eigenvalues profiled out, as a function of q_k = Ω_k,ii Ω_k,jj (the product of
        the two diagonal entries of Ω_k = Dᵀ W_k D being rotated) and of ``rest``, the
        product of the other diagonal entries of Ω_k; ``dq``, ``d2q`` are the derivatives
        of q in the angle, and the callable returns h with its derivatives by the chain rule.
    orientation : ndarray of shape (n_features, n_features)
        Current D.
    max_newton_steps : int, default=30
        Newton steps per pair of axes.

    Returns
    -------
    ndarray of shape (n_features, n_features)
        The orientation after treating every pair of axes (i, j) once.

    Notes
    -----
    Rotating axes i and j by θ gives, with φ = 2θ, m_k = (Ω_k,ii + Ω_k,jj)/2 and
    c_k(φ) = (Ω_k,ii − Ω_k,jj)/2 · cos φ + Ω_k,ij · sin φ, the new diagonal entries m_k ± c_k,
    so q_k(φ) = m_k² − c_k², q_k' = −2 c_k c_k', q_k'' = −2 (c_k'² − c_k²). The angle is found
    by safeguarded Newton steps (backtracking until h decreases), so the profiled objective
    never increases, and a fixed point of the sweep is a stationary point. This is the
    plane-rotation scheme of Flury & Gautschi (1986) for common principal components, here
    on the profiled objectives of EVE and VVE. It converges linearly (10–20 sweeps per
    M-step on well-conditioned 3-D statistics, thousands on ill-conditioned ones), so it
    is the fallback of the Newton iteration of
    :func:`gaussmix.covariance.orientation.fit_shared_orientation`, used when a Newton
    step is not a descent step.
    """
    orientation = orientation.copy()
    rotated = np.einsum("ji,kjl,lm->kim", orientation, scatter, orientation)
    n_features = orientation.shape[0]
    for i in range(n_features - 1):
        for j in range(i + 1, n_features):
            diagonals = np.einsum("kii->ki", rotated)
            others = np.ones(n_features, dtype=bool)
            others[[i, j]] = False
            rest = np.prod(diagonals[:, others], axis=1)
            middle = (diagonals[:, i] + diagonals[:, j]) / 2
            half_difference = (diagonals[:, i] - diagonals[:, j]) / 2
            off_diagonal = rotated[:, i, j]

            def objective(
                phi: float,
                middle: np.ndarray = middle,
                half_difference: np.ndarray = half_difference,
                off_diagonal: np.ndarray = off_diagonal,
                rest: np.ndarray = rest,
            ) -> tuple[float, float, float]:
                c = half_difference * np.cos(phi) + off_diagonal * np.sin(phi)
                dc = -half_difference * np.sin(phi) + off_diagonal * np.cos(phi)
                return pair_objective(middle**2 - c**2, -2 * c * dc, -2 * (dc**2 - c**2), rest)

            phi = 0.0
            value, slope, curvature = objective(phi)
            for _ in range(max_newton_steps):
                step = -slope / curvature if curvature > 0 else -np.sign(slope) * 0.1
                step = float(np.clip(step, -np.pi / 4, np.pi / 4))
                while abs(step) > 1e-15:
                    trial = objective(phi + step)
                    if trial[0] <= value:
                        break
                    step /= 2
                if abs(step) <= 1e-15:
                    break
                phi += step
                value, slope, curvature = trial
                if abs(step) < 1e-12:
                    break
            if phi != 0.0:
                cosine, sine = np.cos(phi / 2), np.sin(phi / 2)
                rotation = np.array([[cosine, -sine], [sine, cosine]])
                pair = [i, j]
                orientation[:, pair] = orientation[:, pair] @ rotation
                rotated[:, :, pair] = rotated[:, :, pair] @ rotation
                rotated[:, pair, :] = np.einsum("ba,kbc->kac", rotation, rotated[:, pair, :])
    return orientation


def decompose(dense: np.ndarray, orientation: Orientation) -> Decomposition:
    """Volume, shape and orientation of covariance matrices.

    Parameters
    ----------
    dense : ndarray of shape (n_components, n_features, n_features)
        Covariance matrices.
    orientation : {"identity", "shared", "variable"}
        The model's orientation constraint. ``"identity"`` reads the shape off the
        diagonal in the order of the features; ``"shared"`` uses the eigenvectors of the
        first matrix (which by the constraint diagonalise every matrix) for all
        components, so that all shapes are read in the same axes; ``"variable"``
        decomposes each matrix on its own.

    Returns
    -------
    Decomposition
        Shapes sorted from the largest axis down, except for ``"identity"`` (feature order)
        and ``"shared"`` (the first component's order).
    """
    if orientation == "identity":
        return decompose_variances(np.diagonal(dense, axis1=1, axis2=2).copy())
    if orientation == "shared":
        _, common = eigh_descending(dense[0])
        axes = np.broadcast_to(common, dense.shape).copy()
        eigenvalues = np.einsum("ji,kjl,li->ki", common, dense, common)
    else:
        eigenvalues, axes = eigh_descending(dense)
    volume = geometric_mean(eigenvalues)
    return Decomposition(volume=volume, shape=eigenvalues / volume[:, None], orientation=axes)


def decompose_variances(variances: np.ndarray) -> Decomposition:
    """Volume, shape and orientation of diagonal covariance matrices, from their diagonals.

    Parameters
    ----------
    variances : ndarray of shape (n_components, n_features)
        The diagonals (positive).

    Returns
    -------
    Decomposition
        Shapes in the order of the features; every orientation is the identity.
    """
    n_components, n_features = variances.shape
    axes = np.zeros((n_components, n_features, n_features))
    # The diagonal of every (D, D) block: every (D + 1)-th entry of its flattened rows.
    axes.reshape(n_components, -1)[:, :: n_features + 1] = 1.0
    volume = geometric_mean(variances)
    return Decomposition(volume=volume, shape=variances / volume[:, None], orientation=axes)
