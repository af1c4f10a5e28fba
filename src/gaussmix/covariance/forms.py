"""The four covariance forms: compact shapes, precision Cholesky factors and log-determinants.

Every covariance model stores its covariances in one of these forms, and the E-step
kernel only needs to know the form, never the model.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from gaussmix.covariance.base import Form
from gaussmix.exceptions import CollapsedComponentError

__all__ = [
    "collapse_error",
    "compact_shape",
    "dense_covariances",
    "log_det_precision_cholesky",
    "precision_cholesky_from_covariances",
    "precision_cholesky_from_precisions",
]


# SciPy's Cholesky refuses NaN/inf with a bare ValueError; name the component instead.
_NOT_FINITE = (
    "it has NaN or infinite entries (squared distances overflow when the data are of "
    "magnitude ~1e154 or more)"
)


def compact_shape(form: Form, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of the covariance (and precision) array of a form.

    Parameters
    ----------
    form : {"spherical", "diagonal", "tied", "full"}
        The covariance form.
    n_components, n_features : int
        K and D.

    Returns
    -------
    tuple of int
    """
    return {
        "spherical": (n_components,),
        "diagonal": (n_components, n_features),
        "tied": (n_features, n_features),
        "full": (n_components, n_features, n_features),
    }[form]


def collapse_error(
    component: int | None, n_k: float | None, detail: str
) -> CollapsedComponentError:
    """Build the error raised when a component's covariance is not positive definite.

    Parameters
    ----------
    component : int or None
        Index of the offending component (None for a tied covariance).
    n_k : float or None
        Its effective number of points, when known.
    detail : str
        What was observed.

    Returns
    -------
    CollapsedComponentError
    """
    who = "the shared (tied) covariance" if component is None else f"component {component}"
    support = "" if n_k is None else f" (n_k = {n_k:.6g} effective points)"
    return CollapsedComponentError(
        f"The covariance of {who}{support} must be positive definite; {detail}. "
        "The component has collapsed onto too few or collinear points. Remedies: raise "
        "reg_covar (e.g. reg_covar=1e-4), use fewer components, standardise the features, "
        "or remove duplicated rows and constant columns.",
        component=component,
        n_k=n_k,
    )


def _cholesky_upper_precision(covariances: np.ndarray) -> np.ndarray:
    """Upper-triangular U with Σ⁻¹ = U Uᵀ for one (D, D) or a stack of (K, D, D) covariances.

    From the lower Cholesky factor L of Σ, U = L⁻ᵀ. NumPy's stacked routines factor all
    components in one call: per-matrix SciPy calls cost far more than the arithmetic for
    the small D of most mixtures.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a covariance is not positive definite.
    """
    symmetric = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
    lower = np.linalg.cholesky(symmetric)
    identity = np.broadcast_to(np.eye(covariances.shape[-1]), lower.shape)
    # The solve may leave rounding noise above the diagonal; U is triangular by definition.
    return np.triu(np.swapaxes(np.linalg.solve(lower, identity), -1, -2))


