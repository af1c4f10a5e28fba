"""Uncertainty of fitted mixture parameters: bootstrap and jackknife refits.

Each replicate refits the model to resampled data (rows drawn with replacement,
``"nonparametric"``), to data drawn from the fitted mixture (``"parametric"``), or to the
data without one row (``"jackknife"``). As mclust's ``MclustBootstrap`` does, a refit
starts with an M-step from the original fit's responsibilities of the rows it sees (for
simulated rows: their posterior under the fitted mixture), so component k of every
replicate is component k of the model. When that start fails, the replicate is fitted
afresh with the model's own initialisation and its components are matched to the
model's by their means (Hungarian assignment); such replicates are listed in
``relabelled``. Replicates that cannot be fitted at all are listed with their error in
``failures`` and left out of the summaries.

Standard errors are the standard deviations of the replicates (ddof = 1); for the
jackknife, of the m leave-one-out fits, times (m − 1)/√m (the jackknife variance
(m − 1)/m Σ (θ_i − θ̄)², Efron & Tibshirani 1993, eq. 11.5). Intervals are percentiles
of the replicates; the jackknife's are the normal intervals θ̄ ± z·SE, as mclust's
``summary(..., what = "ci")`` gives.

Module name: ``gaussmix.bootstrap`` is the function, so the module holding it has a name
of its own (a submodule named ``bootstrap`` would replace the function on the package
once imported).

References
----------
Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
Scrucca, L., Fop, M., Murphy, T. B. and Raftery, A. E. (2016). mclust 5. *The R Journal*
8(1), 289–317, §2.5.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.attributes import public_form
from gaussmix.exceptions import InvalidInputError, InvalidParameterError

__all__ = ["BootstrapFailure", "BootstrapResult", "bootstrap"]

Method = Literal["nonparametric", "parametric", "jackknife"]
_METHODS = ("nonparametric", "parametric", "jackknife")
_PARAMETERS = ("weights", "means", "covariances")


@dataclass(frozen=True)
class BootstrapFailure:
    """A replicate that could not be fitted.

    Parameters
    ----------
    replicate : int
        Its index (for the jackknife: the row left out).
    error : str
        ``"Type: message"`` of the fresh fit's error.
    start_error : str
        The error of the fit from the original responsibilities, which was tried first.
    """

    replicate: int
    error: str
    start_error: str


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate estimates of a mixture's parameters with their standard errors and intervals.

    Parameters
    ----------
    method : {"nonparametric", "parametric", "jackknife"}
        How the replicates were made.
    n_replicates : int
        Replicates attempted (n for the jackknife).
    level : float
        Coverage of ``intervals``.
    estimates : dict of str to ndarray
        ``"weights"``, ``"means"`` and ``"covariances"`` of the model, in its shapes.
    replicates : dict of str to ndarray
        The same parameters of every fitted replicate, stacked on a first axis of length
        ``len(replicate_ids)``.
    replicate_ids : ndarray of int
        Which replicates were fitted (the rest are in ``failures``).
    converged : ndarray of bool
        Whether each fitted replicate's EM converged.
    relabelled : tuple of int
        Replicates whose start from the original responsibilities failed, fitted afresh
        and matched to the model's components by their means.
    failures : tuple of BootstrapFailure
        Replicates that could not be fitted, with their errors.
    standard_errors : dict of str to ndarray
        Standard errors, shaped like ``estimates``.
    intervals : dict of str to ndarray
        Lower and upper bounds, shape ``(2, *estimate.shape)``.
    """

    method: str
    n_replicates: int
    level: float
    estimates: dict[str, np.ndarray] = field(repr=False)
    replicates: dict[str, np.ndarray] = field(repr=False)
    replicate_ids: np.ndarray = field(repr=False)
    converged: np.ndarray = field(repr=False)
    relabelled: tuple[int, ...] = field(repr=False)
    failures: tuple[BootstrapFailure, ...] = field(repr=False)
    standard_errors: dict[str, np.ndarray] = field(repr=False)
    intervals: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_fitted(self) -> int:
        """Number of replicates that were fitted."""
        return len(self.replicate_ids)

    def confidence_intervals(self, level: float) -> dict[str, np.ndarray]:
        """Intervals at another coverage level, from the same replicates.

        Parameters
        ----------
        level : float
            Coverage in (0, 1), e.g. 0.9.

        Returns
        -------
        dict of str to ndarray
            Per parameter, shape ``(2, *estimate.shape)``: lower and upper bounds.
        """
        _check_level(level)
        return {name: _interval(self.replicates[name], self.method, level) for name in _PARAMETERS}


