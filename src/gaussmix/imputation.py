"""GaussianMixtureImputer: fill missing entries from a mixture fitted to the observed data.

``fit`` fits a :class:`~gaussmix.GaussianMixture` with ``missing="em"`` (the
observed-data likelihood, :mod:`gaussmix.missing`); ``transform`` replaces each NaN by
its conditional mean under the mixture, ``Σ_k r_k E[x_m | x_o, k]`` with r_k the
responsibilities of the observed entries, or, with ``sample_posterior=True``, by a draw
from the conditional distribution (multiple imputation, as scikit-learn's
``IterativeImputer(sample_posterior=True)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from gaussmix.estimator import GaussianMixture
from gaussmix.missing import conditional_completion
from gaussmix.validation import check_number

__all__ = ["GaussianMixtureImputer"]


class GaussianMixtureImputer(TransformerMixin, BaseEstimator):
    """Impute missing values (NaN) with a Gaussian mixture fitted by EM to the observed data.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components; 1 gives the maximum-likelihood multivariate normal
        (conditional means are then the regression imputation of that normal).
    covariance_type : str, default="full"
        Any covariance model of :class:`~gaussmix.GaussianMixture`. Diagonal and
        spherical models have no correlation within a component: they impute the
        responsibility-weighted component means.
    sample_posterior : bool, default=False
        Draw each row's missing entries from their conditional distribution (a component
        drawn from the responsibilities, then a Gaussian draw) instead of filling the
        conditional mean.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixture's start and the draws of ``sample_posterior``. As in
        scikit-learn, an integer gives the same draws at every ``transform``.
    tol, reg_covar, max_iter, n_init, init_params
        As :class:`~gaussmix.GaussianMixture`'s parameters of the same names.

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture (``missing="em"``).
    n_iter_ : int
        Its number of EM iterations.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when X was a DataFrame with string column names.

    Notes
    -----
    ``fit`` refuses rows with no observed entry; ``transform`` fills them with the
    mixture's mean (or a draw from the mixture). Columns are never dropped, so the output
    has the input's columns in order.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixtureImputer
    >>> X = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 7.9], [np.nan, 10.0]])
    >>> GaussianMixtureImputer().fit_transform(X).round(1)
    array([[ 1. ,  2. ],
           [ 2. ,  4.1],
           [ 3. ,  6. ],
           [ 4. ,  7.9],
           [ 5. , 10. ]])
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        sample_posterior: bool = False,
        random_state: Any = None,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.sample_posterior = sample_posterior
        self.random_state = random_state
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _mixture(self) -> GaussianMixture:
        return GaussianMixture(
            self.n_components,
            covariance_type=self.covariance_type,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            n_init=self.n_init,
            init_params=self.init_params,
            random_state=self.random_state,
            missing="em",
        )

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixtureImputer:
        """Fit the mixture to the observed entries of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with NaN (or masked entries) where values are missing.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        if not isinstance(self.sample_posterior, (bool, np.bool_)):
            check_number("sample_posterior", self.sample_posterior, integer=True, minimum=0)
        mixture = self._mixture()
        mixture.fit(X, sample_weight=sample_weight)
        self.mixture_ = mixture
        self.n_iter_ = mixture.n_iter_
        self.n_features_in_ = mixture.n_features_in_
        if hasattr(mixture, "feature_names_in_"):
            self.feature_names_in_ = mixture.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def transform(self, X: Any) -> np.ndarray:
        """X with every missing entry filled under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with NaN (or masked entries) where values are missing.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            float64; observed entries unchanged.
        """
        check_is_fitted(self, "mixture_")
        mixture = self.mixture_
        rows = np.asarray(mixture._check_data(X, reset=False), dtype=np.float64)
        draws = check_random_state(self.random_state) if self.sample_posterior else None
        return conditional_completion(rows, mixture._fitted_parameters(), draws)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input's column names (imputation keeps every column).

        Parameters
        ----------
        input_features : array-like of str or None, default=None

        Returns
        -------
        ndarray of str
        """
        from sklearn.utils.validation import _check_feature_names_in

        check_is_fitted(self, "mixture_")
        return _check_feature_names_in(self, input_features)
