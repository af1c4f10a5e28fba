"""mclust models whose M-step needs an inner iteration: VEI, VEE, EVE, VVE, VEV.

Each rule minimises F = Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹) under the model's constraint on
Σ_k = λ_k D_k A_k D_kᵀ by alternating minimisations over blocks of parameters
(volume, shape, orientation), none of which raises F, so the inner iteration is monotone.
W_k is the centred scatter plus ``n_k·reg_covar·I``; N = Σ_k n_k.

The inner iteration stops when no entry of the covariances changes by more than
``tol`` (default 1e-10) relative to the largest entry, or after ``max_iter`` (default 1000)
sweeps. It starts afresh in every M-step, from the volumes tr(W_k)/(D·n_k) or from the
eigenvectors of the pooled scatter, so the result depends only on the statistics.

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781–793, §3 (VEI, VEE, VEV).
Browne, R. P. and McNicholas, P. D. (2014). Estimating common principal components in
high dimensions. *Advances in Data Analysis and Classification* 8(2), 217–226 (EVE, VVE:
the eigenvalue updates for a fixed orientation).
Flury, B. N. and Gautschi, W. (1986). *SIAM J. Sci. Stat. Comput.* 7(1), 169–184 (the plane
rotations used for the shared orientation, in place of Browne & McNicholas's
majorise-minimise step, which needed about a thousand sweeps per M-step on 5-D data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gaussmix.covariance.base import Form, Orientation, ScatterKind
from gaussmix.covariance.constrained import check_scales
from gaussmix.covariance.decomposition import (
    PairObjective,
    eigh_descending,
    geometric_mean,
    regularized_scatter,
    rotation_sweep,
)

__all__ = ["EVE", "VEE", "VEI", "VEV", "VVE"]

_TOL = 1e-10
_MAX_ITER = 1000


def _off_diagonal(n_features: int) -> int:
    return n_features * (n_features - 1) // 2


def _settled(previous: np.ndarray, current: np.ndarray, tol: float) -> bool:
    """Whether the largest entry change is below ``tol`` relative to the largest entry."""
    return bool(np.max(np.abs(current - previous)) <= tol * np.max(np.abs(current)))


def _initial_volumes(n_k: np.ndarray, traces: np.ndarray, n_features: int) -> np.ndarray:
    volumes = traces / (n_features * n_k)
    check_scales(volumes, n_k)
    return volumes


def _with_orientation(orientation: np.ndarray, eigenvalues: np.ndarray) -> np.ndarray:
    """D diag(e_k) Dᵀ for one shared D and each row e_k of ``eigenvalues``."""
    return np.einsum("ij,kj,lj->kil", orientation, eigenvalues, orientation)


def _volumes_times_shared_shape(
    values: np.ndarray, n_k: np.ndarray, n_features: int, tol: float, max_iter: int
) -> np.ndarray:
    """λ_k·A fitted to per-component axis variances by Celeux & Govaert's fixed point.

    ``values`` (K, D) are the scatter's diagonals (VEI) or eigenvalues (VEV). Alternates
    A = Σ_k values_k/λ_k scaled to unit determinant and λ_k = Σ_d values_kd/A_d / (D·n_k);
    each step lowers −Q, and the loop stops as described in the module docstring.
    """
    volumes = _initial_volumes(n_k, values.sum(axis=1), n_features)
    fitted = np.zeros_like(values)
    for _ in range(max_iter):
        pooled = (values / volumes[:, None]).sum(axis=0)
        with np.errstate(divide="ignore"):
            scale = geometric_mean(pooled)
        check_scales(np.atleast_1d(scale), n_k)
        shape = pooled / scale
        volumes = (values / shape).sum(axis=1) / (n_features * n_k)
        previous, fitted = fitted, volumes[:, None] * shape
        if _settled(previous, fitted, tol):
            break
    return fitted


@dataclass(frozen=True)
class VEI:
    """VEI: Σ_k = λ_k A, axis-aligned covariances of one shape and varying volumes.

    Notes
    -----
    Fixed point (Celeux & Govaert 1995): with B_k = diag(W_k),
    A = S / |S|^{1/D} where S = Σ_k B_k / λ_k, then λ_k = tr(B_k A⁻¹) / (D·n_k).
    """

    name: str = "VEI"
    aliases: tuple[str, ...] = ()
    form: Form = "diagonal"
    scatter: ScatterKind = "diagonal"
    orientation: Orientation = "identity"
    tol: float = _TOL
    max_iter: int = _MAX_ITER

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """K + (D − 1) free covariance parameters."""
        return n_components + (n_features - 1)

    def estimate(
        self, n_k: np.ndarray, scatter: np.ndarray, reg_covar: float, n_features: int
    ) -> np.ndarray:
        """Covariances of shape (K, D) (see :meth:`CovarianceModel.estimate`)."""
        diagonals = regularized_scatter(n_k, scatter, reg_covar, n_features)
        return _volumes_times_shared_shape(diagonals, n_k, n_features, self.tol, self.max_iter)


@dataclass(frozen=True)
class VEE:
    """VEE: Σ_k = λ_k C with |C| = 1, one ellipsoid of varying volume.

    Notes
    -----
    Fixed point (Celeux & Govaert 1995): C = S / |S|^{1/D} where S = Σ_k W_k / λ_k, then
    λ_k = tr(W_k C⁻¹) / (D·n_k).
    """

    name: str = "VEE"
    aliases: tuple[str, ...] = ()
    form: Form = "full"
    scatter: ScatterKind = "full"
    orientation: Orientation = "shared"
    tol: float = _TOL
    max_iter: int = _MAX_ITER

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """K + (D − 1) + D(D − 1)/2 free covariance parameters."""
        return n_components + (n_features - 1) + _off_diagonal(n_features)

    def estimate(
        self, n_k: np.ndarray, scatter: np.ndarray, reg_covar: float, n_features: int
    ) -> np.ndarray:
        """Covariances of shape (K, D, D) (see :meth:`CovarianceModel.estimate`)."""
        matrices = regularized_scatter(n_k, scatter, reg_covar, n_features)
        matrices = 0.5 * (matrices + np.swapaxes(matrices, 1, 2))
        volumes = _initial_volumes(n_k, np.trace(matrices, axis1=1, axis2=2), n_features)
        covariances = np.zeros_like(matrices)
        for _ in range(self.max_iter):
            pooled = np.einsum("kij,k->ij", matrices, 1.0 / volumes)
            sign, log_det = np.linalg.slogdet(pooled)
            scale = np.exp(log_det / n_features) if sign > 0 else 0.0
            check_scales(np.atleast_1d(scale), n_k)
            shape = pooled / scale
            volumes = np.trace(np.linalg.solve(shape, matrices), axis1=1, axis2=2) / (
                n_features * n_k
            )
            previous, covariances = covariances, volumes[:, None, None] * shape
            if _settled(previous, covariances, self.tol):
                break
        return covariances


@dataclass(frozen=True)
class VEV:
    """VEV: Σ_k = λ_k D_k A D_kᵀ, one shape, varying volumes and orientations.

    Notes
    -----
    With W_k = L_k Ω_k L_kᵀ (eigenvalues in decreasing order), D_k = L_k whatever λ_k
    and A (the smallest tr(Ω_k A⁻¹) pairs large eigenvalues with large shape entries, and
    A stays sorted). Fixed point (Celeux & Govaert 1995): A = S / |S|^{1/D} with
    S = Σ_k Ω_k / λ_k, then λ_k = tr(Ω_k A⁻¹) / (D·n_k).
    """

    name: str = "VEV"
    aliases: tuple[str, ...] = ()
    form: Form = "full"
    scatter: ScatterKind = "full"
    orientation: Orientation = "variable"
    tol: float = _TOL
    max_iter: int = _MAX_ITER

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """K + (D − 1) + K·D(D − 1)/2 free covariance parameters."""
        return n_components + (n_features - 1) + n_components * _off_diagonal(n_features)

    def estimate(
        self, n_k: np.ndarray, scatter: np.ndarray, reg_covar: float, n_features: int
    ) -> np.ndarray:
        """Covariances of shape (K, D, D) (see :meth:`CovarianceModel.estimate`)."""
        matrices = regularized_scatter(n_k, scatter, reg_covar, n_features)
        eigenvalues, orientations = eigh_descending(matrices)
        eigenvalues = np.maximum(eigenvalues, 0.0)
        sigma_eigenvalues = _volumes_times_shared_shape(
            eigenvalues, n_k, n_features, self.tol, self.max_iter
        )
        return np.einsum("kij,kj,klj->kil", orientations, sigma_eigenvalues, orientations)


def _common_orientation_fit(
    matrices: np.ndarray,
    eigenvalues_given_orientation: Callable[[np.ndarray], np.ndarray],
    pair_objective: PairObjective,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """Alternate the closed-form eigenvalues for a fixed D and a sweep of rotations of D.

    ``eigenvalues_given_orientation`` maps the diagonals Ω_k = diag(Dᵀ W_k D), shape
    (K, D), to the eigenvalues of Σ_k in the axes of D, shape (K, D); ``pair_objective``
    is the same model's objective with those eigenvalues profiled out (see
    :func:`~gaussmix.covariance.decomposition.rotation_sweep`). D starts at the
    eigenvectors of Σ_k W_k.
    """
    _, orientation = eigh_descending(matrices.sum(axis=0))
    covariances = np.zeros_like(matrices)
    for _ in range(max_iter):
        diagonals = np.einsum("ji,kjl,li->ki", orientation, matrices, orientation)
        eigenvalues = eigenvalues_given_orientation(diagonals)
        previous, covariances = covariances, _with_orientation(orientation, eigenvalues)
        if _settled(previous, covariances, tol):
            break
        orientation = rotation_sweep(matrices, pair_objective, orientation)
    return covariances


@dataclass(frozen=True)
class EVE:
    """EVE: Σ_k = λ D A_k Dᵀ, equal volumes, one orientation, shapes that vary.

    Notes
    -----
    For a fixed D, with Ω_k = diag(Dᵀ W_k D): A_k = Ω_k / |Ω_k|^{1/D} and
    λ = Σ_k |Ω_k|^{1/D} / N (Browne & McNicholas 2014). D is then lowered by one sweep of
    plane rotations on the profiled objective N·D·log Σ_k |Ω_k|^{1/D}
    (:func:`~gaussmix.covariance.decomposition.rotation_sweep`).
    """

    name: str = "EVE"
    aliases: tuple[str, ...] = ()
    form: Form = "full"
    scatter: ScatterKind = "full"
    orientation: Orientation = "shared"
    tol: float = _TOL
    max_iter: int = _MAX_ITER

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """1 + K(D − 1) + D(D − 1)/2 free covariance parameters."""
        return 1 + n_components * (n_features - 1) + _off_diagonal(n_features)

    def estimate(
        self, n_k: np.ndarray, scatter: np.ndarray, reg_covar: float, n_features: int
    ) -> np.ndarray:
        """Covariances of shape (K, D, D) (see :meth:`CovarianceModel.estimate`)."""
        matrices = regularized_scatter(n_k, scatter, reg_covar, n_features)

        def eigenvalues(diagonals: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore"):
                scale = geometric_mean(diagonals)
            check_scales(scale, n_k)
            return (scale.sum() / n_k.sum()) * diagonals / scale[:, None]

        def pair_objective(q, dq, d2q, rest):
            # A rotated variance of 0 (or below, by rounding) is a singular scatter.
            check_scales(q, n_k)
            # With the eigenvalues profiled out, F = N·D·log Σ_k |Ω_k|^{1/D} + constant.
            relative = dq / (n_features * q)
            terms = (rest * q) ** (1.0 / n_features)
            first = terms * relative
            second = terms * (relative**2 + (d2q * q - dq**2) / (n_features * q**2))
            total = terms.sum()
            slope = first.sum() / total
            return float(np.log(total)), float(slope), float(second.sum() / total - slope**2)

        return _common_orientation_fit(
            matrices, eigenvalues, pair_objective, self.tol, self.max_iter
        )


@dataclass(frozen=True)
class VVE:
    """VVE: Σ_k = λ_k D A_k Dᵀ, one orientation, volumes and shapes that vary.

    Notes
    -----
    For a fixed D, with Ω_k = diag(Dᵀ W_k D): λ_k A_k = Ω_k / n_k (Browne & McNicholas 2014).
    D is then lowered by one sweep of plane rotations on the profiled objective
    Σ_k n_k Σ_j log Ω_k,jj (:func:`~gaussmix.covariance.decomposition.rotation_sweep`).
    """

    name: str = "VVE"
    aliases: tuple[str, ...] = ()
    form: Form = "full"
    scatter: ScatterKind = "full"
    orientation: Orientation = "shared"
    tol: float = _TOL
    max_iter: int = _MAX_ITER

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """K + K(D − 1) + D(D − 1)/2 free covariance parameters."""
        return n_components + n_components * (n_features - 1) + _off_diagonal(n_features)

    def estimate(
        self, n_k: np.ndarray, scatter: np.ndarray, reg_covar: float, n_features: int
    ) -> np.ndarray:
        """Covariances of shape (K, D, D) (see :meth:`CovarianceModel.estimate`)."""
        matrices = regularized_scatter(n_k, scatter, reg_covar, n_features)

        def eigenvalues(diagonals: np.ndarray) -> np.ndarray:
            check_scales(diagonals.min(axis=1), n_k)
            return diagonals / n_k[:, None]

        def pair_objective(q, dq, d2q, rest):
            # A rotated variance of 0 (or below, by rounding) is a singular scatter.
            check_scales(q, n_k)
            # With the eigenvalues profiled out, F = Σ_k n_k Σ_j log Ω_k,jj + constant.
            ratio = dq / q
            return (
                float(np.sum(n_k * np.log(q))),
                float(np.sum(n_k * ratio)),
                float(np.sum(n_k * (d2q / q - ratio**2))),
            )

        return _common_orientation_fit(
            matrices, eigenvalues, pair_objective, self.tol, self.max_iter
        )
