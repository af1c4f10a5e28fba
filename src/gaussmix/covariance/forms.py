"""The four covariance forms as objects: compact shapes, precision factors, log-determinants.

Every covariance model stores its covariances in one of these forms, and the E-step
kernels only need to know the form, never the model. A form is a :class:`CovarianceForm`
member, a ``str`` (``CovarianceForm.FULL == "full"``), so code and files that hold the
plain names keep working; everything that depends on the layout asks the form.

=========  ====================  ================================  ================
form       covariance array      precision factor                  shared by all K
=========  ====================  ================================  ================
spherical  (K,) variances        (K,) ``1/σ``                      no
diagonal   (K, D) variances      (K, D) ``1/σ``                    no
tied       (D, D)                (D, D) upper U, ``Σ⁻¹ = U Uᵀ``    yes
full       (K, D, D)             (K, D, D) upper U, ``Σ⁻¹ = U Uᵀ`` no
=========  ====================  ================================  ================
"""

from __future__ import annotations

import enum
import functools
from typing import Any, Literal

import numpy as np

from gaussmix.exceptions import CollapsedComponentError

__all__ = [
    "CovarianceForm",
    "SecondMoment",
    "as_form",
    "collapse_error",
    "compact_shape",
    "covariances_from_precision_cholesky",
    "dense_covariances",
    "log_det_precision_cholesky",
    "precision_cholesky_from_covariances",
    "precision_cholesky_from_precisions",
]

SecondMoment = Literal["diagonal", "full"]
"""The second moment a chunk accumulates in its whitened basis: the diagonal of
``Σ r P Pᵀ`` or the whole matrix. Not a scatter kind (``"trace"``, ``"diagonal"``,
``"full"``), which says what the covariance model needs from the M-step's statistics:
:meth:`CovarianceForm.second_moment` maps one to the other."""

# SciPy's Cholesky refuses NaN/inf with a bare ValueError; name the component instead.
_NOT_FINITE = (
    "it has NaN or infinite entries (squared distances overflow when the data are of "
    "magnitude ~1e154 or more)"
)