def bootstrap(
    model: Any,
    X: Any,
    n_bootstrap: int | None = None,
    method: Method = "nonparametric",
    *,
    level: float = 0.95,
    random_state: Any = None,
    n_jobs: int | None = None,
    sample_weight: Any = None,
    callback: Callable[[int, int], None] | None = None,
    y: Any = None,
) -> BootstrapResult:
    """Standard errors and intervals of a fitted mixture's weights, means and covariances.

    Parameters
    ----------
    model : GaussianMixture
        A mixture fitted to ``X`` (``sample_weight`` included, if any).
    X : array-like of shape (n_samples, n_features)
        The data the model was fitted to.
    n_bootstrap : int, default=None
        Number of resamples; None means 999 (mclust's default). The jackknife always makes
        n_samples refits and accepts only None or n_samples.
    method : {"nonparametric", "parametric", "jackknife"}, default="nonparametric"
        ``"nonparametric"``: n rows drawn with replacement (each keeps its weight).
        ``"parametric"``: n rows drawn from the fitted mixture (``model.sample``),
        unweighted. ``"jackknife"``: every leave-one-out fit.
    level : float, default=0.95
        Coverage of the intervals.
    random_state : int, RandomState instance or None, default=None
        Seeds of the replicates; one seed per replicate is drawn first, so the result
        does not depend on ``n_jobs``.
    n_jobs : int or None, default=None
        joblib workers; None or 1 fits one replicate after the other.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights the model was fitted with.
    callback : callable, optional
        Called as ``callback(done, total)`` in the calling thread after each replicate
        (e.g. to advance a progress bar).
    y : array-like of shape (n_samples,), default=None
        The known components a ``semi_supervised=True`` model was fitted with (-1:
        unknown); every refit keeps the labels of its rows. Not with
        ``method="parametric"`` (simulated rows have no known components).

    Returns
    -------
    BootstrapResult

    Raises
    ------
    InvalidParameterError
        For an unknown method, a bad number of replicates or level, or a model that is
        not a fitted GaussianMixture.
    InvalidInputError
        When X does not match the model, or no replicate could be fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture, bootstrap
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-3, 1, 60), rng.normal(3, 1, 90)].reshape(-1, 1)
    >>> model = GaussianMixture(2, random_state=0).fit(X)
    >>> result = bootstrap(model, X, n_bootstrap=50, random_state=0)
    >>> result.standard_errors["means"].shape
    (2, 1)
    """
    if method not in _METHODS:
        raise InvalidParameterError(
            f"method must be one of {_METHODS}; got {method!r}. Use 'nonparametric' to "
            "resample rows, 'parametric' to simulate from the model, 'jackknife' to leave "
            "one row out."
        )
    _check_level(level)
    if not hasattr(model, "get_params") or "responsibilities_init" not in model.get_params():
        raise InvalidParameterError(
            "model must be a gaussmix GaussianMixture (its refits start from given "
            f"responsibilities); got {type(model).__name__}."
        )
    check_is_fitted(model, ["weights_", "means_", "covariances_"])
    X = np.asarray(X, dtype=np.float64)
    n_features = np.shape(model.means_)[1]
    if X.ndim != 2 or X.shape[1] != n_features:
        raise InvalidInputError(
            f"X must have shape (n_samples, {n_features}), the features the model was fitted "
            f"on; got shape {X.shape}."
        )
    n_samples = X.shape[0]
    weights = _check_weights(sample_weight, n_samples)
    labels = _check_bootstrap_labels(model, y, n_samples, method)
    if method == "jackknife":
        if n_bootstrap not in (None, n_samples):
            raise InvalidParameterError(
                f"the jackknife makes one refit per row ({n_samples}); got n_bootstrap="
                f"{n_bootstrap!r}. Leave n_bootstrap=None."
            )
        n_replicates = n_samples
    else:
        n_replicates = 999 if n_bootstrap is None else n_bootstrap
        if not isinstance(n_replicates, (int, np.integer)) or n_replicates < 2:
            raise InvalidParameterError(f"n_bootstrap must be an integer ≥ 2; got {n_bootstrap!r}.")
    rng = check_random_state(random_state)
    seeds = rng.randint(0, np.iinfo(np.int32).max, size=n_replicates)
    task = _Task(
        model=model,
        X=X,
        sample_weight=weights,
        responsibilities=_posterior(model, X),
        method=method,
        shared_covariance=_shared_covariance(model),
        labels=labels,
    )
    outcomes = []
    for done, outcome in enumerate(_run(task, seeds, n_jobs), start=1):
        outcomes.append(outcome)
        if callback is not None:
            callback(done, n_replicates)
    return _summarise(model, method, level, outcomes)


