"""The EM loop: E-step (statistics), convergence check, M-step, and the record of each iteration."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gaussmix.collapse import ComponentReseeder, Reseed
from gaussmix.compiled_em import CompiledLoop, compiled_loop
from gaussmix.covariance.base import CovarianceModel, ScatterKind
from gaussmix.mstep import MStepRule
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "CONVERGENCE_RULES",
    "EMInterrupted",
    "EMResult",
    "IterationInfo",
    "StatisticsBackend",
    "has_converged",
    "run_em",
]

Convergence = Literal["absolute", "relative"]
CONVERGENCE_RULES: tuple[str, ...] = ("absolute", "relative")


class StatisticsBackend(Protocol):
    """Anything that can run an E-step over all rows and return summed statistics."""

    def statistics(self, parameters: MixtureParameters, kind: ScatterKind) -> SufficientStatistics:
        """Summed sufficient statistics of all rows under ``parameters``."""
        ...


@dataclass(frozen=True)
class IterationInfo:
    """What a progress callback receives after every EM iteration.

    Parameters
    ----------
    init : int
        Index of the start (0 … n_init − 1).
    iteration : int
        1-based iteration number within this start.
    log_likelihood : float
        Mean log-likelihood per sample of the parameters the E-step used.
    change : float
        Difference from the previous iteration's value (inf on the first).
    elapsed : float
        Seconds since this start began.
    converged : bool, default=False
        Whether this iteration met the convergence rule, so that the start ends here.
    """

    init: int
    iteration: int
    log_likelihood: float
    change: float
    elapsed: float
    converged: bool = False


@dataclass(frozen=True)
class EMResult:
    """Outcome of one EM run from one start.

    Parameters
    ----------
    parameters : MixtureParameters
        Parameters after the last M-step.
    n_iter : int
        Number of E-steps (and M-steps) performed.
    converged : bool
        Whether the convergence rule was met (see :func:`has_converged`).
    lower_bound : float
        Mean log-likelihood of the last E-step (of the parameters *before* the last
        M-step, as in scikit-learn).
    lower_bounds : tuple of float
        ``lower_bound`` of every iteration.
    reseeds : tuple of Reseed, default=()
        Components re-seeded by the collapse policy (see :mod:`gaussmix.collapse`).
    """

    parameters: MixtureParameters
    n_iter: int
    converged: bool
    lower_bound: float
    lower_bounds: tuple[float, ...]
    reseeds: tuple[Reseed, ...] = ()


class EMInterrupted(KeyboardInterrupt):
    """Ctrl-C during EM, carrying the last complete parameters so that they can be kept.

    It is a :class:`KeyboardInterrupt`, so code that does not know it still stops.

    Parameters
    ----------
    result : EMResult
        The parameters after the last complete M-step (or the start), flagged not converged.
    """

    def __init__(self, result: EMResult):
        super().__init__("EM interrupted; the last complete parameters are kept")
        self.result = result


def has_converged(
    change: float,
    current: float,
    tol: float,
    convergence: Convergence = "absolute",
    total_weight: float = 1.0,
) -> bool:
    """Whether EM stops after its mean log-likelihood changed by ``change`` to ``current``.

    Parameters
    ----------
    change : float
        Difference of the mean (sample-weighted) log-likelihood per sample between two
        successive E-steps; inf on the first.
    current : float
        The newer of the two, in the data's units.
    tol : float
        The threshold.
    convergence : {"absolute", "relative"}, default="absolute"
        ``"absolute"``: |Δ mean log-likelihood| < tol (scikit-learn's rule).
        ``"relative"``: |L_new − L_old| / (1 + |L_new|) < tol on the total log-likelihood
        L = total_weight × mean (mclust's rule, whose default tol is 1e-5; the form was
        checked against the ``info["error"]`` that mclust 6's ``me`` reports).
    total_weight : float, default=1.0
        Σ w, the number of rows when unweighted.

    Returns
    -------
    bool
        False whenever the change is not finite (the first iteration).
    """
    if not math.isfinite(change):
        return False
    if convergence == "absolute":
        return abs(change) < tol
    total = total_weight * current
    return abs(total_weight * change) / (1.0 + abs(total)) < tol


def run_em(
    backend: StatisticsBackend,
    parameters: MixtureParameters,
    model: CovarianceModel,
    *,
    reg_covar: float,
    tol: float,
    max_iter: int,
    lower_bound: float = -math.inf,
    callback: Callable[[IterationInfo], None] | None = None,
    init: int = 0,
    reseeder: ComponentReseeder | None = None,
    convergence: Convergence = "absolute",
    log_likelihood_offset: float = 0.0,
    rule: MStepRule | None = None,
) -> EMResult:
    """Run EM from ``parameters`` until the log-likelihood changes by less than ``tol``.

    Parameters
    ----------
    backend : StatisticsBackend
        Executor of the E-step over the data.
    parameters : MixtureParameters
        Starting parameters θ₀.
    model : CovarianceModel
        Covariance constraint of the M-step.
    reg_covar : float
        Added once to every variance in each M-step.
    tol : float
        Convergence threshold, on the change of the mean per-sample log-likelihood
        (``convergence="absolute"``) or on the relative change of the total
        (``"relative"``); see :func:`has_converged`.
    max_iter : int
        Maximum number of iterations; 0 returns the start unchanged.
    lower_bound : float, default=-inf
        Value the first change is measured from (the previous fit's, on a warm start).
    callback : callable, optional
        Called with an :class:`IterationInfo` after every iteration.
    init : int, default=0
        Index of this start, passed on to the callback.
    reseeder : ComponentReseeder, optional
        Collapse policy of the M-step; without one a collapsing component raises
        :class:`~gaussmix.exceptions.CollapsedComponentError`.
    convergence : {"absolute", "relative"}, default="absolute"
        The stopping rule of :func:`has_converged`.
    log_likelihood_offset : float, default=0.0
        Added to the backend's mean log-likelihood to give it in the data's units (data
        fitted at a power-of-two scale, :mod:`gaussmix.scaling`); only the relative rule
        depends on the level of the log-likelihood.
    rule : MStepRule, optional
        The M-step (a prior, fixed proportions); None: the ML M-step of ``model`` and
        ``reg_covar``. Only a plain rule runs in the compiled loop.

    Returns
    -------
    EMResult

    Raises
    ------
    EMInterrupted
        On Ctrl-C (KeyboardInterrupt), with the last complete parameters.

    Notes
    -----
    Each iteration evaluates the log-likelihood of the current parameters in the
    E-step, then replaces them by the M-step. EM never decreases the likelihood
    (Bishop 2006, §9.4), which the test-suite holds it to. An iteration that re-seeds a
    component is a restart of that component, not an EM step: the next change is
    measured from -inf so that it cannot pass for convergence.

    Small float64 data on the small-data executor, with a closed-form model and no
    callback, run their iterations in one compiled loop (:mod:`gaussmix.compiled_em`),
    which hands any iteration that re-seeds, raises or is in doubt back to this loop;
    the results agree with this loop's to rounding (``tests/test_compiled_em.py``).
    """
    rule = MStepRule(model, reg_covar) if rule is None else rule
    loop = _Loop(
        backend=backend,
        model=rule.model,
        rule=rule,
        reg_covar=rule.reg_covar,
        tol=tol,
        convergence=convergence,
        log_likelihood_offset=log_likelihood_offset,
        reseeder=reseeder,
        callback=callback,
        init=init,
        started=time.perf_counter(),
    )
    state = _Progress(parameters=parameters, lower_bound=lower_bound)
    # Small float64 data: the whole loop in compiled code, the Python iteration only where
    # it must decide (gaussmix.compiled_em); None keeps every iteration here.
    runner = compiled_loop(backend, rule.model, parameters, callback) if rule.plain else None
    try:
        while len(state.lower_bounds) < max_iter and not state.converged:
            if runner is None or not runner.usable or loop.compiled(runner, state, max_iter):
                loop.iterate(state)
    except KeyboardInterrupt as interrupt:
        # `state.parameters` is only rebound once an M-step has finished, so it always
        # holds a complete, valid set however late in the iteration the interrupt came.
        raise EMInterrupted(state.result(interrupted=True)) from interrupt
    return state.result()


@dataclass
class _Progress:
    """Where one run stands: the parameters, the last lower bound and the records so far."""

    parameters: MixtureParameters
    lower_bound: float
    lower_bounds: list[float] = field(default_factory=list)
    reseeds: list[Reseed] = field(default_factory=list)
    converged: bool = False
    restarted: bool = False

    def result(self, interrupted: bool = False) -> EMResult:
        """The EMResult of the run so far (not converged, last recorded bound, if interrupted)."""
        lower_bound = self.lower_bound
        if interrupted:
            lower_bound = self.lower_bounds[-1] if self.lower_bounds else -math.inf
        return EMResult(
            parameters=self.parameters,
            n_iter=len(self.lower_bounds),
            converged=self.converged and not interrupted,
            lower_bound=lower_bound,
            lower_bounds=tuple(self.lower_bounds),
            reseeds=tuple(self.reseeds),
        )


@dataclass(frozen=True)
class _Loop:
    """The settings of one run and its two ways to advance: a Python or a compiled iteration."""

    backend: StatisticsBackend
    model: CovarianceModel
    rule: MStepRule
    reg_covar: float
    tol: float
    convergence: Convergence
    log_likelihood_offset: float
    reseeder: ComponentReseeder | None
    callback: Callable[[IterationInfo], None] | None
    init: int
    started: float

    def iterate(self, state: _Progress) -> None:
        """One EM iteration in Python: E-step, M-step (through the collapse policy), record."""
        iteration = len(state.lower_bounds) + 1
        previous = -math.inf if state.restarted else state.lower_bound
        statistics = self.backend.statistics(state.parameters, self.model.scatter)
        lower_bound = statistics.mean_log_likelihood
        # The collapse policy: re-seed instead of raising when a reseeder is given.
        if self.reseeder is None:
            parameters = self.rule.maximize(statistics, previous=state.parameters)
            events: tuple[Reseed, ...] = ()
        else:
            parameters, events = self.reseeder.maximize(
                statistics, state.parameters, self.model, self.reg_covar, iteration, self.rule
            )
        state.parameters = parameters
        state.reseeds.extend(events)
        state.restarted = bool(events)
        # --- end collapse policy
        state.lower_bounds.append(lower_bound)
        state.lower_bound = lower_bound
        change = lower_bound - previous
        state.converged = not state.restarted and has_converged(
            change,
            lower_bound + self.log_likelihood_offset,
            self.tol,
            self.convergence,
            statistics.total_weight,
        )
        if self.callback is not None:
            elapsed = time.perf_counter() - self.started
            self.callback(
                IterationInfo(self.init, iteration, lower_bound, change, elapsed, state.converged)
            )

    def compiled(self, runner: CompiledLoop, state: _Progress, max_iter: int) -> bool:
        """Compiled iterations until convergence, ``max_iter``, or one the Python loop must run.

        Returns whether the next iteration must run in Python (:meth:`iterate`).
        """
        run = runner.run(
            state.parameters,
            -math.inf if state.restarted else state.lower_bound,
            max_iter - len(state.lower_bounds),
            reg_covar=self.reg_covar,
            tol=self.tol,
            convergence=self.convergence,
            log_likelihood_offset=self.log_likelihood_offset,
            empty_threshold=-math.inf if self.reseeder is None else self.reseeder.empty_threshold,
        )
        state.parameters = run.parameters
        if run.lower_bounds:
            state.lower_bounds.extend(run.lower_bounds)
            state.lower_bound = run.lower_bounds[-1]
            state.restarted = False
        state.converged = run.converged
        if run.interrupted is not None:
            raise run.interrupted
        return run.takeover
