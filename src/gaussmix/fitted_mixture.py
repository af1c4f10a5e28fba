"""What a fitted mixture answers: per-row outputs, samples and information criteria.

:class:`FittedMixtureMixin` is the part of :class:`gaussmix.GaussianMixture` that only reads
the fitted parameters; the estimator provides them (``_fitted_parameters``, the covariance
model they were fitted with, the executor options and input validation).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from gaussmix.arrays import as_input_type, n_rows, to_host_computed, weighted_mean
from gaussmix.exceptions import InvalidParameterError
from gaussmix.fitting import evaluate_rows
from gaussmix.noise import free_parameters
from gaussmix.parameters import MixtureParameters

__all__ = ["FittedMixtureMixin", "draw"]


class FittedMixtureMixin:
    """Predictions, log-densities, samples and criteria of a fitted mixture."""

    def _map_posterior(self, X: Any, output: str) -> Any:
        """Per-row ``"log_norm"``, ``"responsibilities"`` or ``"labels"`` of validated X
        (:func:`gaussmix.fitting.evaluate_rows`)."""
        log_noise = math.log(self.Vinv_) if hasattr(self, "Vinv_") else None
        return evaluate_rows(
            X, self._fitted_parameters(), output, self._executor_options(), log_noise
        )

    def _row_map(self, X: Any, output: str) -> Any:
        self._fitted_parameters()
        checked = self._check_data(X, reset=False)
        return as_input_type(X, self._map_posterior(checked, output))

    def score_samples(self, X: Any) -> Any:
        """Log-density log p(x_n) of each row under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to evaluate.

        Returns
        -------
        ndarray or torch.Tensor of shape (n_samples,)
            A tensor on X's device when X is a tensor. Finite wherever log p(x_n) is
            representable in the dtype; −inf for rows so far from every component that
            p(x_n) is below the smallest positive number (~1e154 standard deviations
            away in float64).
        """
        return self._row_map(X, "log_norm")

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean (optionally weighted) log-likelihood per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to evaluate.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the mean.

        Returns
        -------
        float
        """
        return weighted_mean(self.score_samples(X), sample_weight)

    def predict_proba(self, X: Any) -> Any:
        """Responsibilities γ(z_nk): the posterior probability of each component per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to evaluate.

        Returns
        -------
        ndarray or torch.Tensor of shape (n_samples, n_components)
            Rows sum to one; a tensor on X's device when X is a tensor.
        """
        return self._row_map(X, "responsibilities")

    def predict(self, X: Any) -> Any:
        """Component of highest responsibility for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to label.

        Returns
        -------
        ndarray or torch.Tensor of shape (n_samples,)
            A tensor on X's device when X is a tensor. Rows far from every component
            go to the one of highest weighted log-density, which stays defined when
            their densities underflow.
        """
        return self._row_map(X, "labels")

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw random rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Drawn rows, grouped by component; NumPy whatever the backend (there is no
            input whose type to follow).
        labels : ndarray of shape (n_samples,)
            Component of each row.
        """
        parameters = self._fitted_parameters()
        if hasattr(self, "noise_proportion_"):
            raise InvalidParameterError(
                "sample needs a mixture of Gaussians only; this one has a noise component, "
                "whose density Vinv_ has no region to draw from. Refit without noise=True."
            )
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise InvalidParameterError(f"n_samples must be a positive integer; got {n_samples!r}.")
        return draw(parameters, n_samples, check_random_state(self.random_state))

    # ----------------------------------------------------------- criteria
    def _n_parameters(self) -> int:
        settings = self._fitted_settings()
        return free_parameters(
            self._fitted_covariance_model(),
            *self.means_.shape,
            equal_proportions=bool(settings.get("equal_proportions", False)),
            noise=bool(settings.get("noise", False)),
        )

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to evaluate.

        Returns
        -------
        float
            ``−2·log L + p·log n`` with p the number of free parameters.
        """
        n_samples = n_rows(X)
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(n_samples)

    def aic(self, X: Any) -> float:
        """Akaike information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to evaluate.

        Returns
        -------
        float
            ``−2·log L + 2p``.
        """
        n_samples = n_rows(X)
        return -2 * self.score(X) * n_samples + 2 * self._n_parameters()

    def icl(self, X: Any) -> float:
        """Integrated completed likelihood criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to evaluate.

        Returns
        -------
        float
            ``bic(X) − 2 Σ_n log γ_{n, ẑ_n}``, with ẑ_n the component of highest
            responsibility: BIC plus twice the entropy of the hard classification.

        Notes
        -----
        Biernacki, Celeux & Govaert (2000), with the MAP classification as in mclust's
        ``icl``; mclust reports the negative of this value (higher is better there).
        The largest responsibility of a row is at least 1/K, so its logarithm is exact.
        """
        largest = np.max(to_host_computed(self.predict_proba(X)), axis=1).astype(np.float64)
        return self.bic(X) - 2.0 * float(np.sum(np.log(largest)))


def draw(
    parameters: MixtureParameters, n_samples: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn from a mixture, grouped by component, and their components.

    Parameters
    ----------
    parameters : MixtureParameters
        The mixture.
    n_samples : int
        Number of rows.
    rng : numpy.random.RandomState
        Source of the draws.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    """
    counts = rng.multinomial(n_samples, parameters.weights)
    form = parameters.form
    rows, labels = [], []
    for component, count in enumerate(counts):
        standard = rng.standard_normal(size=(count, parameters.n_features))
        if not form.elementwise:
            covariance = (
                parameters.covariances if form.shared else parameters.covariances[component]
            )
            draws = standard @ np.linalg.cholesky(covariance).T
        else:
            draws = standard * np.sqrt(parameters.covariances[component])
        rows.append(parameters.means[component] + draws)
        labels.append(np.full(count, component, dtype=int))
    return np.vstack(rows), np.concatenate(labels)
