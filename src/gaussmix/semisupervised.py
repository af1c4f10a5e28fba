"""Semi-supervised mixtures: EM with the components of some rows known.

``y`` follows scikit-learn's semi-supervised convention: ``y[n] = k`` says that row n
belongs to component k (0 … K − 1), ``y[n] = -1`` that its component is unknown. The
labelled rows keep their one-hot responsibilities through EM, the others are estimated,
and the objective is the likelihood of the data *and* the known labels,

    log L = Σ_unlabelled log Σ_k π_k f_k(x_n) + Σ_labelled log(π_c(n) f_c(n)(x_n)),

which EM never decreases (the labelled rows' E-step is the identity). Parameters are
counted as for an ordinary mixture.

The engine sees no special case: :class:`LabelledExecutor` is a statistics source with the
executor contract that :func:`gaussmix.fitting.fit_mixture` builds once in place of the
ordinary one. Its E-step is the ordinary executor's statistics over the unlabelled rows
plus, for every class c, a one-component executor over the rows labelled c, with the
parameters (1, μ_c, Σ_c) and its statistics put in slot c, and n_c log π_c added to the
log-likelihood. Every part is taken about the current means, so the parts add
(:class:`~gaussmix.statistics.SufficientStatistics`). Being no small-data executor, it
never runs the compiled loop of :mod:`gaussmix.compiled_em`.

Start (mclust's ``MclustSSC.fit`` does this, contrary to its help page): labelled rows
one-hot, unlabelled rows 1/K when every component has labelled rows. When some component
has none, 1/K would leave those components identical for ever, so the unlabelled rows
start from the ordinary start (``init_params``, ``responsibilities_init``, or
select_model's shared start) instead, its components first renumbered to agree best with
the labels (Hungarian assignment on the labelled rows).

``y=None`` and a ``y`` in which every entry is -1 both give the ordinary fit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from gaussmix.covariance.base import ScatterKind
from gaussmix.exceptions import InvalidInputError
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "UNLABELLED",
    "LabelledExecutor",
    "check_labels",
    "labelled_start",
    "labelled_starts",
    "with_labels",
]

UNLABELLED = -1
"""The label of a row whose component is unknown (scikit-learn's convention)."""

MakeExecutor = Callable[[Any, Any, int], Any]
"""``(X, sample_weight, n_components) -> executor``."""


def check_labels(y: Any, n_samples: int, n_components: int | None = None) -> np.ndarray | None:
    """Validated component labels of a semi-supervised fit.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or None
        Integer-valued labels: a component index, or -1 for an unlabelled row.
    n_samples : int
        Rows of X.
    n_components : int, optional
        K: labels must lie in 0 … K − 1. None checks only that they are ≥ -1
        (select_model, where each G is checked by its own fit).

    Returns
    -------
    ndarray of int64 or None
        None when y is None or no row is labelled (the ordinary fit).

    Raises
    ------
    InvalidInputError
        For a shape, a non-integer value or a label outside -1, 0 … K − 1.
    """
    if y is None:
        return None
    labels = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise InvalidInputError(
            f"y must hold one label per row of X, shape ({n_samples},); got shape "
            f"{labels.shape}. Use -1 for rows whose component is unknown."
        )
    if labels.dtype.kind not in "iuf" or (
        labels.dtype.kind == "f"
        and (not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)))
    ):
        raise InvalidInputError(
            "y must be integer component indices, with -1 for unlabelled rows; got values of "
            f"dtype {labels.dtype}. Encode classes as 0 … n_components − 1 (e.g. with "
            "sklearn.preprocessing.LabelEncoder) and missing labels as -1."
        )
    labels = labels.astype(np.int64)
    top = None if n_components is None else n_components - 1
    bad = (labels < UNLABELLED) | (labels > top if top is not None else False)
    if np.any(bad):
        allowed = "-1 or a component index ≥ 0" if top is None else f"-1 or 0 … {top}"
        raise InvalidInputError(
            f"y must be {allowed} (the component of a row, -1 when unknown); got "
            f"{labels[np.argmax(bad)]} at row {int(np.argmax(bad))}. Relabel the rows"
            + ("." if top is None else f" or raise n_components above {labels.max()}.")
        )
    if not np.any(labels != UNLABELLED):
        return None
    return labels


