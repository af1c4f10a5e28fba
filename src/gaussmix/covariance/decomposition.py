"""Helpers for the eigen-decomposition Σ_k = λ_k D_k A_k D_kᵀ shared by the constrained models.

λ_k = |Σ_k|^{1/D} is the volume, A_k a diagonal matrix with |A_k| = 1 the shape and D_k an
orthogonal matrix the orientation (Celeux & Govaert 1995, eq. 2).

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781–793.
Browne, R. P. and McNicholas, P. D. (2014). Estimating common principal components in
high dimensions. *Advances in Data Analysis and Classification* 8(2), 217–226.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaussmix.covariance.base import Orientation

__all__ = [
    "Decomposition",
    "Orientation",
    "decompose",
    "eigh_descending",
    "geometric_mean",
    "orientation_step",
    "regularized_scatter",
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
    return np.exp(np.mean(np.log(values), axis=-1))


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


def orientation_step(
    scatter: np.ndarray, inverse_eigenvalues: np.ndarray, orientation: np.ndarray
) -> np.ndarray:
    """One majorise-minimise update of a shared orientation D.

    Parameters
    ----------
    scatter : ndarray of shape (n_components, n_features, n_features)
        Centred scatter W_k.
    inverse_eigenvalues : ndarray of shape (n_components, n_features)
        Diagonal of B_k = (λ_k A_k)⁻¹ for the current volume and shape.
    orientation : ndarray of shape (n_features, n_features)
        Current D.

    Returns
    -------
    ndarray of shape (n_features, n_features)
        An orthogonal D that does not increase f(D) = Σ_k tr(W_k D B_k Dᵀ).

    Notes
    -----
    With ω_k the largest eigenvalue of W_k, W_k − ω_k I is negative semi-definite, so
    f(D) = Σ_k tr((W_k − ω_k I) D B_k Dᵀ) + Σ_k ω_k tr(B_k) is concave in D plus a constant
    on orthogonal matrices; its tangent at D₀ majorises it. Minimising the tangent
    ⟨G, D⟩ with G = Σ_k (W_k − ω_k I) D₀ B_k over orthogonal D gives D = −U Vᵀ, where
    G = U S Vᵀ is a singular value decomposition (Browne & McNicholas 2014, §3).
    """
    n_features = orientation.shape[0]
    largest = np.linalg.eigvalsh(scatter)[:, -1]
    shifted = scatter - largest[:, None, None] * np.eye(n_features)
    gradient = np.einsum("kij,jl,kl->il", shifted, orientation, inverse_eigenvalues)
    left, _, right = np.linalg.svd(gradient)
    return -left @ right


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
    n_features = dense.shape[-1]
    if orientation == "identity":
        eigenvalues = np.diagonal(dense, axis1=1, axis2=2).copy()
        axes = np.broadcast_to(np.eye(n_features), dense.shape).copy()
    elif orientation == "shared":
        _, common = eigh_descending(dense[0])
        axes = np.broadcast_to(common, dense.shape).copy()
        eigenvalues = np.einsum("ji,kjl,li->ki", common, dense, common)
    else:
        eigenvalues, axes = eigh_descending(dense)
    volume = geometric_mean(eigenvalues)
    return Decomposition(volume=volume, shape=eigenvalues / volume[:, None], orientation=axes)