# ----------------------------------------------------------------- refits
@dataclass(frozen=True)
class _Task:
    model: Any
    X: np.ndarray
    sample_weight: np.ndarray | None
    responsibilities: np.ndarray
    method: str
    shared_covariance: bool
    labels: np.ndarray | None = None


@dataclass(frozen=True)
class _Outcome:
    replicate: int
    parameters: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    converged: bool = False
    relabelled: bool = False
    error: str = ""
    start_error: str = ""


def _run(task: _Task, seeds: np.ndarray, n_jobs: int | None) -> Any:
    if n_jobs in (None, 1):
        return (_replicate(task, b, int(seed)) for b, seed in enumerate(seeds))
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_replicate)(task, b, int(seed)) for b, seed in enumerate(seeds)
    )


def _resample(task: _Task, replicate: int, rng: np.random.RandomState) -> tuple[Any, ...]:
    """The replicate's rows, their weights, the responsibilities its refit starts from and
    their known components (None without)."""
    n_samples = task.X.shape[0]
    if task.method == "jackknife":
        rows = np.delete(np.arange(n_samples), replicate)
    elif task.method == "nonparametric":
        rows = rng.randint(0, n_samples, size=n_samples)
    else:
        simulator = copy.deepcopy(task.model)
        simulator.set_params(random_state=rng)
        X, _ = simulator.sample(n_samples)
        return X, None, _posterior(task.model, X), None
    weights = None if task.sample_weight is None else task.sample_weight[rows]
    labels = None if task.labels is None else task.labels[rows]
    return task.X[rows], weights, task.responsibilities[rows], labels


def _posterior(model: Any, X: np.ndarray) -> np.ndarray:
    """The model's responsibilities of rows given as an array (a model fitted on a DataFrame
    would warn that they have no column names: they are the same columns)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return np.asarray(model.predict_proba(X), dtype=np.float64)


def _replicate(task: _Task, replicate: int, seed: int) -> _Outcome:
    rng = np.random.RandomState(seed)
    X, weights, responsibilities, labels = _resample(task, replicate, rng)
    overrides = {
        "n_init": 1,
        "warm_start": False,
        "weights_init": None,
        "means_init": None,
        "precisions_init": None,
        "callback": None,
        "verbose": 0,
    }
    with warnings.catch_warnings():
        # Convergence is recorded per replicate; re-seeded collapses are the fit's policy.
        warnings.simplefilter("ignore")
        try:
            fitted = clone(task.model).set_params(
                responsibilities_init=responsibilities, **overrides
            )
            fitted.fit(X, labels, sample_weight=weights)
            parameters = _parameters(fitted)
            return _Outcome(replicate, parameters, converged=bool(fitted.converged_))
        except Exception as error:  # any failure of a refit is recorded
            start_error = _describe(error)
        try:
            fresh = clone(task.model).set_params(
                responsibilities_init=None,
                random_state=seed,
                **{**overrides, "n_init": task.model.n_init},
            )
            fresh.fit(X, labels, sample_weight=weights)
            parameters = _matched(_parameters(fresh), task.model.means_, task.shared_covariance)
            return _Outcome(
                replicate, parameters, converged=bool(fresh.converged_), relabelled=True
            )
        except Exception as error:
            return _Outcome(replicate, None, error=_describe(error), start_error=start_error)


def _parameters(fitted: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parameters = tuple(
        np.array(getattr(fitted, name), dtype=np.float64)
        for name in ("weights_", "means_", "covariances_")
    )
    if not all(np.all(np.isfinite(array)) for array in parameters):
        raise InvalidInputError("the refit gave non-finite parameters.")
    return parameters  # type: ignore[return-value]


def _matched(
    parameters: tuple[np.ndarray, np.ndarray, np.ndarray],
    reference_means: np.ndarray,
    shared_covariance: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components reordered so that component k has the mean closest to the model's k-th."""
    weights, means, covariances = parameters
    reference = np.asarray(reference_means)
    cost = np.sum((reference[:, None, :] - means[None, :, :]) ** 2, axis=2)
    _, order = linear_sum_assignment(cost)
    return weights[order], means[order], covariances if shared_covariance else covariances[order]


