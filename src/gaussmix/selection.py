"""Model selection over numbers of components × covariance models by BIC, ICL or AIC.

Sign convention: scikit-learn's, **lower is better**, BIC = −2 log L + p log n. mclust
reports the opposite sign (BIC_mclust = −BIC_ours, higher is better there); the same holds
for ICL.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from gaussmix import precompile
from gaussmix.arrays import ExecutorOptions, FitData
from gaussmix.backends.numpy import default_n_threads
from gaussmix.blas_threads import one_blas_thread
from gaussmix.covariance import MCLUST_MODELS, get_covariance_model
from gaussmix.covariance.attributes import to_public
from gaussmix.em import CONVERGENCE_RULES
from gaussmix.estimator import GaussianMixture, estimator_from_fit
from gaussmix.exceptions import CollapsedComponentWarning, InvalidInputError, InvalidParameterError
from gaussmix.fitting import FitResult, FitSettings, GivenStart, evaluate_rows, fit_mixture
from gaussmix.gil_handoff import short_switch_interval
from gaussmix.hierarchical import build_tree
from gaussmix.initialization import initial_responsibilities
from gaussmix.missing import MISSING_CHOICES, check_missing_values, has_missing, mean_imputed
from gaussmix.nested_starts import restart_from_nested
from gaussmix.noise import (
    check_noise_init,
    embed_start,
    free_parameters,
    hypervolume,
    noise_mask,
)
from gaussmix.one_pass import map_log_sum
from gaussmix.parameters import MixtureParameters
from gaussmix.semisupervised import check_labels, labelled_starts
from gaussmix.validation import check_data, check_number, check_sample_weight

__all__ = [
    "ModelSelection",
    "SelectionInterrupted",
    "SelectionProgress",
    "parallel_plan",
    "select_model",
]

Criterion = Literal["bic", "icl", "aic"]
_CRITERIA = ("bic", "icl", "aic")
_INIT_METHODS = ("hierarchical", "kmeans", "k-means++", "random", "random_from_data")
_COLUMNS = (
    "covariance_type",
    "n_components",
    "log_likelihood",
    "n_parameters",
    "bic",
    "aic",
    "icl",
    "converged",
    "n_iter",
    "error",
    "reseeds",
    "start",
)
# Below this many values (rows × features) the fits are small enough for threads: with the
# compiled kernels most of a fit's time is compiled EM loops that release the GIL, and
# threads start at once and share the data. From it on, worker processes (a fit's Python
# no longer matters next to its E-steps, and processes do not contend for the GIL). On
# the shared 2-core machine, in an earlier `bench_select.py --plan`: Old Faithful (272 × 2)
# took longer in processes than sequentially (the workers' start-up and imports cost about
# as much as all 126 fits); 10,000 × 5 was faster in processes. Two threads with the GIL
# switch interval shortened (gil_handoff.py) were as fast as one or faster on the five
# bundled data sets (benchmarks/results_select.md, "Parallel plan": no difference beyond
# the noise at load average 5–9). Without the compiled kernels a small fit is Python
# throughout and holds the GIL, so threads do not beat one thread and the fits run one
# after the other.
# By default at most this many threads: the compiled calls are 40–55 % of a sequential
# select_model on the five bundled data sets (compiling.call timed), so by Amdahl's law a
# third thread could gain little, while every thread more contends for the GIL.
_DEFAULT_THREADS = 2
_PARALLEL_MIN_VALUES = 20_000
# A fit is singular when a component's covariance has an eigenvalue below this fraction of
# the data's largest variance: a standard deviation below √eps of the data's, the √eps that
# mclust 6's EM applies to the Cholesky factors of the covariances (it stops with NA; its
# own test adds 1 to the denominator and so depends on the units). Without it a component
# shrunk onto one row counts as a likelihood of 1e30: VEE with G = 5 on iris (BIC 338
# against mclust's best 562) and G = 7 on banknote, both NA in mclust.
_SINGULAR_VARIANCE = float(np.finfo(np.float64).eps)
# Components with fewer effective rows than this are empty, as in mclust (√eps).
_EMPTY_ROWS = math.sqrt(float(np.finfo(np.float64).eps))


def _require_pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "select_model needs pandas for its results table: pip install 'gaussmix[select]'"
        ) from None
    return pandas


@dataclass(frozen=True)
class SelectionProgress:
    """What :func:`select_model`'s ``callback`` receives after every finished fit.

    Parameters
    ----------
    n_done, n_fits : int
        Fits finished so far (this one included) and fits in all.
    covariance_type : str
        Model of the fit that just finished.
    n_components : int
        Its number of components.
    score : float
        Its criterion value (lower is better), NaN when it failed.
    best_covariance_type : str or None
        Model of the best fit so far (None while every fit has failed).
    best_n_components : int or None
        Its number of components.
    best_score : float
        Its criterion value, NaN while every fit has failed.
    """

    n_done: int
    n_fits: int
    covariance_type: str
    n_components: int
    score: float
    best_covariance_type: str | None
    best_n_components: int | None
    best_score: float


@dataclass(frozen=True)
class ModelSelection:
    """Outcome of :func:`select_model`.

    Parameters
    ----------
    best_estimator_ : GaussianMixture
        The fitted mixture of lowest criterion. Its parameters are select_model's fit
        options with ``responsibilities_init=None`` and select_model's ``init_params``
        and ``random_state``, so it can be cloned and refitted like any estimator; with
        the default hierarchical start a refit on the same data gives the same mixture.
    best_params_ : dict
        Its ``{"covariance_type": ..., "n_components": ...}``.
    results_ : pandas.DataFrame
        One row per (covariance_type, n_components) with columns covariance_type,
        n_components, log_likelihood (total, sample-weighted), n_parameters, bic, aic, icl
        (lower is better), converged, n_iter, error (the message of a degenerate fit,
        whose other values are NaN; empty otherwise) and reseeds (collapsing components
        re-seeded during the fit; select_model warns only when the best fit has some).
        Rows are in the order G-major, model-minor; an interrupted selection holds the
        finished fits only.
    criterion : {"bic", "icl", "aic"}
        The criterion that chose the best model.
    labels_ : ndarray of shape (n_samples,)
        The MAP partition of the data under the best mixture (its ``predict``).
    n_samples_ : float
        The n of the criteria: the number of rows, or Σ w with sample weights.
    n_fits : int
        Fits that were planned; more than ``len(results_)`` when the selection was
        interrupted.
    """

    best_estimator_: GaussianMixture = field(repr=False)
    best_params_: dict[str, Any] = field(default_factory=dict)
    results_: Any = field(default=None, repr=False)
    criterion: str = "bic"
    labels_: Any = field(default=None, repr=False)
    n_samples_: float = 0.0
    n_fits: int = 0

    @property
    def complete(self) -> bool:
        """Whether every planned fit finished (False after an interrupt)."""
        return self.results_ is not None and len(self.results_) >= self.n_fits

    def summary(self, parameters: bool = False, top: int = 3) -> str:
        """What mclust's ``summary(Mclust(X))`` reports, in our sign convention.

        Parameters
        ----------
        parameters : bool, default=False
            Also list the mixing probabilities, means and covariances of the best model
            (mclust's ``summary(..., parameters = TRUE)``).
        top : int, default=3
            Number of best models listed with their criterion differences.

        Returns
        -------
        str
            The best model (code, G, log-likelihood, n, df, BIC, ICL), the ``top`` models
            by the criterion with their differences from the best, the clustering table
            (rows per component of the MAP partition) and, optionally, the parameters.
        """
        from gaussmix.selection_summary import format_summary

        return format_summary(self, parameters=parameters, top=top)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, ax: Any = None, criterion: str | None = None) -> Any:
        """mclust-style plot of the criterion against the number of components.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure is made when None.
        criterion : {"bic", "icl", "aic"}, optional
            Which column to draw; defaults to the selection criterion.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`gaussmix.plotting.plot_bic`: one line per covariance model, the best
            fit starred. Lower is better (mclust draws the negative).
        """
        from gaussmix.plotting import plot_bic

        column = criterion or self.criterion
        best = self.best_params_ if column == self.criterion else None
        return plot_bic(self.results_, criterion=column, ax=ax, best=best)

    def _best_row(self) -> Any:
        table = self.results_
        match = (table["covariance_type"] == self.best_params_["covariance_type"]) & (
            table["n_components"] == self.best_params_["n_components"]
        )
        return table.index[match][0]


class SelectionInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`select_model`, carrying the selection among the finished fits.

    It is a :class:`KeyboardInterrupt`, so code that does not know it still stops.

    Parameters
    ----------
    selection : ModelSelection or None
        The best of the fits that had finished (``selection.complete`` is False), or None
        when none had finished without degenerating.
    n_done, n_fits : int
        Fits finished and planned.
    """

    def __init__(self, selection: ModelSelection | None, n_done: int, n_fits: int):
        super().__init__(f"select_model interrupted after {n_done} of {n_fits} fits")
        self.selection = selection
        self.n_done = n_done
        self.n_fits = n_fits


def _free_parameters(
    covariance_type: str, n_components: int, n_features: int, options: dict[str, Any] | None = None
) -> int:
    """(G − 1) weights + G·D means + the model's covariance parameters (and the options')."""
    options = options or {}
    return free_parameters(
        get_covariance_model(covariance_type),
        n_components,
        n_features,
        equal_proportions=bool(options.get("equal_proportions", False)),
        noise=bool(options.get("noise", False)),
    )


def _criteria(
    result: FitResult,
    covariance_type: str,
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    options: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Total log-likelihood, parameter count, BIC, AIC and ICL of a fitted mixture."""
    total_weight = float(X.shape[0] if sample_weight is None else np.sum(sample_weight))
    log_likelihood = result.log_likelihood * total_weight
    n_parameters = _free_parameters(covariance_type, *result.parameters.means.shape, options)
    bic = -2.0 * log_likelihood + n_parameters * math.log(total_weight)
    log_noise = None if result.noise_density is None else math.log(result.noise_density)
    # Without noise, small float64 data: Σ w log max_k γ in one compiled pass (None
    # otherwise, e.g. with NaN entries, whose marginal posteriors evaluate_rows gives).
    log_map_sum = None
    if log_noise is None:
        log_map_sum = map_log_sum(X, sample_weight, result.parameters)
    if log_map_sum is None:
        executor = (options or {}).get("executor", ExecutorOptions())
        responsibilities = evaluate_rows(
            X, result.parameters, "responsibilities", executor, log_noise
        )
        log_map = np.log(np.max(responsibilities, axis=1).astype(np.float64))
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        log_map_sum = float(np.sum(weights * log_map))
    entropy = -log_map_sum
    return {
        "log_likelihood": log_likelihood,
        "n_parameters": n_parameters,
        "bic": bic,
        "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
        "icl": bic + 2.0 * entropy,
    }


@contextlib.contextmanager
def _fit_warnings() -> Iterator[None]:
    """Warning filters of the fits: no ConvergenceWarning, RuntimeWarning as an error.

    Overflow or NaN inside a fit means it degenerated: it is recorded like a collapse.
    Warning filters are process-wide and not thread-safe, so worker threads rely on the
    filters that the main thread set around all of them (see :func:`_indexed`).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _degeneracy(parameters: MixtureParameters, total_weight: float, data_variance: float) -> str:
    """Why a fitted mixture is degenerate in mclust's sense ("" when it is not).

    Empty components (fewer than √eps effective rows) and singular covariances (an
    eigenvalue below eps times ``data_variance``, the data's largest variance).
    """
    n_k = np.asarray(parameters.weights) * total_weight
    empty = np.flatnonzero(n_k < _EMPTY_ROWS)
    if empty.size:
        return f"empty component(s) {empty.tolist()} (n_k = {n_k[empty].tolist()})"
    n_components, n_features = parameters.means.shape
    dense = to_public(parameters.covariances, parameters.form, True, n_components, n_features)
    smallest = np.linalg.eigvalsh(dense)[:, 0]
    singular = np.flatnonzero(smallest <= _SINGULAR_VARIANCE * data_variance)
    if singular.size:
        return (
            f"singular covariance: component(s) {singular.tolist()} have a variance of "
            f"{smallest[singular].tolist()}, below eps × the data's largest variance "
            f"({data_variance:.6g}); mclust reports such a fit as NA"
        )
    return ""


def _fit_one(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    covariance_type: str,
    n_components: int,
    responsibilities: np.ndarray,
    options: dict[str, Any],
    data_variance: float = math.inf,
) -> tuple[dict[str, Any], FitResult | None]:
    """Fit one combination; a degenerate fit gives a row with its error instead of raising.

    X and the weights are select_model's, validated once for every cell: the cell runs
    the engine (:func:`gaussmix.fitting.fit_mixture`) on them directly, under the BLAS
    limit and warning filters of its caller (select_model or :func:`_indexed`). ``options`` are
    the fit's settings (tol, convergence, reg_covar, max_iter); ``data_variance`` the
    data's largest variance, the scale of the singularity test. What the fit would warn
    about is recorded, not warned: the re-seeds of collapsing components in the row.
    """
    row = _failed_row(covariance_type, n_components, X.shape[1], "")
    row["n_parameters"] = _free_parameters(covariance_type, n_components, X.shape[1], options)
    settings = FitSettings(
        n_components,
        get_covariance_model(covariance_type),
        given=GivenStart(responsibilities=responsibilities),
        **options,
    )
    try:
        result = fit_mixture(FitData(X, sample_weight), settings)
        if result.interrupt is not None:
            raise result.interrupt
        row.update(_criteria(result, covariance_type, X, sample_weight, options))
    except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeWarning) as error:
        row["error"] = _error_text(error)
        return row, None
    row.update(converged=result.converged, n_iter=result.n_iter, reseeds=len(result.reseeds))
    if not np.isfinite(row["bic"]):
        row["error"] = "non-finite log-likelihood"
        return row, None
    total_weight = float(X.shape[0] if sample_weight is None else np.sum(sample_weight))
    degenerate = _degeneracy(result.parameters, total_weight, data_variance)
    if degenerate:
        row.update(log_likelihood=np.nan, bic=np.nan, aic=np.nan, icl=np.nan, error=degenerate)
        return row, None
    return row, result


def _error_text(error: BaseException) -> str:
    """The table's words for a failed fit."""
    if isinstance(error, (RuntimeWarning, ArithmeticError, np.linalg.LinAlgError)):
        # NumPy's words, not the library's: say what they mean.
        return (
            f"the fit degenerated (NumPy: {error}): a variance or likelihood left the "
            "floating-point range; raise reg_covar, use fewer components or "
            "standardise the features"
        )
    return f"{type(error).__name__}: {error}"


def _failed_row(
    covariance_type: str, n_components: int, n_features: int, error: str
) -> dict[str, Any]:
    """A table row without a fit (its error says why)."""
    return {
        "covariance_type": covariance_type,
        "n_components": n_components,
        "log_likelihood": np.nan,
        "n_parameters": _free_parameters(covariance_type, n_components, n_features),
        "bic": np.nan,
        "aic": np.nan,
        "icl": np.nan,
        "converged": False,
        "n_iter": 0,
        "error": error,
        "reseeds": 0,
        "start": "",
    }


def _noise_only_row(
    covariance_type: str, X: np.ndarray, sample_weight: np.ndarray | None, density: float
) -> tuple[dict[str, Any], None]:
    """The row of G = 0: every row from the noise, log L = Σ w · log V⁻¹, one parameter."""
    total_weight = float(X.shape[0] if sample_weight is None else np.sum(sample_weight))
    log_likelihood = total_weight * math.log(density)
    bic = -2.0 * log_likelihood + math.log(total_weight)
    row = _failed_row(covariance_type, 0, X.shape[1], "")
    row.update(
        log_likelihood=log_likelihood,
        n_parameters=1,
        bic=bic,
        aic=-2.0 * log_likelihood + 2.0,
        icl=bic,
        converged=True,
    )
    return row, None


def _too_few_rows(
    covariance_type: str, n_components: int, n_support: int, n_features: int
) -> tuple[dict[str, Any], None]:
    """The recorded row of a combination with more components than rows."""
    error = f"n_components = {n_components} exceeds the {n_support} rows available"
    return _failed_row(covariance_type, n_components, n_features, error), None


def _covariance_types(covariance_types: str | Iterable[str]) -> list[str]:
    if isinstance(covariance_types, str):
        if covariance_types == "all":
            return list(MCLUST_MODELS)
        covariance_types = [covariance_types]
    names = list(covariance_types)
    for name in names:
        get_covariance_model(name)
    if not names:
        raise InvalidParameterError(
            "covariance_types must name at least one model; got an empty list. Use 'all'."
        )
    return names


def parallel_plan(
    n_jobs: int | None, n_samples: int, n_features: int, n_fits: int, compiled: bool = False
) -> tuple[int, str]:
    """How many joblib workers select_model uses, and whether they are processes or threads.

    Parameters
    ----------
    n_jobs : int or None
        select_model's ``n_jobs``: None chooses by data size; 1 fits one model after the
        other in this process; -1 all cores; k > 1 that many workers.
    n_samples, n_features : int
        Shape of the data.
    n_fits : int
        Number of fits.
    compiled : bool, default=False
        Whether the small-data fits run the compiled kernels (numba installed and the
        kernels loaded: :func:`gaussmix.precompile.ready`).

    Returns
    -------
    n_workers : int
        1 for sequential fitting.
    prefer : {"processes", "threads"}
        joblib's ``prefer`` hint: threads for small data with the compiled kernels (their
        fits release the GIL for most of their time), processes otherwise
        (``benchmarks/bench_select.py --plan``). ``joblib.parallel_config(backend=...)``
        overrides it. With ``n_jobs=None``, small data are fitted in at most two threads
        with the compiled kernels and sequentially without them.
    """
    cores = default_n_threads()
    small = n_samples * n_features < _PARALLEL_MIN_VALUES
    threads = small and compiled
    if n_jobs is None:
        workers = min(cores, _DEFAULT_THREADS) if threads else 1 if small else cores
    elif n_jobs < 0:
        workers = max(1, cores + 1 + n_jobs)
    else:
        workers = n_jobs
    return max(1, min(workers, n_fits)), "threads" if threads else "processes"


def _compiled_fits(X: np.ndarray, options: dict[str, Any]) -> bool:
    """Whether the cells' EM can run in the compiled loop once the kernels are loaded.

    Float64 data and the plain ML M-step only (``em.run_em`` asks the compiled loop for
    no other); a prior, fixed proportions, noise, labels or missing values keep each
    iteration in Python.
    """
    plain = options.get("prior") is None and not options.get("equal_proportions")
    plain = plain and not options.get("noise") and options.get("labels") is None
    return plain and "executor" not in options and X.dtype == np.float64


def _check_n_jobs(n_jobs: Any) -> None:
    if n_jobs is None:
        return
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, (int, np.integer)):
        raise InvalidParameterError(
            f"n_jobs must be None, a positive integer or a negative one (-1: all cores); "
            f"got {n_jobs!r}."
        )
    if n_jobs == 0:
        raise InvalidParameterError(
            "n_jobs must not be 0; use None (chosen by data size), 1 (sequential) or -1 "
            "(all cores)."
        )


