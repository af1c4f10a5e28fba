"""The parameters of a Gaussian mixture: weights, means, covariances and their precisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaussmix.covariance.forms import CovarianceForm, as_form

__all__ = ["MixtureParameters"]


@dataclass(frozen=True)
class MixtureParameters:
    """Weights, means and covariances of a mixture, with the Cholesky factors of the precisions.

    Parameters
    ----------
    weights : ndarray of shape (n_components,)
        Mixing proportions π_k, non-negative and summing to one.
    means : ndarray of shape (n_components, n_features)
        Component means μ_k.
    covariances : ndarray
        Covariances in the compact shape of the covariance model's form:
        ``(n_components,)`` spherical, ``(n_components, n_features)`` diagonal,
        ``(n_features, n_features)`` tied, ``(n_components, n_features, n_features)`` full.
    precisions_cholesky : ndarray
        Same shape as ``covariances``. For the full and tied forms, the upper-triangular
        ``U`` with ``Σ⁻¹ = U Uᵀ``; for the spherical and diagonal forms, ``1/√σ²``.
    form : CovarianceForm or {"spherical", "diagonal", "tied", "full"}
        Which density kernel reads these arrays; a name is turned into its
        :class:`~gaussmix.covariance.forms.CovarianceForm`, so ``form`` is always one
        (and still equals its name).

    Notes
    -----
    Precisions are kept as Cholesky factors so that the log-determinant is the sum of
    the logarithms of their diagonal and no explicit inverse is ever formed.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    form: CovarianceForm

    def __post_init__(self) -> None:
        if type(self.form) is not CovarianceForm:
            object.__setattr__(self, "form", as_form(self.form))

    @property
    def n_components(self) -> int:
        """Number of mixture components K."""
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        """Dimension D of the data."""
        return self.means.shape[1]

    def precisions(self) -> np.ndarray:
        """Precision matrices Σ⁻¹ in the compact shape of the form.

        Returns
        -------
        ndarray
            ``U Uᵀ`` for the full and tied forms; ``1/σ²`` for spherical and diagonal.
        """
        return self.form.precisions(self.precisions_cholesky)
