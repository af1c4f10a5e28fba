"""Covariance models whose M-step has a closed form and matches scikit-learn's four types.

References
----------
Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §9.2.2 (full).
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781–793 (the constrained models).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaussmix.covariance.base import Form, Orientation, ScatterKind

__all__ = ["Diagonal", "Full", "Spherical", "Tied"]


@dataclass(frozen=True)
class Full:
    """VVV (scikit-learn ``"full"``): every component has its own unconstrained covariance.

    Notes
    -----
    Σ_k = W_k / n_k + reg_covar·I.
    """

    name: str = "VVV"
    aliases: tuple[str, ...] = ("full",)
    form: Form = "full"
    scatter: ScatterKind = "full"
    orientation: Orientation = "variable"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """K·D(D+1)/2 free covariance parameters."""
        return n_components * n_features * (n_features + 1) // 2

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Σ_k = W_k / n_k + reg_covar·I (see :meth:`CovarianceModel.estimate`)."""
        covariances = scatter / n_k[:, None, None]
        covariances = 0.5 * (covariances + np.swapaxes(covariances, 1, 2))
        covariances += reg_covar * np.eye(n_features)
        return covariances


@dataclass(frozen=True)
class Tied:
    """EEE (scikit-learn ``"tied"``): one covariance shared by all components.

    Notes
    -----
    Σ = (Σ_k W_k) / (Σ_k n_k) + reg_covar·I.
    """

    name: str = "EEE"
    aliases: tuple[str, ...] = ("tied",)
    form: Form = "tied"
    scatter: ScatterKind = "full"
    orientation: Orientation = "shared"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """D(D+1)/2 free covariance parameters."""
        return n_features * (n_features + 1) // 2

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Σ = Σ_k W_k / Σ_k n_k + reg_covar·I (see :meth:`CovarianceModel.estimate`)."""
        covariance = scatter.sum(axis=0) / n_k.sum()
        covariance = 0.5 * (covariance + covariance.T)
        covariance += reg_covar * np.eye(n_features)
        return covariance


@dataclass(frozen=True)
class Diagonal:
    """VVI (scikit-learn ``"diag"``): axis-aligned covariances, one variance vector per component.

    Notes
    -----
    σ²_kd = (W_k)_dd / n_k + reg_covar.
    """

    name: str = "VVI"
    aliases: tuple[str, ...] = ("diag",)
    form: Form = "diagonal"
    scatter: ScatterKind = "diagonal"
    orientation: Orientation = "identity"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """K·D free covariance parameters."""
        return n_components * n_features

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """σ²_kd = (W_k)_dd / n_k + reg_covar (see :meth:`CovarianceModel.estimate`)."""
        return scatter / n_k[:, None] + reg_covar


@dataclass(frozen=True)
class Spherical:
    """VII (scikit-learn ``"spherical"``): one variance per component.

    Notes
    -----
    σ²_k = tr(W_k) / (D·n_k) + reg_covar.
    """

    name: str = "VII"
    aliases: tuple[str, ...] = ("spherical",)
    form: Form = "spherical"
    scatter: ScatterKind = "trace"
    orientation: Orientation = "identity"

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """K free covariance parameters."""
        return n_components

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """σ²_k = tr(W_k)/(D·n_k) + reg_covar (see :meth:`CovarianceModel.estimate`)."""
        return scatter / (n_features * n_k) + reg_covar