def select_model(
    X: Any,
    n_components: int | Iterable[int] = range(1, 10),
    covariance_types: str | Iterable[str] = "all",
    criterion: Criterion = "bic",
    *,
    sample_weight: Any = None,
    init_params: str = "hierarchical",
    tol: float = 1e-5,
    convergence: str = "relative",
    reg_covar: float = 0.0,
    max_iter: int = 1000,
    n_jobs: int | None = None,
    random_state: Any = None,
    callback: Callable[[SelectionProgress], None] | None = None,
    nested_starts: bool = True,
    y: Any = None,
    prior: Any = None,
    equal_proportions: bool = False,
    noise: bool = False,
    noise_init: Any = None,
    Vinv: float | None = None,
    missing: str = "error",
) -> ModelSelection:
    """Fit every (covariance model, number of components) pair and keep the best.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data.
    n_components : int or iterable of int, default=range(1, 10)
        Numbers of components G to try.
    covariance_types : "all", str or iterable of str, default="all"
        Covariance models (mclust codes or scikit-learn names); ``"all"`` is the fourteen
        mclust models.
    criterion : {"bic", "icl", "aic"}, default="bic"
        What to minimise (lower is better; mclust's values are the negatives).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights; the criteria then use n = Σ w.
    init_params : str, default="hierarchical"
        How the starting partition is made. It is computed once per G and shared by all
        models: ``"hierarchical"`` builds one agglomerative tree (mclust's default start)
        and cuts it at every G; other values draw one partition per G with
        ``random_state``.
    tol : float, default=1e-5
        EM convergence threshold of every fit; its meaning is set by ``convergence``.
    convergence : {"relative", "absolute"}, default="relative"
        ``"relative"`` is mclust's rule (its ``emControl()$tol[1]`` is 1e-5): stop when
        the total, sample-weighted log-likelihood L changes by less than
        ``tol·(1 + |L|)``. ``"absolute"`` is scikit-learn's: stop when the mean
        log-likelihood per sample changes by less than ``tol``.
    reg_covar : float, default=0.0
        Regularisation of every fit. 0 as in mclust (no prior); singular fits are
        recorded with their error rather than regularised.
    max_iter : int, default=1000
        EM iterations per fit.
    n_jobs : int or None, default=None
        Parallel fits with joblib workers: threads below 20,000 values (rows ×
        features) when the compiled kernels (numba) run the fits, worker processes
        otherwise. None: all cores in processes, two threads for small data, and one
        fit after the other for small data without the compiled kernels (their fits
        hold the GIL, and starting processes costs more than it saves). 1: sequential;
        -1: all cores; k: k workers. The table does not depend on it
        (:func:`parallel_plan`).
    random_state : int, RandomState instance or None, default=None
        Seed of non-hierarchical starting partitions.
    callback : callable, optional
        Called with a :class:`SelectionProgress` in the calling thread after every
        finished fit (fits done, the current best).
    nested_starts : bool, default=True
        After the fits from the shared start, fit a model again from the posterior of
        a model nested in it (same G) whose fit is likelier by more than EM's
        tolerance, or when its own fit failed; VVE also from EVE and VEV
        (:mod:`gaussmix.nested_starts`). The likelier fit is kept and its source named
        in ``results_["start"]``. mclust has no such step: with it no cell of the
        table is below mclust's on the bundled data sets.
    y : array-like of shape (n_samples,), default=None
        Known components of some rows (-1: unknown): every fit is semi-supervised
        (:mod:`gaussmix.semisupervised`; mclust's ``MclustSSC``), its log-likelihood that of
        the data and the labels, its parameters counted as an ordinary mixture's. A G
        below the largest label + 1 is recorded as failed.
    prior : None, "default" or gaussmix.Prior, default=None
        A conjugate prior for every fit (``GaussianMixture(prior=...)``); the four
        models without one (EVE, VEE, VVE, EVV) are rows with that error.
    equal_proportions : bool, default=False
        π_k = 1/G in every fit.
    noise : bool, default=False
        A uniform noise component in every fit (``GaussianMixture(noise=True)``), of
        density ``Vinv`` (None: 1/hypervolume of X, computed once). The shared starts
        are computed on the rows outside ``noise_init`` (a mask or a fraction drawn with
        ``random_state``; None: every row starts with a noise share of 0.1); nested
        starts are not used.
    noise_init, Vinv
        As ``GaussianMixture``'s.
    missing : {"error", "em"}, default="error"
        ``"em"``: NaN entries are missing at random and every fit is
        ``GaussianMixture(missing="em")``'s (:mod:`gaussmix.missing`): EM on the
        observed-data likelihood, whose log-likelihood the criteria use (the parameter
        count is the ordinary mixture's). The shared starts are computed on X with every
        NaN replaced by its column's (weighted) mean, as ``GaussianMixture`` draws its
        starts; nested starts work as without missing values (posteriors from the
        marginal densities of the observed entries); the best estimator has
        ``missing="em"``. Without NaN the table is the one of ``"error"``.

    Returns
    -------
    ModelSelection

    Raises
    ------
    InvalidParameterError
        For an unknown criterion, covariance type or convergence rule, or bad numbers
        of components.
    InvalidInputError
        When every fit was degenerate.
    SelectionInterrupted
        On Ctrl-C (or a ``KeyboardInterrupt`` from ``callback``), carrying the selection
        among the fits that had finished.

    Warns
    -----
    CollapsedComponentWarning
        Once, when the selected fit re-seeded collapsing components (every fit's count is
        in ``results_["reseeds"]``; the fits themselves do not warn).

    Examples
    --------
    >>> import numpy as np
    >>> from importlib.resources import files
    >>> from gaussmix import select_model
    >>> faithful = np.loadtxt(files("gaussmix") / "data/faithful.csv", delimiter=",", skiprows=1)
    >>> result = select_model(faithful, covariance_types=["EEE", "VVV"])
    >>> result.best_params_
    {'covariance_type': 'EEE', 'n_components': 3}
    """
    pandas = _require_pandas()
    n_components, noise_only = _without_noise_only(n_components, noise)
    counts = _check_options(
        n_components, criterion, tol, convergence, reg_covar, max_iter, n_jobs, init_params
    )
    if callback is not None and not callable(callback):
        raise InvalidParameterError(
            f"callback must be callable or None; got {type(callback).__name__}."
        )
    codes = _covariance_types(covariance_types)
    # Validated once for every fit; the best one gets the column names of X back below.
    named, X = _checked_data(X, missing, noise=noise, prior=prior)
    weights = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    options = {"tol": tol, "convergence": convergence, "reg_covar": reg_covar, "max_iter": max_iter}
    options.update(prior=prior, equal_proportions=bool(equal_proportions))
    options, public, labels = _cell_options(X, options, noise, Vinv, y, init_params, random_state)
    options, public, start_X = _missing_options(X, weights, options, public, missing)
    nested_starts = nested_starts and not noise
    starts, n_support = _shared_starts(
        start_X, weights, counts, init_params, random_state, noise, noise_init
    )
    starts = labelled_starts(starts, labels)
    data_variance = _largest_variance(start_X, weights)
    jobs = [
        (_fit_one, (X, weights, code, count, starts[count], options, data_variance))
        if starts[count] is not None
        else (_too_few_rows, (code, count, n_support, X.shape[1]))
        for count in counts
        for code in codes
    ]
    if noise_only:
        jobs[:0] = [(_noise_only_row, (code, X, weights, options["Vinv"])) for code in codes]
    compiled = _compiled_fits(X, options) and precompile.ready()
    n_workers, prefer = parallel_plan(n_jobs, X.shape[0], X.shape[1], len(jobs), compiled)
    finished: dict[int, tuple[dict[str, Any], FitResult | None]] = {}
    tracker = _BestTracker(criterion, len(jobs), callback)
    assemble = functools.partial(_assemble, pandas, finished, criterion, named, X, weights, public)
    try:
        # One BLAS thread and the fits' warning filters, held by this thread for every fit
        # it runs or waits for (worker threads share both; worker processes set their own).
        with one_blas_thread(), _fit_warnings():
            restart_data = (X, weights, options, data_variance) if nested_starts else None
            cells = (counts, codes, starts, restart_data)
            _fit_cells(jobs, cells, finished, tracker, n_workers, prefer)
    except KeyboardInterrupt:
        raise SelectionInterrupted(assemble(len(jobs)), len(finished), len(jobs)) from None
    selection = assemble(len(jobs))
    if selection is None:
        table = pandas.DataFrame([row for row, _ in finished.values()], columns=list(_COLUMNS))
        raise InvalidInputError(
            "select_model needs at least one fit that does not degenerate; every fit failed "
            f"(first error: {table['error'].iloc[0]}). Use fewer components, raise reg_covar "
            "or standardise the features."
        )
    _warn_about_reseeds(selection)
    return selection


