"""The M-step: new mixture parameters from summed sufficient statistics, on the host in float64."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache

import numpy as np

from gaussmix.covariance.base import CovarianceModel
from gaussmix.covariance.forms import precision_cholesky_from_covariances
from gaussmix.parameters import MixtureParameters
from gaussmix.priors import ResolvedPrior, map_counts_and_scatter
from gaussmix.statistics import SufficientStatistics

__all__ = ["MStepRule", "centred_scatter", "maximize"]

# Added to every n_k so that a component that owns no point divides by a tiny number
# instead of zero: its mean then stays where it was and its covariance becomes
# reg_covar·I, which the caller can detect; scikit-learn adds the same amount.
_N_K_FLOOR = 10.0 * np.finfo(np.float64).eps


def centred_scatter(statistics: SufficientStatistics, n_k: np.ndarray) -> np.ndarray:
    """Within-component scatter about the new means, W_k = S_k − n_k d_k d_kᵀ.

    Parameters
    ----------
    statistics : SufficientStatistics
        Statistics taken about the shift c_k.
    n_k : ndarray of shape (n_components,)
        The effective numbers of points to divide by.

    Returns
    -------
    ndarray
        Same shape as ``statistics.scatter``.

    Notes
    -----
    With d_k = Σ w γ (x − c_k) / n_k the offset of the new mean from the shift,
    Σ w γ (x − μ_k)(x − μ_k)ᵀ = S_k − n_k d_k d_kᵀ. Because c_k is the previous mean,
    d_k is small and the subtraction loses nothing.
    """
    offset = statistics.weighted_sum / n_k[:, None]
    scatter = statistics.scatter
    if scatter.ndim == 3:
        return scatter - n_k[:, None, None] * offset[:, :, None] * offset[:, None, :]
    if scatter.ndim == 2:
        return scatter - n_k[:, None] * offset**2
    return scatter - n_k * np.sum(offset**2, axis=1)


def maximize(
    statistics: SufficientStatistics,
    model: CovarianceModel,
    reg_covar: float,
    previous: MixtureParameters | None = None,
) -> MixtureParameters:
    """Maximum-likelihood mixture parameters from summed sufficient statistics.

    Parameters
    ----------
    statistics : SufficientStatistics
        Statistics summed over all rows (float64).
    model : CovarianceModel
        The covariance constraint.
    reg_covar : float
        Non-negative value added once to every variance.
    previous : MixtureParameters, optional
        The parameters of the E-step that produced ``statistics``. Their covariances warm-start
        the models with an inner iteration (VEI, VEE, EVE, VVE, VEV), which then never end
        with a lower expected complete-data log-likelihood than they had
        (:mod:`gaussmix.covariance.iterative`); closed-form models are unaffected.

    Returns
    -------
    MixtureParameters

    Raises
    ------
    CollapsedComponentError
        If a covariance is not positive definite.

    Notes
    -----
    π_k = n_k / Σ_j n_j, μ_k = c_k + Σ w γ (x − c_k) / n_k, and the covariance rule of
    the model applied to the centred scatter (Bishop 2006, eqs. 9.24–9.26).
    """
    n_k = statistics.n_k + _N_K_FLOOR
    weights = n_k / np.sum(n_k)
    means = statistics.shift + statistics.weighted_sum / n_k[:, None]
    n_features = means.shape[1]
    scatter = centred_scatter(statistics, n_k)
    if previous is not None and previous.form == model.form and _accepts_previous(type(model)):
        covariances = model.estimate(
            n_k, scatter, reg_covar, n_features, previous=previous.covariances
        )
    else:
        covariances = model.estimate(n_k, scatter, reg_covar, n_features)
    return MixtureParameters(
        weights=weights,
        means=means,
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(
            covariances, model.form, statistics.n_k
        ),
        form=model.form,
    )


@cache
def _accepts_previous(model_type: type) -> bool:
    """Whether a model's ``estimate`` takes ``previous`` (models written before it do not)."""
    try:
        parameters = inspect.signature(model_type.estimate).parameters
    except (TypeError, ValueError):
        return False
    return "previous" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )


@dataclass(frozen=True, eq=False)
class MStepRule:
    """The M-step of one fit, chosen once: the model, reg_covar, a prior, fixed proportions.

    Parameters
    ----------
    model : CovarianceModel
        The covariance constraint.
    reg_covar : float
        Added once to every variance (n_k·reg_covar·I in the scatter).
    prior : ResolvedPrior or None, default=None
        A conjugate prior (:mod:`gaussmix.priors`): the MAP M-step instead of the ML one.
    equal_proportions : bool, default=False
        π_k = 1/K fixed (with noise, (1 − π_0)/K); the means and covariances keep the
        true n_k.
    noise : bool, default=False
        A uniform noise component: π_k = n_k / Σ w, so the Gaussians' weights sum to
        1 − π_0 = 1 − n_0 / Σ w (:mod:`gaussmix.noise`).

    Notes
    -----
    Without a prior and with free proportions the rule is :func:`maximize` itself, so a
    plain fit is bit for bit what it was, and only such a rule runs in the compiled loop
    (:attr:`plain`).
    """

    model: CovarianceModel
    reg_covar: float
    prior: ResolvedPrior | None = None
    equal_proportions: bool = False
    noise: bool = False

    @property
    def plain(self) -> bool:
        """Whether this is the maximum-likelihood M-step with free proportions, no noise."""
        return self.prior is None and not self.equal_proportions and not self.noise

    def maximize(
        self, statistics: SufficientStatistics, previous: MixtureParameters | None = None
    ) -> MixtureParameters:
        """New parameters from summed statistics under this rule (see :func:`maximize`).

        Parameters
        ----------
        statistics : SufficientStatistics
        previous : MixtureParameters, optional
            Warm start of the iterative models' inner iteration.

        Returns
        -------
        MixtureParameters

        Notes
        -----
        The MAP M-step is the model's own M-step applied to the counts n_k + 1 + α_k and
        the scatter B_k + S_k (:func:`gaussmix.priors.map_counts_and_scatter`), which is
        its exact maximiser; π_k = n_k/n either way (no Dirichlet prior, as mclust).
        """
        if self.plain:
            return maximize(statistics, self.model, self.reg_covar, previous=previous)
        n_k = statistics.n_k + _N_K_FLOOR
        means = statistics.shift + statistics.weighted_sum / n_k[:, None]
        scatter = centred_scatter(statistics, n_k)
        counts = n_k
        if self.prior is not None:
            means, counts, scatter = map_counts_and_scatter(self.prior, n_k, means, scatter)
        # With noise the Gaussians share Σ_k n_k / Σ w; the rest is the noise's.
        gaussian_share = 1.0
        if self.noise:
            gaussian_share = min(1.0, float(np.sum(statistics.n_k)) / statistics.total_weight)
        weights = gaussian_share * n_k / np.sum(n_k)
        if self.equal_proportions:
            weights = np.full(n_k.shape[0], gaussian_share / n_k.shape[0])
        model, n_features = self.model, means.shape[1]
        if previous is not None and previous.form == model.form and _accepts_previous(type(model)):
            covariances = model.estimate(
                counts, scatter, self.reg_covar, n_features, previous=previous.covariances
            )
        else:
            covariances = model.estimate(counts, scatter, self.reg_covar, n_features)
        return MixtureParameters(
            weights=weights,
            means=means,
            covariances=covariances,
            precisions_cholesky=precision_cholesky_from_covariances(
                covariances, model.form, statistics.n_k
            ),
            form=model.form,
        )
