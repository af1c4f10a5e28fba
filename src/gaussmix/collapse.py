"""Recovery from collapsing components: re-seed them at the worst-explained rows, or give up.

A component *collapses* when it loses its support: it owns (almost) no weight, or its
covariance is not positive definite even after ``reg_covar``. Left alone, the first
gives a silent zero in ``weights_`` and the second a failed Cholesky factorisation.

The policy implemented here, applied inside every M-step of every start:

1. A component whose ``n_k`` is below :data:`EMPTY_FRACTION` of the lightest row's
   weight, or whose covariance is not positive definite, is *re-seeded*: its mean moves
   to the row the current mixture explains worst (lowest log p(x_n), rows of weight zero
   excluded), its covariance becomes the pooled covariance Σ_j π_j Σ_j of the current
   mixture, and its n_k becomes that row's weight.
2. A start that needs more than ``max_reseeds`` re-seeds, or whose tied covariance (which
   no single component can repair) is not positive definite, is given up with a
   :class:`~gaussmix.exceptions.CollapsedComponentError`; the estimator then discards
   that start with a warning and keeps the best of the others, and raises only when no
   start can be fitted.

References
----------
McLachlan, G. J. and Peel, D. (2000). *Finite Mixture Models*, §3.9 (degenerate
solutions and spurious local maxima).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from gaussmix.backends.torch import to_numpy
from gaussmix.covariance.base import CovarianceModel
from gaussmix.covariance.forms import collapse_error, dense_covariances
from gaussmix.exceptions import CollapsedComponentError
from gaussmix.kernels import log_responsibilities, weighted_log_prob
from gaussmix.mstep import MStepRule
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "EMPTY_FRACTION",
    "ComponentReseeder",
    "Reseed",
    "RowBackend",
    "all_starts_failed",
    "describe_reseeds",
    "empty_components",
]

EMPTY_FRACTION = 1e-3
"""A component owning less than this fraction of the lightest row's weight is emptied."""


