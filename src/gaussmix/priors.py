"""Conjugate priors of Fraley & Raftery (2007): the hyperparameters and the MAP M-step's terms.

The prior of component k is μ_k | Σ_k ~ N(μ_P, Σ_k/κ) and a covariance term
|Σ_k|^{-α_k/2} exp(−½ ⟨Σ_k⁻¹, S_k⟩) (an inverse Wishart for the ellipsoidal models, an
inverse gamma on each variance of the diagonal and spherical ones). With the MAP means
μ_k = (n_k x̄_k + κ μ_P)/(n_k + κ), the log-posterior's covariance part is

    −½ Σ_k [(n_k + 1 + α_k) log|Σ_k| + ⟨Σ_k⁻¹, B_k + S_k⟩],
    B_k = W_k + κ n_k/(n_k + κ) (x̄_k − μ_P)(x̄_k − μ_P)ᵀ,

which is the maximum-likelihood objective with n_k → n_k + 1 + α_k and W_k → B_k + S_k; every
constrained model's own M-step (``CovarianceModel.estimate``) therefore maximises it exactly.
What differs per model is α_k and S_k (:data:`_TERMS`): a prior shared by all components (an
``E`` covariance part) is counted once, spread as α/G and S/G over the components. The shared
volume of EVI, EEI and EEV is counted once in units of that scalar, and VEI's prior is an
inverse gamma λ_k^{-(ν+3)/2} on each volume, as in mclust 6.0.0's EM (``meEVI``, ``meEEI``,
``meEEV``, ``meVEI``): divisors n + ν + 2, n + ν + D + 2 and D n_k + ν + 3. The divisors are
those of mclust's EM with ``priorControl()`` (iris and Old Faithful; its Fortran read for the
definitions) for every model; for EII and EEI mclust's rule is not the mode of its own prior
and ours is (README, "mclust's extensions": its EII drops the scale, its EEI reports
un-shrunken means).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gaussmix.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from gaussmix.covariance.base import CovarianceModel

__all__ = [
    "PRIOR_MODELS",
    "Prior",
    "ResolvedPrior",
    "check_prior",
    "log_prior",
    "map_counts_and_scatter",
    "resolve_prior",
]

# model → (α_k as a function of ν, G, D; whether the scale is shared, i.e. divided by G).
# The "− 1" of EEI, VEI, EVI and EEV: each component's n_k + 1 already holds its mean prior's
# log|Σ_k| = D log λ_k, which mclust's EM counts once for a volume (see the module docstring).
_TERMS: dict[str, tuple[Any, bool]] = {
    "EII": (lambda nu, G, D: (nu + 2.0) / (G * D), True),
    "VII": (lambda nu, G, D: (nu + 2.0) / D, False),
    "EEI": (lambda nu, G, D: (nu + 2.0) / G - 1.0, True),
    "VEI": (lambda nu, G, D: (nu + 3.0) / D - 1.0, False),
    "EVI": (lambda nu, G, D: (nu + 2.0) / G - 1.0, False),
    "VVI": (lambda nu, G, D: nu + 2.0, False),
    "EEE": (lambda nu, G, D: (nu + D + 1.0) / G, True),
    "EEV": (lambda nu, G, D: (nu + D + 2.0) / G - 1.0, False),
    "VEV": (lambda nu, G, D: -1.0, False),
    "VVV": (lambda nu, G, D: nu + D + 1.0, False),
}
# With κ = 0 there is no prior on the means, and mclust's EM drops the mean's count: once per
# component (VII, VVI, EEE), once for the shared volume (EEI, EVI, EEV), once in units of λ_k
# (VEI); it keeps it for EII, VEV and VVV (iris, `priorControl(shrinkage = 0)`).
_FLAT_MEAN_DROP: dict[str, Any] = {
    "VII": lambda G, D: 1.0,
    "VVI": lambda G, D: 1.0,
    "EEE": lambda G, D: 1.0,
    "EEI": lambda G, D: 1.0 / G,
    "EVI": lambda G, D: 1.0 / G,
    "EEV": lambda G, D: 1.0 / G,
    "VEI": lambda G, D: 1.0 / D,
}
_ALIASES = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}
PRIOR_MODELS: tuple[str, ...] = tuple(_TERMS)
"""The covariance models that take a prior (mclust's ten)."""


@dataclass(frozen=True)
class Prior:
    """A conjugate prior; None fields take mclust's defaults (``priorControl()``).

    Parameters
    ----------
    shrinkage : float, default=0.01
        κ, the prior's weight on the mean μ_P (0: no shrinkage of the means).
    mean : array-like of shape (n_features,) or None
        μ_P; None: the (sample-weighted) column means of X.
    dof : float or None
        ν_P; None: n_features + 2.
    scale : float, array-like of shape (n_features, n_features), or None
        The prior scale: a number for the spherical and diagonal models, a matrix for the
        ellipsoidal ones. None: (1/G)^(2/D)·Σ_j var(x_j)/D, or (1/G)^(2/D)·var(X) (its
        diagonal when n ≤ D), with the n − 1 divisor; it depends on G.
    """

    shrinkage: float = 0.01
    mean: Any = None
    dof: float | None = None
    scale: Any = None


@dataclass(frozen=True)
class ResolvedPrior:
    """A prior's hyperparameters for one model, G and data, in the units of the fit.

    Parameters
    ----------
    shrinkage : float
        κ.
    mean : ndarray of shape (D,)
        μ_P.
    alpha : ndarray of shape (K,)
        α_k, the prior's counts beyond the mean's one.
    scale : ndarray
        S_k in the model's scatter kind: (K,) trace, (K, D) diagonal or (K, D, D) full.
    """

    shrinkage: float
    mean: np.ndarray
    alpha: np.ndarray
    scale: np.ndarray


def prior_model_name(model: CovarianceModel) -> str:
    """The mclust code of a model (scikit-learn names mapped to theirs)."""
    return _ALIASES.get(model.name, model.name)


def check_prior(prior: Any, model: CovarianceModel) -> Prior | None:
    """The prior an estimator's ``prior`` parameter means, checked against the model.

    Parameters
    ----------
    prior : None, "default" or Prior
    model : CovarianceModel

    Returns
    -------
    Prior or None

    Raises
    ------
    InvalidParameterError
    """
    if prior is None:
        return None
    if isinstance(prior, str) and prior == "default":
        prior = Prior()
    if not isinstance(prior, Prior):
        raise InvalidParameterError(
            f"prior must be None, 'default' or a gaussmix.Prior; got {prior!r}. Use "
            "prior='default' for mclust's default conjugate prior."
        )
    name = prior_model_name(model)
    if name not in _TERMS:
        raise InvalidParameterError(
            f"prior is defined for the models {list(PRIOR_MODELS)} (mclust's ten); got "
            f"covariance_type={model.name!r}. Use one of those models or prior=None."
        )
    if not (np.isfinite(prior.shrinkage) and prior.shrinkage >= 0):
        raise InvalidParameterError(
            f"Prior.shrinkage must be a finite number >= 0; got {prior.shrinkage!r}."
        )
    if prior.dof is not None and not (np.isfinite(prior.dof) and prior.dof > 0):
        raise InvalidParameterError(f"Prior.dof must be a number > 0; got {prior.dof!r}.")
    return prior


def _column_moments(X: Any, sample_weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Column means and covariance (n − 1 divisor; Σw − 1 with weights), in float64."""
    if hasattr(X, "dask"):
        import dask

        weights = 1.0 if sample_weight is None else sample_weight[:, None]
        X = X.astype(np.float64)
        total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        mean = dask.compute((X * weights).sum(axis=0))[0] / total
        centred = X - mean
        scatter = dask.compute((centred * weights).T @ centred)[0]
        return np.asarray(mean), np.asarray(scatter) / (total - 1.0)
    if hasattr(X, "detach"):
        # A torch tensor, possibly on a GPU: the two moments are computed on the host.
        X = X.detach().cpu().numpy()
    if hasattr(sample_weight, "detach"):
        sample_weight = sample_weight.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if sample_weight is None:
        return X.mean(axis=0), np.atleast_2d(np.cov(X, rowvar=False))
    total = float(np.sum(sample_weight))
    mean = sample_weight @ X / total
    centred = X - mean
    return mean, (centred * sample_weight[:, None]).T @ centred / (total - 1.0)


def resolve_prior(
    prior: Prior,
    X: Any,
    sample_weight: np.ndarray | None,
    model: CovarianceModel,
    n_components: int,
    exponent: int = 0,
) -> ResolvedPrior:
    """The hyperparameters of ``prior`` for this data, model and G.

    Parameters
    ----------
    prior : Prior
    X : array of shape (n_samples, n_features)
        The data in the units of the fit (X·2^-exponent).
    sample_weight : ndarray of shape (n_samples,) or None
    model : CovarianceModel
    n_components : int
        G (the default scale depends on it).
    exponent : int, default=0
        The power of two the data were scaled by: user-given means and scales follow.

    Returns
    -------
    ResolvedPrior
    """
    n_samples, n_features = X.shape
    mean, covariance = _column_moments(X, sample_weight)
    if prior.mean is not None:
        mean = np.ldexp(np.asarray(prior.mean, dtype=np.float64).reshape(n_features), -exponent)
    dof = float(n_features + 2 if prior.dof is None else prior.dof)
    name = prior_model_name(model)
    if n_components == 1 and model.scatter == "full":
        # One component: every ellipsoidal model is the unconstrained one, and mclust fits
        # it with VVV's prior (its ``mvnXXX``); EEV's and VEV's terms would differ there.
        name = "VVV"
    alpha_of, shared = _TERMS[name]
    alpha = alpha_of(dof, n_components, n_features)
    if prior.shrinkage == 0 and name in _FLAT_MEAN_DROP:
        alpha -= _FLAT_MEAN_DROP[name](n_components, n_features)
    factor = (1.0 / n_components) ** (2.0 / n_features)
    if prior.scale is not None:
        given = np.ldexp(np.asarray(prior.scale, dtype=np.float64), -2 * exponent)
    elif model.scatter == "full":
        given = factor * (covariance if n_samples > n_features else np.diag(np.diag(covariance)))
    else:
        given = factor * np.trace(covariance) / n_features
    scale = _in_scatter_kind(given, model.scatter, n_features, name)
    if shared:
        scale = scale / n_components
    return ResolvedPrior(
        shrinkage=float(prior.shrinkage),
        mean=mean,
        alpha=np.full(n_components, alpha),
        scale=np.broadcast_to(scale, (n_components, *scale.shape)).copy(),
    )


def _in_scatter_kind(scale: np.ndarray, kind: str, n_features: int, name: str) -> np.ndarray:
    """A prior scale as one component's S in the scatter kind of the model."""
    if kind == "full":
        if scale.ndim == 0:
            return float(scale) * np.eye(n_features)
        if scale.shape != (n_features, n_features) or not np.allclose(scale, scale.T):
            raise InvalidParameterError(
                f"Prior.scale of {name} must be a number or a symmetric ({n_features}, "
                f"{n_features}) matrix; got shape {scale.shape}."
            )
        return scale
    if scale.ndim != 0:
        raise InvalidParameterError(
            f"Prior.scale of {name} (a spherical or diagonal model) must be a number; got "
            f"shape {scale.shape}. Pass one variance."
        )
    value = float(scale)
    if not (np.isfinite(value) and value >= 0):
        raise InvalidParameterError(f"Prior.scale must be >= 0; got {value!r}.")
    return np.full(n_features, value) if kind == "diagonal" else np.asarray(value)


def map_counts_and_scatter(
    prior: ResolvedPrior,
    n_k: np.ndarray,
    sample_means: np.ndarray,
    scatter: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MAP means and the counts and scatter that turn the ML M-step into the MAP one.

    Parameters
    ----------
    prior : ResolvedPrior
    n_k : ndarray of shape (K,)
    sample_means : ndarray of shape (K, D)
        x̄_k.
    scatter : ndarray
        W_k about x̄_k, in the model's scatter kind.

    Returns
    -------
    means : ndarray of shape (K, D)
        (n_k x̄_k + κ μ_P)/(n_k + κ).
    counts : ndarray of shape (K,)
        n_k + 1 + α_k.
    scatter : ndarray
        B_k + S_k in the same kind.
    """
    kappa = prior.shrinkage
    offset = sample_means - prior.mean
    means = sample_means - (kappa / (n_k + kappa))[:, None] * offset
    weight = kappa * n_k / (n_k + kappa)
    if scatter.ndim == 3:
        extra = weight[:, None, None] * offset[:, :, None] * offset[:, None, :]
    elif scatter.ndim == 2:
        extra = weight[:, None] * offset**2
    else:
        extra = weight * np.sum(offset**2, axis=1)
    return means, n_k + 1.0 + prior.alpha, scatter + extra + prior.scale


def log_prior(prior: ResolvedPrior, means: np.ndarray, dense_covariances: np.ndarray) -> float:
    """log p(μ, Σ) up to a constant: Σ_k −½[κ(μ_k − μ_P)ᵀΣ_k⁻¹(μ_k − μ_P) + (1 + α_k) log|Σ_k|
    + ⟨Σ_k⁻¹, S_k⟩].

    Parameters
    ----------
    prior : ResolvedPrior
    means : ndarray of shape (K, D)
    dense_covariances : ndarray of shape (K, D, D)

    Returns
    -------
    float
    """
    total = 0.0
    for k in range(means.shape[0]):
        inverse = np.linalg.inv(dense_covariances[k])
        offset = means[k] - prior.mean
        scale = prior.scale[k]
        if scale.ndim == 0:
            pairing = float(scale) * np.trace(inverse) / means.shape[1]
        elif scale.ndim == 1:
            pairing = float(np.sum(scale * np.diag(inverse)))
        else:
            pairing = float(np.trace(inverse @ scale))
        total -= 0.5 * (
            prior.shrinkage * offset @ inverse @ offset
            + (1.0 + prior.alpha[k]) * np.linalg.slogdet(dense_covariances[k])[1]
            + pairing
        )
    return float(total)


def prior_as_json(prior: Prior) -> dict[str, Any]:
    """A Prior as a JSON object (model files).

    Parameters
    ----------
    prior : Prior

    Returns
    -------
    dict
    """

    def plain(value: Any) -> Any:
        return None if value is None else np.asarray(value, dtype=np.float64).tolist()

    return {
        "shrinkage": float(prior.shrinkage),
        "mean": plain(prior.mean),
        "dof": None if prior.dof is None else float(prior.dof),
        "scale": plain(prior.scale),
    }


def prior_from_json(value: dict[str, Any]) -> Prior:
    """The Prior of :func:`prior_as_json` (unknown keys raise TypeError).

    Parameters
    ----------
    value : dict

    Returns
    -------
    Prior
    """
    return Prior(**value)