class CovarianceForm(enum.StrEnum):
    """A covariance form: the layout of the covariance and precision-factor arrays.

    Members compare equal to their names (``CovarianceForm("tied") == "tied"``) and
    format as them. ``CovarianceForm(name)`` turns a name into its member.

    Attributes
    ----------
    elementwise : bool
        The precision factor scales each feature on its own (spherical, diagonal):
        ``1/σ``, no matrix. Otherwise it is an upper-triangular matrix that mixes
        features (tied, full).
    shared : bool
        One covariance for all components (tied).
    """

    SPHERICAL = "spherical", True, False
    DIAGONAL = "diagonal", True, False
    TIED = "tied", False, True
    FULL = "full", False, False

    elementwise: bool
    shared: bool

    def __new__(cls, value: str, elementwise: bool = False, shared: bool = False) -> CovarianceForm:
        member = str.__new__(cls, value)
        member._value_ = value
        member.elementwise = elementwise
        member.shared = shared
        return member

    def compact_shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of the covariance (and precision) array: see the module's table.

        Parameters
        ----------
        n_components, n_features : int
            K and D.

        Returns
        -------
        tuple of int
        """
        per_component = () if self is CovarianceForm.SPHERICAL else (n_features,)
        if self.elementwise:
            return (n_components, *per_component)
        head = () if self.shared else (n_components,)
        return (*head, n_features, n_features)

    def stacked(self, matrices: np.ndarray) -> np.ndarray:
        """A tied form's one (D, D) array as a stack of one, (1, D, D); others unchanged."""
        return matrices[None] if self.shared else matrices

    def component(self, index: int) -> int | None:
        """The component an index of the compact array names: None for the shared one."""
        return None if self.shared else int(index)

    def second_moment(self, scatter_kind: str) -> SecondMoment:
        """The whitened second moment the chunks accumulate to deliver a scatter kind.

        Parameters
        ----------
        scatter_kind : {"trace", "diagonal", "full"}
            The scatter kind the covariance model's M-step needs.

        Returns
        -------
        {"diagonal", "full"}
            Matrix factors mix coordinates, so the whitened moment must be the full
            matrix; elementwise factors only scale, so the diagonal suffices unless the
            model asks for the full scatter.
        """
        return "full" if not self.elementwise or scatter_kind == "full" else "diagonal"

    def feature_scales(self, factors: np.ndarray, n_features: int) -> np.ndarray:
        """(K, D) per-feature precision factors ``1/σ_kd`` of an elementwise form."""
        if self is CovarianceForm.SPHERICAL:
            return np.repeat(factors[:, None], n_features, 1)
        return factors

    def precisions(self, factors: np.ndarray) -> np.ndarray:
        """Precisions Σ⁻¹ in the compact shape: ``U Uᵀ``, or ``1/σ²`` elementwise.

        Parameters
        ----------
        factors : ndarray
            Precision Cholesky factors in the compact shape.

        Returns
        -------
        ndarray
        """
        if self.elementwise:
            return factors**2
        return factors @ np.swapaxes(factors, -1, -2)

    def log_det_precision_cholesky(self, factors: np.ndarray, n_features: int) -> np.ndarray:
        """Half the log-determinant of each precision, ½·log|Σ_k⁻¹| = Σ_d log U_dd.

        Parameters
        ----------
        factors : ndarray
            Precision Cholesky factors in the compact shape.
        n_features : int
            D (a spherical factor stands for D equal ones).

        Returns
        -------
        ndarray of shape (n_components,), or a scalar for the tied form
        """
        if self is CovarianceForm.SPHERICAL:
            return n_features * np.log(factors)
        if self.elementwise:
            return np.sum(np.log(factors), axis=1)
        return np.sum(np.log(np.diagonal(factors, axis1=-2, axis2=-1)), axis=-1)

    def variances(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        """The (K, D) diagonals of the spherical or diagonal form's matrices.

        Parameters
        ----------
        covariances : ndarray
            Covariances in the compact shape, (K,) or (K, D).
        n_features : int
            D.

        Returns
        -------
        ndarray of shape (n_components, n_features)
            The diagonal form's own array; a new array for the spherical form.

        Raises
        ------
        ValueError
            For the tied and full forms, whose matrices are not diagonal.
        """
        if not self.elementwise:
            raise ValueError(f"the {self} form's covariances are not diagonal")
        if self is CovarianceForm.DIAGONAL:
            return covariances
        return np.repeat(covariances[:, None], n_features, axis=1)

    def dense(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """Full (K, D, D) covariance matrices from the compact shape.

        Parameters
        ----------
        covariances : ndarray
            Covariances in the compact shape.
        n_components, n_features : int
            K and D (needed to expand the tied and spherical forms).

        Returns
        -------
        ndarray of shape (n_components, n_features, n_features)
            The full form's own array; a new array for the others.
        """
        if self.shared:
            return np.broadcast_to(covariances, (n_components, *covariances.shape)).copy()
        if not self.elementwise:
            return covariances
        dense = np.zeros(
            (n_components, n_features, n_features), np.result_type(covariances, np.float64)
        )
        # The diagonal of every (D, D) block: every (D + 1)-th entry of its flattened rows
        # (a third of the time of a product with the identity, paid every small fit).
        variances = covariances if self is CovarianceForm.DIAGONAL else covariances[:, None]
        dense.reshape(n_components, -1)[:, :: n_features + 1] = variances
        return dense

    def precision_cholesky(
        self, covariances: np.ndarray, n_k: np.ndarray | None = None
    ) -> np.ndarray:
        """Cholesky factors of the precisions, in the compact shape.

        Parameters
        ----------
        covariances : ndarray
            Covariances in the compact shape.
        n_k : ndarray of shape (n_components,), optional
            Effective number of points, only used to make the error message precise.

        Returns
        -------
        ndarray
            ``1/√σ²`` for the elementwise forms; the upper-triangular ``U`` with
            ``Σ⁻¹ = U Uᵀ`` for tied and full.

        Raises
        ------
        CollapsedComponentError
            If a covariance is not positive definite.
        """
        covariances = np.asarray(covariances, dtype=np.float64)
        if self.elementwise:
            return _elementwise_factors(covariances, n_k)
        if self.shared:
            return _shared_factor(covariances)
        return _component_factors(covariances, n_k)

    def precision_cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """Cholesky factors U (Σ⁻¹ = U Uᵀ, U upper triangular) from precision matrices.

        Parameters
        ----------
        precisions : ndarray
            Precisions in the compact shape; assumed already validated as positive
            (elementwise forms) or symmetric positive definite (tied, full).

        Returns
        -------
        ndarray
            Same shape as ``precisions``.

        Notes
        -----
        The factor is derived through the covariance Σ = P⁻¹ (one Cholesky solve), so it
        obeys the same upper-triangular convention as factors computed in the M-step.
        """
        if self.elementwise:
            return np.sqrt(precisions)

        # NumPy's stacked routines, all components in one call each (per-matrix SciPy
        # calls cost ~0.1 ms a component, a fixed cost of every fit from a given start).
        lower = np.linalg.cholesky(0.5 * (precisions + np.swapaxes(precisions, -1, -2)))
        inverse = np.linalg.inv(lower)
        return _cholesky_upper_precision(np.swapaxes(inverse, -1, -2) @ inverse)

    def covariances_from_precision_cholesky(self, factors: np.ndarray) -> np.ndarray:
        """Covariances Σ = (U Uᵀ)⁻¹ from precision Cholesky factors, same compact shape.

        Parameters
        ----------
        factors : ndarray
            Precision Cholesky factors in the compact shape.

        Returns
        -------
        ndarray
        """
        if self.elementwise:
            return 1.0 / factors**2

        # Σ = (U Uᵀ)⁻¹ = U⁻ᵀ U⁻¹: solving with U is stabler than inverting U Uᵀ.
        inverse = np.linalg.inv(factors)
        return np.swapaxes(inverse, -1, -2) @ inverse


def as_form(form: Any) -> CovarianceForm:
    """The :class:`CovarianceForm` of a form or its name.

    Parameters
    ----------
    form : CovarianceForm or {"spherical", "diagonal", "tied", "full"}

    Returns
    -------
    CovarianceForm

    Raises
    ------
    ValueError
        For any other name.
    """
    if type(form) is CovarianceForm:
        return form
    try:
        return CovarianceForm(form)
    except ValueError:
        raise ValueError(
            f"A covariance form must be one of {[member.value for member in CovarianceForm]}; "
            f"got {form!r}."
        ) from None


def compact_shape(form: Any, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of the covariance array of a form: :meth:`CovarianceForm.compact_shape`."""
    return as_form(form).compact_shape(n_components, n_features)


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
    # The inverse may leave rounding noise above the diagonal; U is triangular by
    # definition. np.triu's own zeroing, with its mask made once per D (np.triu builds it
    # every call: half the cost of factorising a small fit's three 5 × 5 matrices). inv is
    # LAPACK's gesv against the identity, as solve(L, I) is, at half solve's fixed cost
    # (the same bits: tests/covariance/test_form_objects.py).
    inverse = np.linalg.inv(lower)
    below = _below_diagonal(covariances.shape[-1])
    return np.where(below, np.zeros(1, inverse.dtype), np.swapaxes(inverse, -1, -2))


@functools.lru_cache(maxsize=16)
def _below_diagonal(n_features: int) -> np.ndarray:
    """The read-only (D, D) mask of the entries below the diagonal."""
    below = np.tri(n_features, n_features, -1, dtype=bool)
    below.flags.writeable = False
    return below


def _elementwise_factors(variances: np.ndarray, n_k: np.ndarray | None) -> np.ndarray:
    """``1/√σ²`` of spherical or diagonal variances; names the first non-positive one."""
    # `not > 0` also catches NaN variances.
    bad = ~(variances > 0)
    if np.any(bad):
        where = tuple(np.argwhere(bad)[0])
        component = int(where[0])
        count = None if n_k is None else float(n_k[component])
        raise collapse_error(component, count, f"got a variance of {variances[where]:.6g}")
    return 1.0 / np.sqrt(variances)


def _shared_factor(covariance: np.ndarray) -> np.ndarray:
    """U of one shared (D, D) covariance."""
    if not np.all(np.isfinite(covariance)):
        raise collapse_error(None, None, _NOT_FINITE)
    try:
        return _cholesky_upper_precision(covariance)
    except np.linalg.LinAlgError:
        raise collapse_error(None, None, "its Cholesky factorisation failed") from None


def _component_factors(covariances: np.ndarray, n_k: np.ndarray | None) -> np.ndarray:
    """U_k of a (K, D, D) stack, in one call; names the first component that fails."""
    try:
        if np.isfinite(covariances).all():
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


def precision_cholesky_from_covariances(
    covariances: np.ndarray, form: Any, n_k: np.ndarray | None = None
) -> np.ndarray:
    """Cholesky factors of the precisions: :meth:`CovarianceForm.precision_cholesky`.

    Parameters
    ----------
    covariances : ndarray
        Covariances in the compact shape of ``form``.
    form : CovarianceForm or its name
        The covariance form.
    n_k : ndarray of shape (n_components,), optional
        Effective number of points, only used to make the error message precise.

    Returns
    -------
    ndarray

    Raises
    ------
    CollapsedComponentError
        If a covariance is not positive definite.
    """
    return as_form(form).precision_cholesky(covariances, n_k)


def precision_cholesky_from_precisions(precisions: np.ndarray, form: Any) -> np.ndarray:
    """Precision factors from precisions: :meth:`CovarianceForm.precision_cholesky_from_precisions`.

    Parameters
    ----------
    precisions : ndarray
        Precisions in the compact shape of ``form``, already validated.
    form : CovarianceForm or its name

    Returns
    -------
    ndarray
    """
    return as_form(form).precision_cholesky_from_precisions(precisions)


def covariances_from_precision_cholesky(factors: np.ndarray, form: Any) -> np.ndarray:
    """Covariances from factors: :meth:`CovarianceForm.covariances_from_precision_cholesky`.

    Parameters
    ----------
    factors : ndarray
        Precision Cholesky factors in the compact shape of ``form``.
    form : CovarianceForm or its name

    Returns
    -------
    ndarray
    """
    return as_form(form).covariances_from_precision_cholesky(factors)


def log_det_precision_cholesky(factors: np.ndarray, form: Any, n_features: int) -> np.ndarray:
    """½·log|Σ_k⁻¹|: :meth:`CovarianceForm.log_det_precision_cholesky`.

    Parameters
    ----------
    factors : ndarray
        Precision Cholesky factors in the compact shape of ``form``.
    form : CovarianceForm or its name
    n_features : int
        D.

    Returns
    -------
    ndarray of shape (n_components,) or a scalar for the tied form
    """
    return as_form(form).log_det_precision_cholesky(factors, n_features)


def dense_covariances(
    covariances: np.ndarray, form: Any, n_components: int, n_features: int
) -> np.ndarray:
    """Full (K, D, D) covariance matrices: :meth:`CovarianceForm.dense`.

    Parameters
    ----------
    covariances : ndarray
        Covariances in the compact shape of ``form``.
    form : CovarianceForm or its name
    n_components, n_features : int
        K and D.

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)
    """
    return as_form(form).dense(covariances, n_components, n_features)