def _cell_options(
    X: np.ndarray,
    options: dict[str, Any],
    noise: bool,
    Vinv: float | None,
    y: Any,
    init_params: str,
    random_state: Any,
) -> tuple[dict[str, Any], dict[str, Any], np.ndarray | None]:
    """Every fit's engine options, the best estimator's public parameters, the labels."""
    options = {**options, **_noise_options(X, noise, Vinv)}
    public = {**options, "init_params": init_params, "random_state": random_state}
    labels = check_labels(y, X.shape[0])
    if labels is not None:
        options, public = {**options, "labels": labels}, {**public, "semi_supervised": True}
    return options, public, labels


def _checked_data(X: Any, missing: Any, **used: Any) -> tuple[GaussianMixture, np.ndarray]:
    """X validated (NaN allowed with missing="em"), in an estimator recording its columns.

    Noise and priors (``used``) are defined on complete rows only, as in a single fit.
    """
    if missing not in MISSING_CHOICES:
        raise InvalidParameterError(
            f"missing must be one of {list(MISSING_CHOICES)}; got {missing!r}. Use 'em' to "
            "fit rows with NaN entries as missing values."
        )
    named = GaussianMixture(missing=missing)
    X = check_data(named, X, reset=True, allow_nan=missing == "em")
    if missing != "em" or not has_missing(X):
        return named, X
    for name, value in used.items():
        if value is not None and value is not False:
            raise InvalidInputError(
                f"missing='em' does not combine with {name}: X has NaN entries. Select "
                f"among the complete rows with {name}, or select with missing='em' "
                f"without {name}."
            )
    return named, X