class RowBackend(Protocol):
    """An executor that can apply a row-wise function to every row of the data."""

    def map_rows(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Apply ``function`` chunk by chunk and concatenate the results."""
        ...


@dataclass(frozen=True)
class Reseed:
    """One re-seeded component.

    Parameters
    ----------
    iteration : int
        1-based EM iteration whose M-step re-seeded it.
    component : int
        Index of the component.
    n_k : float
        Its effective number of points before the re-seed.
    reason : str
        ``"emptied"`` or ``"covariance not positive definite"``.
    """

    iteration: int
    component: int
    n_k: float
    reason: str


class ComponentReseeder:
    """M-step that re-seeds collapsing components instead of failing (one instance per start).

    Parameters
    ----------
    backend : RowBackend
        Executor over the rows of ``X``, used to find the worst-explained rows.
    X : ndarray of shape (n_samples, n_features)
        The data the backend visits (the seeds are taken from it).
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None means all ones.
    max_reseeds : int
        Re-seeds allowed in this start before it is given up.
    """

    def __init__(
        self,
        backend: RowBackend,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        max_reseeds: int,
    ):
        self.backend = backend
        self.X = X
        self.sample_weight = sample_weight
        self.max_reseeds = int(max_reseeds)
        self.n_reseeds = 0
        self.empty_threshold = EMPTY_FRACTION * _lightest_weight(sample_weight)

    def maximize(
        self,
        statistics: SufficientStatistics,
        parameters: MixtureParameters,
        model: CovarianceModel,
        reg_covar: float,
        iteration: int,
        rule: MStepRule | None = None,
    ) -> tuple[MixtureParameters, tuple[Reseed, ...]]:
        """M-step that re-seeds emptied components and components that fail to factorise.

        Parameters
        ----------
        statistics : SufficientStatistics
            Statistics of the E-step under ``parameters``.
        parameters : MixtureParameters
            The parameters of that E-step (valid: they were used to compute it).
        model : CovarianceModel
            The covariance constraint.
        reg_covar : float
            Added once to every variance.
        iteration : int
            1-based iteration number, recorded in the events.
        rule : MStepRule, optional
            The fit's M-step (a prior, fixed proportions, noise); None: the ML M-step of
            ``model`` and ``reg_covar``.

        Returns
        -------
        parameters : MixtureParameters
            New parameters, every covariance positive definite.
        reseeds : tuple of Reseed
            The components re-seeded in this M-step (empty on ordinary data, where the
            result equals ``rule.maximize`` warm-started from ``parameters``).

        Raises
        ------
        CollapsedComponentError
            When the tied covariance is not positive definite, a re-seeded component
            still fails, or the start exceeded ``max_reseeds``.

        Notes
        -----
        The repair is made in the statistics, not the parameters: a re-seeded component
        gets shift c_k = x_seed, weighted sum 0, n_k = w_seed and scatter w_seed·Σ_pool
        (reduced to the model's scatter kind), so the ordinary M-step of every covariance
        model turns it into mean x_seed and covariance Σ_pool + reg_covar·I, and the
        mixing weights are renormalised with it (McLachlan & Peel 2000, §3.9).
        """
        events = [
            Reseed(iteration, int(k), float(statistics.n_k[k]), "emptied")
            for k in np.flatnonzero(statistics.n_k < self.empty_threshold)
        ]
        rule = MStepRule(model, reg_covar) if rule is None else rule
        seeds = _SeedQueue(self.backend, self.X, self.sample_weight, parameters)
        repaired = self._reseed(
            statistics, parameters, model, [event.component for event in events], seeds
        )
        while True:
            try:
                # A re-seeded component's old covariance is no start for its new statistics,
                # so an M-step that re-seeds starts its inner iteration cold.
                previous = None if events else parameters
                return rule.maximize(repaired, previous=previous), tuple(events)
            except CollapsedComponentError as error:
                done = {event.component for event in events}
                if error.component is None or error.component in done:
                    raise
                events.append(
                    Reseed(
                        iteration,
                        error.component,
                        float(statistics.n_k[error.component]),
                        "covariance not positive definite",
                    )
                )
                repaired = self._reseed(repaired, parameters, model, [error.component], seeds)

    def _reseed(
        self,
        statistics: SufficientStatistics,
        parameters: MixtureParameters,
        model: CovarianceModel,
        components: list[int],
        seeds: _SeedQueue,
    ) -> SufficientStatistics:
        """Statistics in which each listed component owns one seed row with the pooled spread."""
        if not components:
            return statistics
        self.n_reseeds += len(components)
        if self.n_reseeds > self.max_reseeds:
            component = components[0]
            raise collapse_error(
                component,
                float(statistics.n_k[component]),
                f"the start needed more than {self.max_reseeds} re-seeds of collapsing components",
            )
        pooled = _pooled_covariance(parameters)
        spread = {"full": pooled, "diagonal": np.diag(pooled), "trace": np.trace(pooled)}[
            model.scatter
        ]
        n_k = statistics.n_k.copy()
        weighted_sum = statistics.weighted_sum.copy()
        scatter = statistics.scatter.copy()
        shift = statistics.shift.copy()
        for component in components:
            row, weight = seeds.next()
            # The shift of a component may be any point: taking the seed row itself makes
            # the new mean exactly that row and the scatter exactly weight·pooled.
            shift[component] = row
            weighted_sum[component] = 0.0
            n_k[component] = weight
            scatter[component] = weight * spread
        return replace(statistics, n_k=n_k, weighted_sum=weighted_sum, scatter=scatter, shift=shift)


def _pooled_covariance(parameters: MixtureParameters) -> np.ndarray:
    """Σ_k π_k Σ_k as a dense (D, D) matrix: positive definite when every Σ_k is."""
    dense = dense_covariances(
        parameters.covariances, parameters.form, parameters.n_components, parameters.n_features
    )
    return np.einsum("k,kij->ij", parameters.weights, dense)


class _SeedQueue:
    """Rows of positive weight from the worst explained to the best, computed on first use."""

    def __init__(
        self,
        backend: RowBackend,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        parameters: MixtureParameters,
    ):
        self.backend = backend
        self.X = X
        self.sample_weight = sample_weight
        self.parameters = parameters
        self.order: np.ndarray | None = None
        self.taken = 0

    def next(self) -> tuple[np.ndarray, float]:
        """The next worst-explained row (float64) and its weight."""
        if self.order is None:
            parameters = self.parameters
            log_density = to_numpy(
                self.backend.map_rows(
                    lambda rows: log_responsibilities(weighted_log_prob(rows, parameters))[0]
                )
            ).astype(np.float64)
            n_positive = log_density.shape[0]
            if self.sample_weight is not None:
                log_density[self.sample_weight <= 0] = np.inf
                n_positive = int(np.count_nonzero(self.sample_weight > 0))
            # A stable sort keeps the choice deterministic among equally explained rows.
            self.order = np.argsort(log_density, kind="stable")[:n_positive]
        index = int(self.order[self.taken % self.order.shape[0]])
        self.taken += 1
        weight = 1.0 if self.sample_weight is None else float(self.sample_weight[index])
        return np.asarray(to_numpy(self.X[index]), dtype=np.float64), weight


def empty_components(n_k: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """Indices of the components whose n_k is below the emptiness threshold.

    Parameters
    ----------
    n_k : ndarray of shape (n_components,)
        Effective numbers of points.
    sample_weight : ndarray of shape (n_samples,) or None
        The fit's weights (the threshold is relative to the lightest positive one).

    Returns
    -------
    ndarray of int
    """
    return np.flatnonzero(n_k < EMPTY_FRACTION * _lightest_weight(sample_weight))


def _lightest_weight(sample_weight: np.ndarray | None) -> float:
    """Weight of the lightest row that counts (1 without weights)."""
    if sample_weight is None:
        return 1.0
    return float(np.min(sample_weight[sample_weight > 0]))


def describe_reseeds(reseeds: tuple[Reseed, ...], n_init: int) -> str:
    """Warning text for the re-seeds of the kept start.

    Parameters
    ----------
    reseeds : tuple of Reseed
        The events, in order.
    n_init : int
        Number of starts of the fit.

    Returns
    -------
    str
    """
    shown = ", ".join(
        f"component {event.component} at iteration {event.iteration} ({event.reason}, "
        f"n_k = {event.n_k:.3g})"
        for event in reseeds[:5]
    )
    more = "" if len(reseeds) <= 5 else f" and {len(reseeds) - 5} more"
    return (
        f"Components should keep their support; in the kept start (best of {n_init}) "
        f"{len(reseeds)} collapsing component(s) were re-seeded at the worst-explained rows: "
        f"{shown}{more}. The fit went on; if this recurs, raise reg_covar, use fewer "
        "components, or remove duplicated rows and constant columns."
    )


def all_starts_failed(errors: list[CollapsedComponentError]) -> CollapsedComponentError:
    """The error raised when no start could be fitted, naming the last collapse.

    Parameters
    ----------
    errors : list of CollapsedComponentError
        One per start, in order (not empty).

    Returns
    -------
    CollapsedComponentError
    """
    last = errors[-1]
    return CollapsedComponentError(
        f"At least one start must be fitted without collapse; all {len(errors)} start(s) "
        f"collapsed even after re-seeding. Last: {last}",
        component=last.component,
        n_k=last.n_k,
    )
