"""mclust models whose M-step needs an inner iteration: VEI, VEE, EVE, VVE, VEV.

Each rule minimises F = Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹) under the model's constraint on
Σ_k = λ_k D_k A_k D_kᵀ. W_k is the centred scatter plus ``n_k·reg_covar·I``; N = Σ_k n_k.

* VEI, VEE, VEV profile the shared shape out (closed form for fixed volumes) and minimise
  over the K log-volumes (:mod:`gaussmix.covariance.volumes`);
* EVE, VVE profile the eigenvalues out (closed form for a fixed orientation D) and minimise
  over the rotation angles of D (:mod:`gaussmix.covariance.orientation`).

Both inner problems are solved by safeguarded Newton steps
(:func:`gaussmix.covariance.newton.minimise`) with a slower step that never raises F as the
fallback (Celeux & Govaert's fixed point; plane-rotation sweeps), so no inner step raises F
beyond rounding.

**Warm start.** ``estimate(..., previous=covariances)`` starts the inner iteration from the
previous M-step's solution: its volumes (VEI, VEE, VEV) or its orientation (EVE, VVE, read
off the previous covariances). EM passes the current parameters, so near convergence the
inner iteration starts next to its solution. Without ``previous`` (the first M-step, or one
that re-seeds a component) it starts cold, from the volumes tr(W_k)/(d·n_k) or from the
eigenvectors of Σ_k W_k.

**Stopping.** The iteration stops after a full Newton step whose largest entry — a relative
change of a volume, or a rotation angle in radians — is at most ``tol`` (default 1e-10), or
after one whose successor would be, as the quadratic rate of the last two steps predicts; a
fallback step stops it when it changes no entry by more than ``tol``; at most ``max_iter``
(default 1000) steps. The covariance entries are then within about ``tol`` (relative) of the
optimum, far below what EM's tolerance on the mean log-likelihood can see. A rule tied to
EM's tolerance instead was not worth it: the convergence being quadratic, full precision
costs at most one step more (two to four Newton steps per M-step warm-started, measured on
faithful and iris by ``benchmarks/bench_msteps.py``), and each M-step's result would then
depend on EM's tolerance.

**Monotone guarantee** (:mod:`gaussmix.covariance.warm_start`). Every inner step lowers F
or leaves it unchanged, so starting from
the previous solution the M-step cannot end above it; as a guard against rounding (and a
warm start read off imperfectly), F is evaluated for the new covariances and for the
previous ones, and the previous covariances are returned unchanged whenever the new ones
are not better. ``previous`` is only trusted for this when it satisfies the model's
constraint (user-supplied ``precisions_init`` need not); otherwise it serves as a start only.
EM's log-likelihood therefore never decreases beyond rounding (generalised EM, Dempster,
Laird & Rubin 1977, §3).

**Singular scatter.** EVE and VVE let one component's shape degenerate, so a scatter matrix
that is singular to rounding (smallest eigenvalue at most 10·d·eps times the largest) makes
their optimum singular: the component is reported as collapsed
(:class:`~gaussmix.exceptions.CollapsedComponentError`), as VVV does, instead of being
iterated at the rounding floor.

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781–793, §3 (VEI, VEE, VEV).
Browne, R. P. and McNicholas, P. D. (2014). Estimating common principal components in
high dimensions. *Advances in Data Analysis and Classification* 8(2), 217–226 (EVE, VVE:
the eigenvalue updates for a fixed orientation).
Dempster, A. P., Laird, N. M. and Rubin, D. B. (1977). Maximum likelihood from incomplete
data via the EM algorithm. *JRSS B* 39(1), 1–38.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaussmix.covariance.base import Form, Orientation, ScatterKind
from gaussmix.covariance.constrained import check_scales
from gaussmix.covariance.decomposition import (
    PairObjective,
    eigh_descending,
    geometric_mean,
    regularized_scatter,
)
from gaussmix.covariance.forms import collapse_error
from gaussmix.covariance.orientation import (
    ProfiledObjective,
    eve_profile,
    fit_shared_orientation,
    vve_profile,
)
from gaussmix.covariance.volumes import fit_volumes
from gaussmix.covariance.warm_start import FEASIBLE_RTOL, matches, no_worse, usable_previous

__all__ = ["EVE", "VEE", "VEI", "VEV", "VVE"]

_TOL = 1e-10
_MAX_ITER = 1000

# Scatter matrices whose smallest eigenvalue is at most this many d·eps of the largest are
# singular to rounding: the accumulated scatter of points on a hyperplane has eigenvalues of
# a few eps relative (iris, 150 × 4: a 4-row cluster gives 1e-17 to 1e-15).
_SINGULAR_EPS = 10.0


def _off_diagonal(n_features: int) -> int:
    return n_features * (n_features - 1) // 2


def _initial_volumes(n_k: np.ndarray, traces: np.ndarray, n_features: int) -> np.ndarray:
    volumes = traces / (n_features * n_k)
    check_scales(volumes, n_k)
    return volumes


def _with_orientation(orientation: np.ndarray, eigenvalues: np.ndarray) -> np.ndarray:
    """D diag(e_k) Dᵀ for one shared D and each row e_k of ``eigenvalues``."""
    return (orientation * eigenvalues[:, None, :]) @ orientation.T


def _dense_volumes(previous: np.ndarray) -> np.ndarray | None:
    """|Σ_k|^{1/d} of positive definite matrices, or None if one is not."""
    sign, log_det = np.linalg.slogdet(previous)
    if not np.all(sign > 0):
        return None
    return np.exp(log_det / previous.shape[-1])


@dataclass(frozen=True)
class VEI:
    """VEI: Σ_k = λ_k A, axis-aligned covariances of one shape and varying volumes.

    Notes
    -----
    With B_k = diag(W_k): for fixed λ_k, A = S / |S|^{1/D} where S = Σ_k B_k / λ_k
    (Celeux & Govaert 1995); the λ_k minimise the profiled objective
    (:mod:`gaussmix.covariance.volumes`).
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
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances of shape (K, D) (see :meth:`CovarianceModel.estimate`)."""
        diagonals = regularized_scatter(n_k, scatter, reg_covar, n_features)
        previous = usable_previous(previous, diagonals.shape)
        volumes = None
        if previous is not None and np.all(previous > 0):
            volumes = geometric_mean(previous)
            shapes = previous / volumes[:, None]
            if not matches(volumes[:, None] * shapes[0], previous):
                previous = None
        else:
            previous = None
        # The cold volumes are checked even for a warm start, so that a component whose
        # scatter vanishes collapses whichever start the M-step has.
        cold = _initial_volumes(n_k, diagonals.sum(axis=1), n_features)
        volumes, shape = fit_volumes(
            diagonals, n_k, cold if volumes is None else volumes, self.tol, self.max_iter
        )
        return no_worse(n_k, diagonals, volumes[:, None] * shape, previous)


@dataclass(frozen=True)
class VEE:
    """VEE: Σ_k = λ_k C with |C| = 1, one ellipsoid of varying volume.

    Notes
    -----
    For fixed λ_k, C = S / |S|^{1/D} where S = Σ_k W_k / λ_k (Celeux & Govaert 1995); the
    λ_k minimise the profiled objective (:mod:`gaussmix.covariance.volumes`).
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
        previous = usable_previous(previous, matrices.shape)
        cold = _initial_volumes(n_k, np.trace(matrices, axis1=1, axis2=2), n_features)
        volumes = None if previous is None else _dense_volumes(previous)
        if volumes is None:
            previous, volumes = None, cold
        elif not matches(volumes[:, None, None] * (previous[0] / volumes[0]), previous):
            previous = None
        volumes, shape = fit_volumes(matrices, n_k, volumes, self.tol, self.max_iter)
        covariances = volumes[:, None, None] * shape
        return no_worse(n_k, matrices, covariances, previous)