def _missing_options(
    X: np.ndarray,
    weights: np.ndarray | None,
    options: dict[str, Any],
    public: dict[str, Any],
    missing: str,
) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    """The fits' options with missing values, the best estimator's, the rows of the starts.

    With NaN in X every fit's executor visits the incomplete rows by their observed
    entries, and the starts (and the scale of the singularity test) are computed on X
    with every NaN replaced by its column's mean (:func:`gaussmix.missing.mean_imputed`),
    as ``GaussianMixture(missing="em")`` draws its starts.
    """
    if missing != "em":
        return options, public, X
    public = {**public, "missing": "em"}
    if not has_missing(X):
        return options, public, X
    check_missing_values(X)
    options = {**options, "executor": ExecutorOptions(missing="em")}
    return options, public, mean_imputed(X, weights)


def _noise_options(X: np.ndarray, noise: bool, Vinv: float | None) -> dict[str, Any]:
    """The fits' noise settings: V⁻¹ computed once (1/hypervolume of X) unless given."""
    if not noise:
        return {}
    check_number("Vinv", Vinv, minimum=0.0, allow_none=True)
    return {"noise": True, "Vinv": 1.0 / hypervolume(X) if Vinv is None else Vinv}


def _without_noise_only(n_components: Any, noise: bool) -> tuple[Any, bool]:
    """The numbers of components to fit, and whether G = 0 (the noise alone) was asked for."""
    if not noise or isinstance(n_components, (int, np.integer)):
        return n_components, False
    counts = list(n_components)
    return [count for count in counts if count != 0] or counts, 0 in counts