def _shared_covariance(model: Any) -> bool:
    """Whether ``covariances_`` is one (D, D) matrix rather than one entry per component."""
    covariance_type = model.get_params()["covariance_type"]
    return public_form(covariance_type, get_covariance_model(covariance_type)) == "tied"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# -------------------------------------------------------------- summaries
def _summarise(model: Any, method: str, level: float, outcomes: list[_Outcome]) -> BootstrapResult:
    fitted = [outcome for outcome in outcomes if outcome.parameters is not None]
    failures = tuple(
        BootstrapFailure(outcome.replicate, outcome.error, outcome.start_error)
        for outcome in outcomes
        if outcome.parameters is None
    )
    if len(fitted) < 2:
        first = failures[0].error if failures else "none attempted"
        raise InvalidInputError(
            f"only {len(fitted)} of {len(outcomes)} replicates could be fitted (first error: "
            f"{first}); standard errors need at least two. Check that the model fits X, or "
            "use a more constrained covariance_type."
        )
    estimates = {
        name: np.array(getattr(model, f"{name}_"), dtype=np.float64) for name in _PARAMETERS
    }
    replicates = {
        name: np.stack([outcome.parameters[i] for outcome in fitted])  # type: ignore[index]
        for i, name in enumerate(_PARAMETERS)
    }
    return BootstrapResult(
        method=method,
        n_replicates=len(outcomes),
        level=level,
        estimates=estimates,
        replicates=replicates,
        replicate_ids=np.array([outcome.replicate for outcome in fitted]),
        converged=np.array([outcome.converged for outcome in fitted]),
        relabelled=tuple(outcome.replicate for outcome in fitted if outcome.relabelled),
        failures=failures,
        standard_errors={
            name: _standard_error(values, method) for name, values in replicates.items()
        },
        intervals={name: _interval(values, method, level) for name, values in replicates.items()},
    )


def _standard_error(values: np.ndarray, method: str) -> np.ndarray:
    sd = np.std(values, axis=0, ddof=1)
    if method != "jackknife":
        return sd
    m = values.shape[0]
    return sd * (m - 1) / math.sqrt(m)


def _interval(values: np.ndarray, method: str, level: float) -> np.ndarray:
    if method == "jackknife":
        z = norm.ppf((1 + level) / 2)
        centre = np.mean(values, axis=0)
        half = z * _standard_error(values, method)
        return np.stack([centre - half, centre + half])
    return np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)


def _check_bootstrap_labels(model: Any, y: Any, n_samples: int, method: str) -> Any:
    """The known components of a semi-supervised model's rows (None: an ordinary bootstrap)."""
    if y is None:
        return None
    if not model.get_params().get("semi_supervised", False):
        raise InvalidParameterError(
            "y is used only for a model fitted with semi_supervised=True (fit ignores it "
            "otherwise); leave y=None, or fit the model with semi_supervised=True."
        )
    if method == "parametric":
        raise InvalidParameterError(
            "a parametric bootstrap simulates rows, which have no known components; use "
            "method='nonparametric' or 'jackknife' with y."
        )
    from gaussmix.semisupervised import check_labels

    return check_labels(y, n_samples, int(model.n_components))


def _check_level(level: float) -> None:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InvalidParameterError(
            f"level must be a coverage strictly between 0 and 1 (e.g. 0.95); got {level!r}."
        )


def _check_weights(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (n_samples,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InvalidInputError(
            f"sample_weight must be {n_samples} finite non-negative numbers, one per row of "
            f"X; got shape {weights.shape}."
        )
    return weights