@dataclass(frozen=True)
class VEV:
    """VEV: Σ_k = λ_k D_k A D_kᵀ, one shape, varying volumes and orientations.

    Notes
    -----
    With W_k = L_k Ω_k L_kᵀ (eigenvalues in decreasing order), D_k = L_k whatever λ_k
    and A (the smallest tr(Ω_k A⁻¹) pairs large eigenvalues with large shape entries, and
    A stays sorted). For fixed λ_k, A = S / |S|^{1/D} with S = Σ_k Ω_k / λ_k
    (Celeux & Govaert 1995); the λ_k minimise the profiled objective
    (:mod:`gaussmix.covariance.volumes`).
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
        eigenvalues, orientations = eigh_descending(matrices)
        eigenvalues = np.maximum(eigenvalues, 0.0)
        previous = usable_previous(previous, matrices.shape)
        volumes = None if previous is None else _dense_volumes(previous)
        if volumes is None:
            previous = None
        else:
            shapes = np.linalg.eigvalsh(previous)[:, ::-1] / volumes[:, None]
            if not matches(volumes[:, None] * shapes[0], volumes[:, None] * shapes):
                previous = None
        cold = _initial_volumes(n_k, eigenvalues.sum(axis=1), n_features)
        volumes, shape = fit_volumes(
            eigenvalues, n_k, cold if volumes is None else volumes, self.tol, self.max_iter
        )
        sigma_eigenvalues = volumes[:, None] * shape
        covariances = np.einsum("kij,kj,klj->kil", orientations, sigma_eigenvalues, orientations)
        return no_worse(n_k, matrices, covariances, previous)


def _shared_orientation_of(previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The orientation D shared by covariances D diag(e_k) Dᵀ, and the e_k in its axes.

    The eigenvectors of one generic combination Σ_k c_k Σ_k / tr(Σ_k) (distinct weights c_k)
    are D whenever the covariances share it; its eigenvalues coincide only along axes on
    which every Σ_k has equal eigenvalues, where any rotation serves equally well.
    """
    count = previous.shape[0]
    weights = 1.0 + np.arange(count) * (np.sqrt(5.0) - 1.0) / 2.0
    traces = np.trace(previous, axis1=1, axis2=2)
    _, orientation = eigh_descending(np.einsum("k,kij->ij", weights / traces, previous))
    eigenvalues = np.sum(orientation * (previous @ orientation), axis=1)
    return orientation, eigenvalues