def _shared_starts(
    X: np.ndarray,
    weights: np.ndarray | None,
    counts: list[int],
    init_params: str,
    random_state: Any,
    noise: bool,
    noise_init: Any,
) -> tuple[dict[int, np.ndarray | None], int]:
    """Every G's shared start and the rows it could use; with noise, computed on the rows
    outside ``noise_init`` (:func:`gaussmix.noise.embed_start`)."""
    mask = None
    if noise:
        mask = noise_mask(
            check_noise_init(noise_init, X.shape[0]), X.shape[0], check_random_state(random_state)
        )
    kept = slice(None) if mask is None else ~mask
    kept_weights = None if weights is None else weights[kept]
    n_support = X[kept].shape[0] if weights is None else int(np.count_nonzero(kept_weights))
    starts = _starts(X[kept], kept_weights, counts, init_params, random_state, n_support)
    if noise:
        starts = {
            count: None if start is None else embed_start(start, mask)
            for count, start in starts.items()
        }
    return starts, n_support


def _check_options(
    n_components: int | Iterable[int],
    criterion: str,
    tol: float,
    convergence: str,
    reg_covar: float,
    max_iter: int,
    n_jobs: int | None,
    init_params: str,
) -> list[int]:
    """Check select_model's options; return the numbers of components as a list."""
    if criterion not in _CRITERIA:
        raise InvalidParameterError(
            f"criterion must be one of {list(_CRITERIA)}; got {criterion!r}."
        )
    counts = [n_components] if isinstance(n_components, (int, np.integer)) else list(n_components)
    if not counts:
        raise InvalidParameterError(
            "n_components must hold at least one number; got an empty sequence."
        )
    for count in counts:
        check_number("n_components", count, integer=True, minimum=1)
    check_number("tol", tol, minimum=0.0)
    if convergence not in CONVERGENCE_RULES:
        raise InvalidParameterError(
            f"convergence must be one of {list(CONVERGENCE_RULES)}; got {convergence!r}. "
            "Use 'relative' (mclust's rule) or 'absolute' (scikit-learn's)."
        )
    check_number("reg_covar", reg_covar, minimum=0.0)
    check_number("max_iter", max_iter, integer=True, minimum=1)
    _check_n_jobs(n_jobs)
    if init_params not in _INIT_METHODS:
        raise InvalidParameterError(
            f"init_params must be one of {list(_INIT_METHODS)}; got {init_params!r}."
        )
    return counts


