"""Model selection over numbers of components × covariance models by BIC, ICL or AIC.

Sign convention: scikit-learn's, **lower is better**, BIC = −2 log L + p log n. mclust
reports the opposite sign (BIC_mclust = −BIC_ours, higher is better there); the same holds
for ICL.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from gaussmix.covariance import MCLUST_MODELS, get_covariance_model
from gaussmix.estimator import GaussianMixture
from gaussmix.exceptions import InvalidInputError, InvalidParameterError
from gaussmix.hierarchical import build_tree
from gaussmix.initialization import initial_responsibilities
from gaussmix.validation import check_data, check_number, check_sample_weight

__all__ = ["ModelSelection", "select_model"]

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
)


def _require_pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "select_model needs pandas for its results table: pip install 'gaussmix[select]'"
        ) from None
    return pandas


@dataclass(frozen=True)
class ModelSelection:
    """Outcome of :func:`select_model`.

    Parameters
    ----------
    best_estimator_ : GaussianMixture
        The fitted mixture of lowest criterion.
    best_params_ : dict
        Its ``{"covariance_type": ..., "n_components": ...}``.
    results_ : pandas.DataFrame
        One row per (covariance_type, n_components) with columns covariance_type,
        n_components, log_likelihood (total, sample-weighted), n_parameters, bic, aic, icl
        (lower is better), converged, n_iter and error (the message of a degenerate fit,
        whose other values are NaN; empty otherwise).
    criterion : {"bic", "icl", "aic"}
        The criterion that chose the best model.
    """

    best_estimator_: GaussianMixture = field(repr=False)
    best_params_: dict[str, Any] = field(default_factory=dict)
    results_: Any = field(default=None, repr=False)
    criterion: str = "bic"

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


def _free_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """(G − 1) weights + G·D means + the model's covariance parameters."""
    covariance = get_covariance_model(covariance_type).n_parameters(n_components, n_features)
    return int(covariance + n_components * n_features + n_components - 1)


def _criteria(
    estimator: GaussianMixture, X: np.ndarray, sample_weight: np.ndarray | None
) -> dict[str, float]:
    """Total log-likelihood, parameter count, BIC, AIC and ICL of a fitted mixture."""
    total_weight = float(X.shape[0] if sample_weight is None else np.sum(sample_weight))
    log_likelihood = estimator.log_likelihood_ * total_weight
    n_parameters = _free_parameters(estimator.covariance_type, *estimator.means_.shape)
    bic = -2.0 * log_likelihood + n_parameters * math.log(total_weight)
    log_map = np.log(np.max(estimator.predict_proba(X), axis=1).astype(np.float64))
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    entropy = -float(np.sum(weights * log_map))
    return {
        "log_likelihood": log_likelihood,
        "n_parameters": n_parameters,
        "bic": bic,
        "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
        "icl": bic + 2.0 * entropy,
    }


def _fit_one(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    covariance_type: str,
    n_components: int,
    responsibilities: np.ndarray,
    options: dict[str, Any],
) -> tuple[dict[str, Any], GaussianMixture | None]:
    """Fit one combination; a degenerate fit gives a row with its error instead of raising."""
    from threadpoolctl import threadpool_limits

    row: dict[str, Any] = {
        "covariance_type": covariance_type,
        "n_components": n_components,
        "log_likelihood": np.nan,
        "n_parameters": _free_parameters(covariance_type, n_components, X.shape[1]),
        "bic": np.nan,
        "aic": np.nan,
        "icl": np.nan,
        "converged": False,
        "n_iter": 0,
        "error": "",
    }
    estimator = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        responsibilities_init=responsibilities,
        **options,
    )
    # Matrices here are D × D: BLAS threads only add start-up cost, and they would fight
    # the parallel workers for the cores.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Overflow or NaN inside a fit means it degenerated: record it like a collapse.
        warnings.simplefilter("error", RuntimeWarning)
        try:
            estimator.fit(X, sample_weight=sample_weight)
            row.update(_criteria(estimator, X, sample_weight))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeWarning) as error:
            row["error"] = f"{type(error).__name__}: {error}"
            if isinstance(error, (RuntimeWarning, ArithmeticError, np.linalg.LinAlgError)):
                # NumPy's words, not the library's: say what they mean.
                row["error"] = (
                    f"the fit degenerated (NumPy: {error}): a variance or likelihood left the "
                    "floating-point range; raise reg_covar, use fewer components or "
                    "standardise the features"
                )
            return row, None
    row["converged"] = bool(estimator.converged_)
    row["n_iter"] = int(estimator.n_iter_)
    if not np.isfinite(row["bic"]):
        row["error"] = "non-finite log-likelihood"
        return row, None
    return row, estimator


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