def _check_nonsingular(matrices: np.ndarray, n_k: np.ndarray) -> None:
    """Raise the collapse error for a scatter matrix that is singular to rounding."""
    eigenvalues = np.linalg.eigvalsh(matrices)
    floor = _SINGULAR_EPS * matrices.shape[-1] * np.finfo(np.float64).eps
    bad = np.flatnonzero(~(eigenvalues[:, 0] > floor * eigenvalues[:, -1]))
    if bad.size:
        component = int(bad[0])
        raise collapse_error(
            component, float(n_k[component]), "its scatter matrix is singular to rounding"
        )


def _shared_orientation_estimate(
    matrices: np.ndarray,
    n_k: np.ndarray,
    previous: np.ndarray | None,
    profile: ProfiledObjective,
    pair_objective: PairObjective,
    eigenvalues_given_orientation,
    equal_volumes: bool,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """EVE's and VVE's M-step: the orientation by Newton, then the closed-form eigenvalues."""
    matrices = 0.5 * (matrices + np.swapaxes(matrices, 1, 2))
    _check_nonsingular(matrices, n_k)
    previous = usable_previous(previous, matrices.shape)
    start = None
    if previous is not None:
        start, previous_eigenvalues = _shared_orientation_of(previous)
        # Feasible: positive definite, diagonal in the shared axes, and (EVE) of one volume.
        feasible = bool((previous_eigenvalues > 0).all()) and matches(
            _with_orientation(start, previous_eigenvalues), previous
        )
        if feasible and equal_volumes:
            log_volumes = np.log(previous_eigenvalues).mean(axis=1)
            feasible = float(np.ptp(log_volumes)) <= FEASIBLE_RTOL
        if not feasible:
            previous = None
    else:
        start = eigh_descending(matrices.sum(axis=0))[1]
    orientation, _ = fit_shared_orientation(
        matrices, profile, pair_objective, start, tol, max_iter, float(np.sum(n_k))
    )
    diagonals = np.sum(orientation * (matrices @ orientation), axis=1)
    covariances = _with_orientation(orientation, eigenvalues_given_orientation(diagonals))
    return no_worse(n_k, matrices, covariances, previous)


@dataclass(frozen=True)
class EVE:
    """EVE: Σ_k = λ D A_k Dᵀ, equal volumes, one orientation, shapes that vary.

    Notes
    -----
    For a fixed D, with Ω_k = diag(Dᵀ W_k D): A_k = Ω_k / |Ω_k|^{1/D} and
    λ = Σ_k |Ω_k|^{1/D} / N (Browne & McNicholas 2014). D minimises the profiled objective
    N·D·log Σ_k |Ω_k|^{1/D} (:func:`~gaussmix.covariance.orientation.eve_profile`).
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
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
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

        return _shared_orientation_estimate(
            matrices,
            n_k,
            previous,
            eve_profile(n_k),
            pair_objective,
            eigenvalues,
            True,
            self.tol,
            self.max_iter,
        )


@dataclass(frozen=True)
class VVE:
    """VVE: Σ_k = λ_k D A_k Dᵀ, one orientation, volumes and shapes that vary.

    Notes
    -----
    For a fixed D, with Ω_k = diag(Dᵀ W_k D): λ_k A_k = Ω_k / n_k (Browne & McNicholas 2014).
    D minimises the profiled objective Σ_k n_k Σ_j log Ω_k,jj
    (:func:`~gaussmix.covariance.orientation.vve_profile`).
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
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
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

        return _shared_orientation_estimate(
            matrices,
            n_k,
            previous,
            vve_profile(n_k),
            pair_objective,
            eigenvalues,
            False,
            self.tol,
            self.max_iter,
        )
