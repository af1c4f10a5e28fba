"""Per-chunk mathematics: log-densities, responsibilities and sufficient statistics.

These functions touch the data (rows × D). They work on one chunk of rows at a time,
keep the data's dtype (float32 stays float32) and return statistics in float64.

References
----------
Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §9.2.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from gaussmix.covariance.base import ScatterKind
from gaussmix.covariance.forms import log_det_precision_cholesky
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "accumulate_statistics",
    "chunk_statistics",
    "log_gaussian_density",
    "log_responsibilities",
    "weighted_log_prob",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


def log_gaussian_density(X: np.ndarray, parameters: MixtureParameters) -> np.ndarray:
    """Log-density of every row under every component, log N(x_n | μ_k, Σ_k).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        One chunk of rows, float32 or float64.
    parameters : MixtureParameters
        The mixture; its arrays are cast to the dtype of ``X``.

    Returns
    -------
    ndarray of shape (n_samples, n_components), dtype of ``X``

    Notes
    -----
    log N(x | μ, Σ) = −½ D log 2π + log|U| − ½ ‖(x − μ)ᵀ U‖² with Σ⁻¹ = U Uᵀ.
    The difference x − μ is formed before any product, so that data far from the
    origin keep their precision (no expansion of the square).
    """
    dtype = X.dtype
    n_samples, n_features = X.shape
    form = parameters.form
    means = parameters.means.astype(dtype, copy=False)
    factors = parameters.precisions_cholesky.astype(dtype, copy=False)
    n_components = means.shape[0]
    log_det = log_det_precision_cholesky(parameters.precisions_cholesky, form, n_features).astype(
        dtype
    )

    mahalanobis = np.empty((n_samples, n_components), dtype=dtype)
    for k in range(n_components):
        diff = X - means[k]
        if form == "full":
            projected = diff @ factors[k]
        elif form == "tied":
            projected = diff @ factors
        else:
            # Spherical (a scalar per component) and diagonal (a vector) both scale.
            projected = diff * factors[k]
        mahalanobis[:, k] = np.einsum("ij,ij->i", projected, projected)
    return (-0.5 * (n_features * _LOG_2PI + mahalanobis) + log_det).astype(dtype, copy=False)


def weighted_log_prob(X: np.ndarray, parameters: MixtureParameters) -> np.ndarray:
    """log π_k + log N(x_n | μ_k, Σ_k) for every row and component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        One chunk of rows.
    parameters : MixtureParameters
        The mixture.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    # A weight of exactly zero is a component that cannot own any point: log 0 = −inf
    # gives it responsibility 0 without a warning.
    with np.errstate(divide="ignore"):
        log_weights = np.log(parameters.weights).astype(X.dtype)
    return log_gaussian_density(X, parameters) + log_weights


def log_responsibilities(weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise weighted log-probabilities into log-responsibilities by Bayes' rule.

    Parameters
    ----------
    weighted : ndarray of shape (n_samples, n_components)
        Output of :func:`weighted_log_prob`.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
        log p(x_n) = logsumexp_k of the weighted log-probabilities.
    log_resp : ndarray of shape (n_samples, n_components)
        log γ(z_nk) = weighted − log_norm.

    Notes
    -----
    The normalisation is done in log space (log-sum-exp), so responsibilities stay
    exact for points whose every density underflows in linear space.
    """
    log_norm = logsumexp(weighted, axis=1)
    return log_norm, weighted - log_norm[:, None]


def accumulate_statistics(
    X: np.ndarray,
    responsibilities: np.ndarray,
    sample_weight: np.ndarray | None,
    shift: np.ndarray,
    kind: ScatterKind,
    log_likelihood: float = 0.0,
) -> SufficientStatistics:
    """Sufficient statistics of one chunk for given responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        One chunk of rows.
    responsibilities : ndarray of shape (n_samples, n_components)
        γ_nk, rows summing to one.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights w_n; None means all ones.
    shift : ndarray of shape (n_components, n_features)
        The shift c_k (the current means).
    kind : {"trace", "diagonal", "full"}
        How much of the scatter to keep.
    log_likelihood : float, default=0.0
        ``Σ w_n log p(x_n)`` of this chunk, stored as is.

    Returns
    -------
    SufficientStatistics
        In float64.
    """
    dtype = X.dtype
    weighted_resp = responsibilities.astype(dtype, copy=False)
    if sample_weight is not None:
        weighted_resp = weighted_resp * sample_weight.astype(dtype, copy=False)[:, None]
    n_components, n_features = shift.shape
    shift_cast = shift.astype(dtype)
    weighted_sum = np.empty((n_components, n_features))
    if kind == "full":
        scatter = np.empty((n_components, n_features, n_features))
    elif kind == "diagonal":
        scatter = np.empty((n_components, n_features))
    else:
        scatter = np.empty(n_components)
    for k in range(n_components):
        diff = X - shift_cast[k]
        column = weighted_resp[:, k]
        weighted_sum[k] = column @ diff
        if kind == "full":
            scatter[k] = (diff * column[:, None]).T @ diff
        elif kind == "diagonal":
            scatter[k] = column @ (diff * diff)
        else:
            scatter[k] = column @ np.einsum("ij,ij->i", diff, diff)
    if sample_weight is None:
        total_weight = float(X.shape[0])
    else:
        total_weight = float(np.sum(sample_weight, dtype=np.float64))
    return SufficientStatistics(
        n_k=np.sum(weighted_resp, axis=0, dtype=np.float64),
        weighted_sum=weighted_sum,
        scatter=scatter,
        shift=np.asarray(shift, dtype=np.float64),
        total_weight=total_weight,
        log_likelihood=float(log_likelihood),
    )


def chunk_statistics(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    parameters: MixtureParameters,
    kind: ScatterKind,
) -> SufficientStatistics:
    """E-step on one chunk: responsibilities under ``parameters`` and their statistics.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        One chunk of rows.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None means all ones.
    parameters : MixtureParameters
        The current mixture; its means are the shift of the statistics.
    kind : {"trace", "diagonal", "full"}
        The scatter kind the covariance model needs.

    Returns
    -------
    SufficientStatistics
    """
    log_norm, log_resp = log_responsibilities(weighted_log_prob(X, parameters))
    if sample_weight is None:
        log_likelihood = np.sum(log_norm, dtype=np.float64)
    else:
        # Rows of weight zero must not contribute, even where their density underflows.
        contributing = sample_weight > 0
        log_likelihood = np.sum(
            sample_weight[contributing] * log_norm[contributing], dtype=np.float64
        )
    return accumulate_statistics(
        X, np.exp(log_resp), sample_weight, parameters.means, kind, log_likelihood
    )