def select_model(
    X: Any,
    n_components: int | Iterable[int] = range(1, 10),
    covariance_types: str | Iterable[str] = "all",
    criterion: Criterion = "bic",
    *,
    sample_weight: Any = None,
    init_params: str = "hierarchical",
    tol: float = 1e-6,
    reg_covar: float = 0.0,
    max_iter: int = 1000,
    n_jobs: int | None = None,
    random_state: Any = None,
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
    tol : float, default=1e-6
        EM convergence threshold on the mean per-sample log-likelihood (mclust stops at a
        relative change of 1e-5 of the total, which is looser for n above about 10).
    reg_covar : float, default=0.0
        Regularisation of every fit. 0 as in mclust (no prior); singular fits are
        recorded with their error rather than regularised.
    max_iter : int, default=1000
        EM iterations per fit.
    n_jobs : int or None, default=None
        Parallel fits with joblib (None: one at a time; -1: all cores).
    random_state : int, RandomState instance or None, default=None
        Seed of non-hierarchical starting partitions.

    Returns
    -------
    ModelSelection

    Raises
    ------
    InvalidParameterError
        For an unknown criterion or covariance type, or bad numbers of components.
    InvalidInputError
        When every fit was degenerate.

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
    from joblib import Parallel, delayed

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
    check_number("reg_covar", reg_covar, minimum=0.0)
    check_number("max_iter", max_iter, integer=True, minimum=1)
    if init_params not in _INIT_METHODS:
        raise InvalidParameterError(
            f"init_params must be one of {list(_INIT_METHODS)}; got {init_params!r}."
        )
    codes = _covariance_types(covariance_types)
    # The fits see a NumPy array; the best one gets the column names of X back below.
    named = GaussianMixture()
    X = check_data(named, X, reset=True)
    weights = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    options = {"tol": tol, "reg_covar": reg_covar, "max_iter": max_iter}

    n_samples = X.shape[0]
    n_support = n_samples if weights is None else int(np.count_nonzero(weights))
    starts: dict[int, np.ndarray | None] = {}
    if init_params == "hierarchical":
        tree = build_tree(X, weights)
        for count in counts:
            fits = count <= tree.rows.shape[0]
            starts[count] = tree.responsibilities(n_samples, count) if fits else None
    else:
        generator = check_random_state(random_state)
        for count in counts:
            starts[count] = (
                initial_responsibilities(X, weights, count, init_params, generator)
                if count <= n_support
                else None
            )

    tasks = [(code, count) for count in counts for code in codes]
    outcomes = Parallel(n_jobs=n_jobs)(
        delayed(_fit_one)(X, weights, code, count, starts[count], options)
        if starts[count] is not None
        else delayed(_too_few_rows)(code, count, n_support, X.shape[1])
        for code, count in tasks
    )
    table = pandas.DataFrame([row for row, _ in outcomes], columns=list(_COLUMNS))
    scores = table[criterion].to_numpy(dtype=float)
    if not np.any(np.isfinite(scores)):
        raise InvalidInputError(
            "select_model needs at least one fit that does not degenerate; every fit failed "
            f"(first error: {table['error'].iloc[0]}). Use fewer components, raise reg_covar "
            "or standardise the features."
        )
    best = int(np.nanargmin(scores))
    code, count = tasks[best]
    best_estimator = outcomes[best][1]
    if hasattr(named, "feature_names_in_"):
        best_estimator.feature_names_in_ = named.feature_names_in_
    return ModelSelection(
        best_estimator_=best_estimator,
        best_params_={"covariance_type": code, "n_components": count},
        results_=table,
        criterion=criterion,
    )


def _too_few_rows(
    covariance_type: str, n_components: int, n_support: int, n_features: int
) -> tuple[dict[str, Any], None]:
    """The recorded row of a combination with more components than rows."""
    return (
        {
            "covariance_type": covariance_type,
            "n_components": n_components,
            "log_likelihood": np.nan,
            "n_parameters": _free_parameters(covariance_type, n_components, n_features),
            "bic": np.nan,
            "aic": np.nan,
            "icl": np.nan,
            "converged": False,
            "n_iter": 0,
            "error": f"n_components = {n_components} exceeds the {n_support} rows available",
        },
        None,
    )