def precision_cholesky_from_covariances(
    covariances: np.ndarray, form: Form, n_k: np.ndarray | None = None
) -> np.ndarray:
    """Cholesky factors of the precisions, in the compact shape of the form.

    Parameters
    ----------
    covariances : ndarray
        Covariances in the compact shape of ``form``.
    form : {"spherical", "diagonal", "tied", "full"}
        The covariance form.
    n_k : ndarray of shape (n_components,), optional
        Effective number of points, only used to make the error message precise.

    Returns
    -------
    ndarray
        ``1/√σ²`` for spherical and diagonal; the upper-triangular ``U`` with ``Σ⁻¹ = U Uᵀ``
        for tied and full.

    Raises
    ------
    CollapsedComponentError
        If a covariance is not positive definite.
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    if form in ("spherical", "diagonal"):
        # `not > 0` also catches NaN variances.
        bad = ~(covariances > 0)
        if np.any(bad):
            where = tuple(np.argwhere(bad)[0])
            component = int(where[0])
            count = None if n_k is None else float(n_k[component])
            raise collapse_error(component, count, f"got a variance of {covariances[where]:.6g}")
        return 1.0 / np.sqrt(covariances)
    if form == "tied":
        if not np.all(np.isfinite(covariances)):
            raise collapse_error(None, None, _NOT_FINITE)
        try:
            return _cholesky_upper_precision(covariances)
        except np.linalg.LinAlgError:
            raise collapse_error(None, None, "its Cholesky factorisation failed") from None
    try:
        if np.all(np.isfinite(covariances)):
            return _cholesky_upper_precision(covariances)
    except np.linalg.LinAlgError:
        pass
    # Some component failed: find the first one to name it in the error.
    for component, covariance in enumerate(covariances):
        count = None if n_k is None else float(n_k[component])
        if not np.all(np.isfinite(covariance)):
            raise collapse_error(component, count, _NOT_FINITE)
        try:
            _cholesky_upper_precision(covariance)
        except np.linalg.LinAlgError:
            raise collapse_error(component, count, "its Cholesky factorisation failed") from None
    # Factorised one by one every component succeeded: name none, but still refuse.
    raise collapse_error(None, None, "the joint Cholesky factorisation failed")


def precision_cholesky_from_precisions(precisions: np.ndarray, form: Form) -> np.ndarray:
    """Cholesky factors U (Σ⁻¹ = U Uᵀ, U upper triangular) from precision matrices.

    Parameters
    ----------
    precisions : ndarray
        Precisions in the compact shape of ``form``; assumed already validated as
        positive (spherical, diagonal) or symmetric positive definite (tied, full).
    form : {"spherical", "diagonal", "tied", "full"}
        The covariance form.

    Returns
    -------
    ndarray
        Same shape as ``precisions``.

    Notes
    -----
    The factor is derived through the covariance Σ = P⁻¹ (one Cholesky solve), so it
    obeys the same upper-triangular convention as factors computed in the M-step.
    """
    if form in ("spherical", "diagonal"):
        return np.sqrt(precisions)

    def upper(precision: np.ndarray) -> np.ndarray:
        factor = linalg.cho_factor(0.5 * (precision + precision.T), lower=True)
        covariance = linalg.cho_solve(factor, np.eye(precision.shape[0]))
        return _cholesky_upper_precision(covariance)

    if form == "tied":
        return upper(precisions)
    return np.stack([upper(precision) for precision in precisions])


def covariances_from_precision_cholesky(factors: np.ndarray, form: Form) -> np.ndarray:
    """Covariances Σ = (U Uᵀ)⁻¹ from precision Cholesky factors.

    Parameters
    ----------
    factors : ndarray
        Precision Cholesky factors in the compact shape of ``form``.
    form : {"spherical", "diagonal", "tied", "full"}
        The covariance form.

    Returns
    -------
    ndarray
        Covariances, same shape.
    """
    if form in ("spherical", "diagonal"):
        return 1.0 / factors**2

    def invert(factor: np.ndarray) -> np.ndarray:
        # Σ = U⁻ᵀ U⁻¹; a triangular solve is stabler than inverting U Uᵀ.
        inverse = linalg.solve_triangular(factor, np.eye(factor.shape[0]), lower=False)
        return inverse @ inverse.T

    if form == "tied":
        return invert(factors)
    return np.stack([invert(factor) for factor in factors])


def log_det_precision_cholesky(factors: np.ndarray, form: Form, n_features: int) -> np.ndarray:
    """Half the log-determinant of each precision, ½·log|Σ_k⁻¹| = Σ_d log U_dd.

    Parameters
    ----------
    factors : ndarray
        Precision Cholesky factors in the compact shape of ``form``.
    form : {"spherical", "diagonal", "tied", "full"}
        The covariance form.
    n_features : int
        D, needed for the spherical form.

    Returns
    -------
    ndarray of shape (n_components,) or a scalar for the tied form
    """
    if form == "spherical":
        return n_features * np.log(factors)
    if form == "diagonal":
        return np.sum(np.log(factors), axis=1)
    return np.sum(np.log(np.diagonal(factors, axis1=-2, axis2=-1)), axis=-1)


def dense_covariances(
    covariances: np.ndarray, form: Form, n_components: int, n_features: int
) -> np.ndarray:
    """Full (K, D, D) covariance matrices from the compact shape of any form.

    Parameters
    ----------
    covariances : ndarray
        Covariances in the compact shape of ``form``.
    form : {"spherical", "diagonal", "tied", "full"}
        The covariance form.
    n_components, n_features : int
        K and D (needed to expand the tied and spherical forms).

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)
    """
    if form == "full":
        return covariances
    if form == "tied":
        return np.broadcast_to(covariances, (n_components, *covariances.shape)).copy()
    identity = np.eye(n_features)
    if form == "diagonal":
        return covariances[:, :, None] * identity
    return covariances[:, None, None] * identity
