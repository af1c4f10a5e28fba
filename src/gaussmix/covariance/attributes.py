"""Public covariance attributes: scikit-learn's compact shapes or dense (K, D, D) matrices.

A model asked for by its scikit-learn name (``"full"``, ``"tied"``, ``"diag"``,
``"spherical"``) reports scikit-learn's shapes; asked for by its mclust code it reports
dense (n_components, n_features, n_features) matrices whatever its form, so that all
fourteen models can be compared array by array. Internally the parameters always stay in
the compact form, which is what the density kernels read.
"""

from __future__ import annotations

import numpy as np

from gaussmix.covariance.base import CovarianceModel, Form
from gaussmix.covariance.forms import dense_covariances

__all__ = ["compact_from_dense", "public_form", "reports_dense", "to_public"]


def reports_dense(covariance_type: str, model: CovarianceModel) -> bool:
    """Whether the fitted covariance arrays are reported as dense (K, D, D) matrices.

    Parameters
    ----------
    covariance_type : str
        The name the user gave.
    model : CovarianceModel
        The model it names.

    Returns
    -------
    bool
        False for the scikit-learn names, true for mclust codes.
    """
    return covariance_type not in model.aliases


def public_form(covariance_type: str, model: CovarianceModel) -> Form:
    """The form whose shape the public covariance arrays have.

    Parameters
    ----------
    covariance_type : str
        The name the user gave.
    model : CovarianceModel
        The model it names.

    Returns
    -------
    {"spherical", "diagonal", "tied", "full"}
    """
    return "full" if reports_dense(covariance_type, model) else model.form


def to_public(
    array: np.ndarray, form: Form, dense: bool, n_components: int, n_features: int
) -> np.ndarray:
    """A covariance, precision or precision-Cholesky array in its public shape.

    Parameters
    ----------
    array : ndarray
        In the compact shape of ``form`` with K = number of components.
    form : {"spherical", "diagonal", "tied", "full"}
        The model's form.
    dense : bool
        Whether to expand to (K, D, D).
    n_components, n_features : int
        K and D.

    Returns
    -------
    ndarray

    Notes
    -----
    Covariances, precisions and their Cholesky factors are all diagonal for the spherical
    and diagonal forms, so one expansion serves all three.
    """
    if not dense:
        return array
    return dense_covariances(array, form, n_components, n_features)


def compact_from_dense(array: np.ndarray, form: Form) -> np.ndarray:
    """Back from dense (K, D, D) matrices to the compact shape of ``form``.

    Parameters
    ----------
    array : ndarray of shape (n_components, n_features, n_features)
        Dense matrices (covariances, precisions or precision Cholesky factors).
    form : {"spherical", "diagonal", "tied", "full"}
        The model's form.

    Returns
    -------
    ndarray
        The diagonal (diagonal form), the mean of the diagonal (spherical), the first
        matrix (tied), or the matrices themselves (full).
    """
    if form == "full":
        return array
    if form == "tied":
        return array[0]
    diagonal = np.diagonal(array, axis1=1, axis2=2)
    return diagonal.copy() if form == "diagonal" else diagonal.mean(axis=1)