def _starts(
    X: np.ndarray,
    weights: np.ndarray | None,
    counts: list[int],
    init_params: str,
    random_state: Any,
    n_support: int,
) -> dict[int, np.ndarray | None]:
    """The starting responsibilities of every G, shared by all models (None: too few rows)."""
    n_samples = X.shape[0]
    starts: dict[int, np.ndarray | None] = {}
    if init_params == "hierarchical":
        # The NumPy agglomeration while the kernels compile in the background (same merges).
        tree = build_tree(X, weights, compiled=None if precompile.ready() else False)
        for count in counts:
            fits = count <= tree.rows.shape[0]
            starts[count] = tree.responsibilities(n_samples, count) if fits else None
        return starts
    generator = check_random_state(random_state)
    for count in counts:
        starts[count] = (
            initial_responsibilities(X, weights, count, init_params, generator)
            if count <= n_support
            else None
        )
    return starts


def _nested_chains(
    finished: dict[int, tuple[dict[str, Any], FitResult | None]],
    codes: list[str],
    counts: list[int],
    starts: dict[int, np.ndarray | None],
    data: tuple[np.ndarray, np.ndarray | None, dict[str, Any], float],
) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """One job per G with a start: its cells, keyed by job index, for :func:`_restart_count`.

    Jobs are numbered count-major (see select_model), so cell (G, code) is job
    ``counts.index(G) * len(codes) + codes.index(code)``.
    """
    X, weights, options, data_variance = data
    chains = []
    for position, count in enumerate(counts):
        if starts[count] is None:
            continue
        indices = {code: position * len(codes) + slot for slot, code in enumerate(codes)}
        cells = {index: finished[index] for index in indices.values()}
        chains.append((_restart_count, (X, weights, count, indices, cells, options, data_variance)))
    return chains