def with_labels(settings: Any, y: Any, data: Any) -> Any:
    """The engine settings of a fit with labels (``settings`` unchanged when y gives none).

    Parameters
    ----------
    settings : FitSettings
        The fit's settings; ``labels`` is set on a copy.
    y : array-like of shape (n_samples,) or None
        The labels given to ``fit``.
    data : FitData
        The validated data.

    Returns
    -------
    FitSettings

    Raises
    ------
    InvalidInputError
        For bad labels, or labels with Dask input (not supported).
    """
    if y is None:
        return settings
    if getattr(data, "lazy_X", None) is not None:
        raise InvalidInputError(
            "fit(X, y) with component labels needs in-memory X (NumPy or torch); got "
            f"{type(data.lazy_X).__name__} (a Dask collection or a streamed source). Load X "
            "into memory first, or fit without y."
        )
    labels = check_labels(y, int(data.X.shape[0]), settings.n_components)
    if labels is None:
        return settings
    return dataclasses.replace(settings, labels=labels)


def _covers(labels: np.ndarray, n_components: int) -> bool:
    """Whether every component has at least one labelled row."""
    present = np.zeros(n_components, dtype=bool)
    present[labels[labels >= 0]] = True
    return bool(np.all(present))


def labelled_start(
    labels: np.ndarray, n_components: int, responsibilities: np.ndarray | None = None
) -> np.ndarray | None:
    """Starting responsibilities with the labelled rows one-hot.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,)
        Component of each row, -1 when unknown.
    n_components : int
        K.
    responsibilities : ndarray of shape (n_samples, K), optional
        The ordinary start, kept for the unlabelled rows.

    Returns
    -------
    ndarray of shape (n_samples, K) or None
        Without ``responsibilities``: 1/K on the unlabelled rows when every component has
        labelled rows (mclust's start), else None (draw the ordinary start, then call
        again with it).

    Raises
    ------
    InvalidInputError
        For a label ≥ K.
    """
    check_labels(labels, labels.shape[0], n_components)
    if responsibilities is None:
        if not _covers(labels, n_components):
            return None
        start = np.full((labels.shape[0], n_components), 1.0 / n_components)
    else:
        start = _aligned(np.asarray(responsibilities, dtype=np.float64), labels)
    known = labels >= 0
    start[known] = 0.0
    start[np.flatnonzero(known), labels[known]] = 1.0
    return start


def _aligned(responsibilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The start's components renumbered to agree best with the labels (a copy).

    A drawn partition numbers its clusters arbitrarily; without this, the labelled rows of
    class c would be forced into whichever cluster happens to be number c.
    """
    from scipy.optimize import linear_sum_assignment

    known = labels >= 0
    n_components = responsibilities.shape[1]
    agreement = np.zeros((n_components, n_components))
    np.add.at(agreement, labels[known], responsibilities[known])
    _, order = linear_sum_assignment(agreement, maximize=True)
    return responsibilities[:, order]


def labelled_starts(
    starts: dict[int, np.ndarray | None], labels: np.ndarray | None
) -> dict[int, np.ndarray | None]:
    """select_model's shared start of each G, made a labelled one.

    mclust's 1/G start where every component has labelled rows, the shared start (with the
    labelled rows one-hot) elsewhere; a G below the number of labelled components keeps its
    start, and its fit records the error.

    Parameters
    ----------
    starts : dict of int to ndarray or None
        Responsibilities by G (None: too few rows).
    labels : ndarray or None
        From :func:`check_labels`; None returns ``starts``.

    Returns
    -------
    dict of int to ndarray or None
    """
    if labels is None:
        return starts
    result: dict[int, np.ndarray | None] = {}
    for count, start in starts.items():
        if start is None or labels.max() >= count:
            result[count] = start
        else:
            result[count] = labelled_start(labels, count) if _covers(labels, count) else start
    return result


def _component(parameters: MixtureParameters, k: int) -> MixtureParameters:
    """Component k alone, weight one (a tied covariance stays the shared matrix)."""
    if parameters.form == "tied":
        covariances, factors = parameters.covariances, parameters.precisions_cholesky
    else:
        covariances = parameters.covariances[k : k + 1]
        factors = parameters.precisions_cholesky[k : k + 1]
    return MixtureParameters(
        weights=np.ones(1),
        means=parameters.means[k : k + 1],
        covariances=covariances,
        precisions_cholesky=factors,
        form=parameters.form,
    )


def _embedded(
    part: SufficientStatistics, k: int, shift: np.ndarray, kind: ScatterKind, log_weight: float
) -> SufficientStatistics:
    """One component's statistics placed in slot k of K, with n_k·log π_k added."""
    zeros = SufficientStatistics.zeros(shift, kind)
    n_k, weighted_sum, scatter = zeros.n_k, zeros.weighted_sum, zeros.scatter
    n_k[k] = part.n_k[0]
    weighted_sum[k] = part.weighted_sum[0]
    scatter[k] = part.scatter[0]
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=scatter,
        shift=zeros.shift,
        total_weight=part.total_weight,
        log_likelihood=part.log_likelihood + part.total_weight * log_weight,
    )


