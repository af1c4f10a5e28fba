"""A single Gaussian: numerically stable log-density and closed-form maximum-likelihood fit."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from gaussmix.exceptions import InvalidInputError
from gaussmix.validation import check_data, check_finite, check_sample_weight

__all__ = ["Gaussian", "gaussian_log_pdf", "maximum_likelihood"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _as_rows(X: Any, n_features: int | None = None) -> np.ndarray:
    """Rows of a 2-D array; a 1-D array is read as univariate points (one per entry)."""
    array = np.asarray(X, dtype=np.float64)
    if array.ndim == 1 and n_features in (None, 1):
        array = array[:, None]
    elif array.ndim == 0 or array.ndim > 2:
        raise InvalidInputError(
            "X must be 1-D (univariate points) or 2-D of shape (n_samples, n_features); got an "
            f"array of shape {array.shape}."
        )
    if array.ndim == 1 or (n_features is not None and array.shape[1] != n_features):
        raise InvalidInputError(
            f"X must have {n_features} features; got an array of shape {array.shape}."
        )
    check_finite(array)
    return array


def gaussian_log_pdf(X: Any, mean: Any, covariance: Any) -> np.ndarray:
    """Log-density of a (multivariate) Gaussian at each row of X.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples,)
        Points; a 1-D array holds univariate points.
    mean : array-like of shape (n_features,) or scalar
        μ.
    covariance : array-like of shape (n_features, n_features) or scalar
        Σ, symmetric positive definite (a variance for univariate data).

    Returns
    -------
    ndarray of shape (n_samples,)

    Notes
    -----
    With Σ = L Lᵀ (Cholesky) and z = L⁻¹(x − μ) from a triangular solve,
    log N(x | μ, Σ) = −½ (D log 2π + ‖z‖²) − Σ_d log L_dd. No inverse or determinant is
    formed, so the result stays accurate for ill-scaled covariances.
    """
    mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
    covariance = np.atleast_2d(np.asarray(covariance, dtype=np.float64))
    n_features = mean.shape[0]
    if covariance.shape != (n_features, n_features):
        raise InvalidInputError(
            f"covariance must have shape ({n_features}, {n_features}) to match the mean; got "
            f"{covariance.shape}."
        )
    rows = _as_rows(X, n_features)
    try:
        lower = linalg.cholesky(0.5 * (covariance + covariance.T), lower=True)
    except linalg.LinAlgError:
        raise InvalidInputError(
            "covariance must be symmetric positive definite; its Cholesky factorisation "
            "failed. Add a small value to its diagonal."
        ) from None
    whitened = linalg.solve_triangular(lower, (rows - mean).T, lower=True)
    half_log_det = np.sum(np.log(np.diag(lower)))
    return -0.5 * (n_features * _LOG_2PI + np.sum(whitened**2, axis=0)) - half_log_det


def maximum_likelihood(X: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form maximum-likelihood mean and covariance (1/N divisor), optionally weighted.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples,)
        Points; a 1-D array holds univariate points.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights.

    Returns
    -------
    mean : ndarray of shape (n_features,)
        ``Σ w x / Σ w``.
    covariance : ndarray of shape (n_features, n_features)
        ``Σ w (x − μ)(x − μ)ᵀ / Σ w`` (biased: the ML estimate).
    """
    rows = _as_rows(X)
    if rows.shape[0] == 0:
        raise InvalidInputError("X must have at least one row; got an empty array.")
    weights = check_sample_weight(sample_weight, rows.shape[0], np.float64)
    if weights is None:
        weights = np.ones(rows.shape[0])
    total = weights.sum()
    mean = weights @ rows / total
    centred = rows - mean
    covariance = (centred * weights[:, None]).T @ centred / total
    return mean, 0.5 * (covariance + covariance.T)


class Gaussian(DensityMixin, BaseEstimator):
    """A single Gaussian distribution with its maximum-likelihood fit.

    Univariate when fitted on a 1-D array (``mean_`` and ``covariance_`` are then
    scalars), multivariate otherwise.

    Attributes
    ----------
    mean_ : float or ndarray of shape (n_features,)
        Maximum-likelihood mean.
    covariance_ : float or ndarray of shape (n_features, n_features)
        Maximum-likelihood covariance (divisor Σ w, i.e. N without weights); the
        variance for univariate data.
    n_features_in_ : int
        Dimension of the data.

    Examples
    --------
    >>> from gaussmix import Gaussian
    >>> g = Gaussian().fit([1.0, 2.0, 3.0])
    >>> float(g.mean_), round(float(g.covariance_), 4)
    (2.0, 0.6667)
    """

    def _rows(self, X: Any, *, reset: bool) -> tuple[np.ndarray, bool]:
        """Validated float64 rows of X, and whether X was 1-D (univariate points)."""
        # np.asarray rather than np.ndim: array-likes that only implement __array__
        # refuse other NumPy functions.
        try:
            univariate = np.asarray(X).ndim == 1
        except ValueError:
            univariate = False
        if univariate:
            X = np.asarray(X)[:, None]
        rows = check_data(self, X, reset=reset)
        return rows.astype(np.float64, copy=False), univariate

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Gaussian:
        """Maximum-likelihood estimates of the mean and covariance.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
            Training points; 1-D input is univariate.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : Gaussian
        """
        rows, univariate = self._rows(X, reset=True)
        mean, covariance = maximum_likelihood(rows, sample_weight)
        self.univariate_ = univariate
        self.n_features_in_ = mean.shape[0]
        self.mean_ = float(mean[0]) if univariate else mean
        self.covariance_ = float(covariance[0, 0]) if univariate else covariance
        return self

    def logpdf(self, X: Any) -> np.ndarray:
        """Log-density at each point.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
            Points; 1-D input is univariate.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, ["mean_", "covariance_"])
        rows, _ = self._rows(X, reset=False)
        return gaussian_log_pdf(rows, self.mean_, self.covariance_)

    def pdf(self, X: Any) -> np.ndarray:
        """Density at each point, ``exp(logpdf(X))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
            Points.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return np.exp(self.logpdf(X))

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-density at each point (alias of :meth:`logpdf`, scikit-learn's name).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
            Points.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.logpdf(X)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-density of the points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
            Points.
        y : None
            Ignored.

        Returns
        -------
        float
        """
        return float(np.mean(self.logpdf(X)))

    def sample(self, n_samples: int = 1, random_state: Any = None) -> np.ndarray:
        """Draw points from the fitted Gaussian.

        Parameters
        ----------
        n_samples : int, default=1
            Number of points.
        random_state : int, RandomState instance or None
            Seed.

        Returns
        -------
        ndarray of shape (n_samples,) if univariate, else (n_samples, n_features)
        """
        check_is_fitted(self, ["mean_", "covariance_"])
        rng = check_random_state(random_state)
        mean = np.atleast_1d(self.mean_)
        lower = np.linalg.cholesky(np.atleast_2d(self.covariance_))
        draws = mean + rng.standard_normal((n_samples, mean.shape[0])) @ lower.T
        return draws[:, 0] if self.univariate_ else draws