def _fit_cells(
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]],
    cells: tuple[list[int], list[str], dict[int, np.ndarray | None], Any],
    finished: dict[int, tuple[dict[str, Any], FitResult | None]],
    tracker: _BestTracker,
    n_workers: int,
    prefer: str,
) -> None:
    """Run every cell's fit and the second starts into ``finished`` (by job index).

    ``cells`` is (counts, codes, starts, restart_data); restart_data None: no second
    starts. Worker threads take one job per G (:func:`_count_groups`); otherwise every fit
    is a job, then every G's second starts.
    """
    counts, codes, starts, restart_data = cells
    if n_workers > 1 and prefer == "threads":
        groups = _count_groups(jobs, counts, codes, starts, restart_data)
        for _, (fitted, improved) in _run(groups, n_workers, prefer):
            # A G's rows are reported with its second starts applied: a callback that
            # interrupts while they are reported leaves final rows only.
            fitted.update(improved)
            for index in sorted(fitted):
                finished[index] = fitted[index]
                tracker.add(index, fitted[index][0])
        return
    for index, outcome in _run(jobs, n_workers, prefer):
        finished[index] = outcome
        tracker.add(index, outcome[0])
    if restart_data is not None:
        chains = _nested_chains(finished, codes, counts, starts, restart_data)
        for _, improved in _run(chains, n_workers, prefer):
            finished.update(improved)


def _count_groups(
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]],
    counts: list[int],
    codes: list[str],
    starts: dict[int, np.ndarray | None],
    restart_data: tuple[np.ndarray, np.ndarray | None, dict[str, Any], float] | None,
) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """One job per G, the largest first: its fits, then (with ``restart_data``) its second starts.

    For worker threads. A G's second starts need only its own fits, so they follow them in
    the same job instead of waiting for every G's: G = 9's second starts alone are a third
    of a sequential select_model on banknote (1.8 of 5.3 s; thyroid 1.2 of 3.6 s, timed per
    G on the shared 2-core machine), and run after all the fits they would keep one thread
    busy while the other had nothing left. The largest G goes first, since its fits take
    longest. Jobs are numbered as in select_model (noise-only rows first, then count-major),
    so the cells keep their places in the table.
    """
    offset = len(jobs) - len(counts) * len(codes)
    groups = []
    if offset:
        groups.append((_fit_group, ([(index, *jobs[index]) for index in range(offset)], None)))
    for position, count in sorted(enumerate(counts), key=lambda item: -item[1]):
        indices = {code: offset + position * len(codes) + slot for slot, code in enumerate(codes)}
        cells = [(index, *jobs[index]) for index in indices.values()]
        restart = None
        if restart_data is not None and starts[count] is not None:
            X, weights, options, data_variance = restart_data
            restart = (X, weights, count, indices, options, data_variance)
        groups.append((_fit_group, (cells, restart)))
    return groups


def _fit_group(
    cells: list[tuple[int, Callable[..., Any], tuple[Any, ...]]],
    restart: tuple[Any, ...] | None,
) -> tuple[dict[int, Any], dict[int, Any]]:
    """The outcomes of one G's fits by job index, and of its second starts (may be empty)."""
    fitted = {index: function(*arguments) for index, function, arguments in cells}
    if restart is None:
        return fitted, {}
    X, weights, count, indices, options, data_variance = restart
    return fitted, _restart_count(X, weights, count, indices, fitted, options, data_variance)


def _restart_count(
    X: np.ndarray,
    weights: np.ndarray | None,
    count: int,
    indices: dict[str, int],
    cells: dict[int, tuple[dict[str, Any], FitResult | None]],
    options: dict[str, Any],
    data_variance: float,
) -> dict[int, tuple[dict[str, Any], FitResult | None]]:
    """The cells of one G after :func:`gaussmix.nested_starts.restart_from_nested`."""
    codes = {name: get_covariance_model(name).name for name in indices}
    if len(set(codes.values())) < len(codes):
        return cells  # one model under two names ('full' and 'VVV'): nothing is nested
    by_code = {codes[name]: cells[index] for name, index in indices.items()}
    order = sorted(
        by_code, key=lambda code: get_covariance_model(code).n_parameters(count, X.shape[1])
    )
    names = {codes[name]: name for name in indices}

    def refit(code: str, responsibilities: np.ndarray) -> tuple[dict[str, Any], Any]:
        return _fit_one(X, weights, names[code], count, responsibilities, options, data_variance)

    def posterior(result: FitResult) -> np.ndarray:
        # NumPy's floating-point states, not the warning filters: those are process-wide
        # and this may run in a worker thread beside other fits.
        with np.errstate(all="ignore"):
            executor = options.get("executor", ExecutorOptions())
            return evaluate_rows(X, result.parameters, "responsibilities", executor)

    def gap(log_likelihood: float) -> float:
        # mclust's relative convergence scale: differences below it are EM's noise.
        return 1e-5 * (1.0 + abs(log_likelihood))

    improved = restart_from_nested(by_code, order, refit, posterior, gap)
    return {indices[names[code]]: cell for code, cell in improved.items()}