def _take(X: Any, rows: np.ndarray) -> Any:
    """Rows of a NumPy array or torch tensor."""
    if hasattr(X, "index_select"):
        import torch

        return X.index_select(0, torch.as_tensor(rows, device=X.device))
    return X[rows]


class LabelledExecutor:
    """E-steps of a mixture whose labelled rows keep their components.

    Parameters
    ----------
    executor : Executor
        The ordinary executor over all rows: the row maps (predictions, the collapse
        policy's worst-explained rows) and the thread count are its.
    labels : ndarray of shape (n_samples,)
        Component of each row, -1 when unknown (all in 0 … K − 1).
    n_components : int
        K.
    make : callable
        ``make(X, sample_weight, n_components)`` builds an ordinary executor over some rows
        (:func:`gaussmix.arrays.make_executor` with the fit's options).

    Notes
    -----
    :meth:`statistics` is the labelled E-step; everything else delegates to ``executor``.
    """

    def __init__(
        self, executor: Any, labels: np.ndarray, n_components: int, make: MakeExecutor
    ) -> None:
        check_labels(labels, int(executor.X.shape[0]), n_components)
        self.executor = executor
        self.labels = labels
        self.n_components = int(n_components)
        X, weights = executor.X, executor.sample_weight

        def part(rows: np.ndarray, k: int) -> Any:
            subset = None if weights is None else weights[rows]
            return make(_take(X, rows), subset, k)

        unlabelled = np.flatnonzero(labels == UNLABELLED)
        self.unlabelled = part(unlabelled, n_components) if unlabelled.size else None
        self.classes = {
            int(k): part(np.flatnonzero(labels == k), 1) for k in np.unique(labels[labels >= 0])
        }

    # The executor contract, delegated.
    @property
    def X(self) -> Any:
        """All rows."""
        return self.executor.X

    @property
    def sample_weight(self) -> Any:
        """Their weights."""
        return self.executor.sample_weight

    @property
    def chunk_size(self) -> int:
        """Rows per chunk of the ordinary executor."""
        return self.executor.chunk_size

    @property
    def n_threads(self) -> int:
        """Threads of the ordinary executor."""
        return self.executor.n_threads

    @property
    def use_fused(self) -> bool:
        """Whether the ordinary executor runs the compiled kernels."""
        return self.executor.use_fused

    def prepare(self, parameters: MixtureParameters) -> Any:
        """The ordinary executor's prepared parameters (for row maps)."""
        return self.executor.prepare(parameters)

    def posterior_function(self, prepared: Any) -> Any:
        """The ordinary posterior of rows (predictions are those of the mixture)."""
        return self.executor.posterior_function(prepared)

    def map_rows(self, function: Callable[[Any], Any]) -> Any:
        """A row-wise function over all rows, by the ordinary executor."""
        return self.executor.map_rows(function)

    def statistics(self, parameters: MixtureParameters, kind: ScatterKind) -> SufficientStatistics:
        """The labelled E-step: unlabelled rows estimated, labelled rows one-hot.

        Parameters
        ----------
        parameters : MixtureParameters
            The current mixture.
        kind : {"trace", "diagonal", "full"}
            The model's scatter kind.

        Returns
        -------
        SufficientStatistics
            About the current means; ``log_likelihood`` is Σ_unlabelled w log p(x) +
            Σ_labelled w log(π_c f_c(x)).
        """
        shift = np.asarray(parameters.means, dtype=np.float64)
        if self.unlabelled is None:
            total = SufficientStatistics.zeros(shift, kind)
        else:
            total = self.unlabelled.statistics(parameters, kind)
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(parameters.weights, dtype=np.float64))
        for k, executor in self.classes.items():
            part = executor.statistics(_component(parameters, k), kind)
            total = total + _embedded(part, k, total.shift, kind, float(log_weights[k]))
        return total
