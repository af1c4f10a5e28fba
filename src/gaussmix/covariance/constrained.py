"""mclust models beyond scikit-learn's four whose M-step has a closed form: EII, EEI, EVI, EEV, EVV.

Every rule minimises F = Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹) (−2 × the expected complete-data
log-likelihood up to constants) under the model's constraint on Σ_k = λ_k D_k A_k D_kᵀ, with
W_k the centred scatter plus ``n_k·reg_covar·I`` (see
:func:`gaussmix.covariance.decomposition.regularized_scatter`). N = Σ_k n_k.

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781–793, §3 and Table 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaussmix.covariance.base import Form, Orientation, ScatterKind
from gaussmix.covariance.decomposition import (
    eigh_descending,
    geometric_mean,
    regularized_scatter,
)
from gaussmix.covariance.forms import collapse_error

__all__ = ["EEI", "EEV", "EII", "EVI", "EVV", "check_scales"]


def _off_diagonal(n_features: int) -> int:
    return n_features * (n_features - 1) // 2


def check_scales(scale: np.ndarray, n_k: np.ndarray) -> None:
    """Raise the collapse error if a component's scatter has a zero (or NaN) determinant.

    Parameters
    ----------
    scale : ndarray of shape (n_components,)
        |W_k|^{1/D} (or of its diagonal) for every component.
    n_k : ndarray of shape (n_components,)
        Effective numbers of points, for the message.

    Raises
    ------
    CollapsedComponentError
    """
    bad = np.flatnonzero(~(scale > 0))
    if bad.size:
        component = int(bad[0])
        raise collapse_error(component, float(n_k[component]), "its scatter matrix is singular")


@dataclass(frozen=True)
class EII:
    """EII: Σ_k = λ I, one variance shared by all components and all features.

    Notes
    -----
    λ = Σ_k tr(W_k) / (N·D). Stored in the spherical form, the same value K times.
    """

    name: str = "EII"
    aliases: tuple[str, ...] = ()
    form: Form = "spherical"
    scatter: ScatterKind = "trace"
    orientation: Orientation = "identity"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """One free covariance parameter."""
        return 1

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances of shape (K,) (see :meth:`CovarianceModel.estimate`)."""
        traces = regularized_scatter(n_k, scatter, reg_covar, n_features)
        variance = traces.sum() / (n_k.sum() * n_features)
        return np.full(n_k.shape[0], variance)


@dataclass(frozen=True)
class EEI:
    """EEI: Σ_k = λ A, one diagonal covariance shared by all components.

    Notes
    -----
    Σ = diag(Σ_k W_k) / N. Stored in the diagonal form, the same row K times.
    """

    name: str = "EEI"
    aliases: tuple[str, ...] = ()
    form: Form = "diagonal"
    scatter: ScatterKind = "diagonal"
    orientation: Orientation = "identity"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """D free covariance parameters."""
        return n_features

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances of shape (K, D) (see :meth:`CovarianceModel.estimate`)."""
        diagonals = regularized_scatter(n_k, scatter, reg_covar, n_features)
        variances = diagonals.sum(axis=0) / n_k.sum()
        return np.broadcast_to(variances, diagonals.shape).copy()


@dataclass(frozen=True)
class EVI:
    """EVI: Σ_k = λ A_k, equal volumes, axis-aligned shapes that vary.

    Notes
    -----
    With B_k = diag(W_k): A_k = B_k / |B_k|^{1/D} and λ = Σ_k |B_k|^{1/D} / N.
    """

    name: str = "EVI"
    aliases: tuple[str, ...] = ()
    form: Form = "diagonal"
    scatter: ScatterKind = "diagonal"
    orientation: Orientation = "identity"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """1 + K(D − 1) free covariance parameters."""
        return 1 + n_components * (n_features - 1)

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances of shape (K, D) (see :meth:`CovarianceModel.estimate`)."""
        diagonals = regularized_scatter(n_k, scatter, reg_covar, n_features)
        with np.errstate(divide="ignore"):
            scale = geometric_mean(diagonals)
        check_scales(scale, n_k)
        volume = scale.sum() / n_k.sum()
        return volume * diagonals / scale[:, None]


@dataclass(frozen=True)
class EEV:
    """EEV: Σ_k = λ D_k A D_kᵀ, equal volume and shape, orientations that vary.

    Notes
    -----
    With W_k = L_k Ω_k L_kᵀ (eigenvalues in decreasing order): D_k = L_k, and with
    Ω = Σ_k Ω_k, A = Ω / |Ω|^{1/D} and λ = |Ω|^{1/D} / N.
    """

    name: str = "EEV"
    aliases: tuple[str, ...] = ()
    form: Form = "full"
    scatter: ScatterKind = "full"
    orientation: Orientation = "variable"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """1 + (D − 1) + K·D(D − 1)/2 free covariance parameters."""
        return 1 + (n_features - 1) + n_components * _off_diagonal(n_features)

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances of shape (K, D, D) (see :meth:`CovarianceModel.estimate`)."""
        matrices = regularized_scatter(n_k, scatter, reg_covar, n_features)
        eigenvalues, orientations = eigh_descending(matrices)
        eigenvalues_of_sigma = eigenvalues.sum(axis=0) / n_k.sum()
        return np.einsum("kij,j,klj->kil", orientations, eigenvalues_of_sigma, orientations)


@dataclass(frozen=True)
class EVV:
    """EVV: Σ_k = λ C_k with |C_k| = 1, equal volumes, shapes and orientations that vary.

    Notes
    -----
    C_k = W_k / |W_k|^{1/D} and λ = Σ_k |W_k|^{1/D} / N.
    """

    name: str = "EVV"
    aliases: tuple[str, ...] = ()
    form: Form = "full"
    scatter: ScatterKind = "full"
    orientation: Orientation = "variable"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """1 + K(D − 1) + K·D(D − 1)/2 free covariance parameters."""
        return 1 + n_components * (n_features - 1) + n_components * _off_diagonal(n_features)

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances of shape (K, D, D) (see :meth:`CovarianceModel.estimate`)."""
        matrices = regularized_scatter(n_k, scatter, reg_covar, n_features)
        matrices = 0.5 * (matrices + np.swapaxes(matrices, 1, 2))
        _, log_det = np.linalg.slogdet(matrices)
        scale = np.exp(log_det / n_features)
        check_scales(scale, n_k)
        volume = scale.sum() / n_k.sum()
        return volume * matrices / scale[:, None, None]
