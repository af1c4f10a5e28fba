"""The M-step: new mixture parameters from summed sufficient statistics, on the host in float64."""

from __future__ import annotations

import inspect
from functools import cache

import numpy as np

from gaussmix.covariance.base import CovarianceModel
from gaussmix.covariance.forms import precision_cholesky_from_covariances
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = ["centred_scatter", "maximize"]

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