def _warn_about_reseeds(selection: ModelSelection) -> None:
    """One warning when the selected fit re-seeded collapsing components.

    Re-seeds in the other fits are only recorded (``results_["reseeds"]``): they do not
    change the answer, and a warning per fit would bury it (thyroid, iris and banknote
    each have several such fits among their 126).
    """
    table = selection.results_
    best = selection._best_row()
    if not table.loc[best, "reseeds"]:
        return
    cells = table[table["reseeds"] > 0]
    named = ", ".join(
        f"{cell.covariance_type} G={cell.n_components}" for cell in cells.iloc[:5].itertuples()
    )
    more = "" if len(cells) <= 5 else f" and {len(cells) - 5} more"
    warnings.warn(
        "The selected fit should be plain EM from select_model's start; in "
        f"{table.loc[best, 'covariance_type']} with G = {table.loc[best, 'n_components']} "
        f"{table.loc[best, 'reseeds']} collapsing component(s) were re-seeded at the "
        f"worst-explained rows. Fits that re-seeded: {named}{more} (results_['reseeds']). "
        "Compare with the next best models, or raise reg_covar.",
        CollapsedComponentWarning,
        stacklevel=3,
    )


def _largest_variance(X: np.ndarray, weights: np.ndarray | None) -> float:
    """Largest eigenvalue of the (sample-weighted) covariance of the data."""
    centre = np.average(X, axis=0, weights=weights).astype(np.float64)
    differences = X.astype(np.float64) - centre
    weighted = differences if weights is None else differences * weights[:, None]
    total = float(X.shape[0] if weights is None else np.sum(weights))
    covariance = np.atleast_2d(weighted.T @ differences / total)
    return float(np.linalg.eigvalsh(covariance)[-1])


def _run(
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]], n_workers: int, prefer: str
) -> Iterator[tuple[int, Any]]:
    """(index, result) of every job, as they finish: here in order, or in joblib workers."""
    if n_workers == 1:
        for index, (function, arguments) in enumerate(jobs):
            yield index, function(*arguments)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_workers, prefer=prefer, return_as="generator_unordered")
    # Worker threads hand the GIL over at every compiled call (gil_handoff.py); with
    # processes only this thread and joblib's take turns.
    with short_switch_interval():
        results = parallel(
            delayed(_indexed)(index, function, arguments)
            for index, (function, arguments) in enumerate(jobs)
        )
        try:
            yield from results
        finally:
            # An interrupt (or an error) stops the walk: joblib then cancels what is left,
            # and its warning that it did so says nothing the interrupt does not.
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=".*tasks which were still being processed"
                )
                results.close()


def _indexed(
    index: int, function: Callable[..., Any], arguments: tuple[Any, ...]
) -> tuple[int, Any]:
    """A job in a joblib worker: a worker process (its main thread) sets the fits' BLAS
    limit and warning filters itself; a worker thread shares those of select_model's
    thread."""
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main:
        return index, function(*arguments)
    with one_blas_thread(), _fit_warnings():
        return index, function(*arguments)


class _BestTracker:
    """The best fit so far, reported to the callback after every finished fit."""

    def __init__(
        self, criterion: str, n_fits: int, callback: Callable[[SelectionProgress], None] | None
    ):
        self.criterion = criterion
        self.n_fits = n_fits
        self.callback = callback
        self.n_done = 0
        self.best: tuple[float, int, str, int] | None = None

    def add(self, index: int, row: dict[str, Any]) -> None:
        self.n_done += 1
        score = float(row[self.criterion])
        # Ties go to the earlier fit in table order, as np.nanargmin does at the end.
        if math.isfinite(score) and (
            self.best is None or (score, index) < (self.best[0], self.best[1])
        ):
            self.best = (score, index, row["covariance_type"], row["n_components"])
        if self.callback is None:
            return
        best = self.best
        self.callback(
            SelectionProgress(
                n_done=self.n_done,
                n_fits=self.n_fits,
                covariance_type=row["covariance_type"],
                n_components=row["n_components"],
                score=score,
                best_covariance_type=None if best is None else best[2],
                best_n_components=None if best is None else best[3],
                best_score=math.nan if best is None else best[0],
            )
        )


def _assemble(
    pandas: Any,
    finished: dict[int, tuple[dict[str, Any], FitResult | None]],
    criterion: str,
    named: GaussianMixture,
    X: np.ndarray,
    weights: np.ndarray | None,
    public: dict[str, Any],
    n_fits: int,
) -> ModelSelection | None:
    """The selection among the finished fits, in table order; None if none succeeded.

    The best estimator is built from its fit with ``public`` as its parameters (no
    ``responsibilities_init``: select_model's shared start of these data would make it
    unclonable for other data, and its repr an n_samples × G array).
    """
    order = sorted(finished)
    table = pandas.DataFrame([finished[index][0] for index in order], columns=list(_COLUMNS))
    scores = table[criterion].to_numpy(dtype=float, copy=True)
    # Only fitted mixtures can be chosen (not the noise-only rows of G = 0).
    scores[[finished[index][1] is None for index in order]] = np.nan
    if not np.any(np.isfinite(scores)):
        return None
    best = int(np.nanargmin(scores))
    best_params = {
        "covariance_type": str(table["covariance_type"].iloc[best]),
        "n_components": int(table["n_components"].iloc[best]),
    }
    result = finished[order[best]][1]
    best_estimator = estimator_from_fit(
        result,
        {**public, **best_params},
        n_features=X.shape[1],
        feature_names=getattr(named, "feature_names_in_", None),
        n_samples=X.shape[0],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        log_noise = None if result.noise_density is None else math.log(result.noise_density)
        executor = ExecutorOptions(missing=public.get("missing", "error"))
        labels = evaluate_rows(X, result.parameters, "labels", executor, log_noise)
    return ModelSelection(
        best_estimator_=best_estimator,
        best_params_=best_params,
        results_=table,
        criterion=criterion,
        labels_=labels,
        n_samples_=float(X.shape[0] if weights is None else np.sum(weights)),
        n_fits=n_fits,
    )
