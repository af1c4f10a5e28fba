"""Online EM: stepwise EM on the sufficient statistics, one batch of rows at a time.

Cappé & Moulines (2009), "On-line expectation-maximization algorithm for latent data
models", J. R. Stat. Soc. B 71(3), 593–613: the running statistics ``s`` are per unit of
weight (``total_weight = 1``); batch ``b`` (0-based) gives statistics ``s(b)`` under the
current parameters, normalised the same way, and

    s ← (1 − η_b) s + η_b s(b),   η_0 = 1,   η_b = max((b + 1)^(−α), forget) for b ≥ 1,

that is ``η_t = (t + 2)^(−α)`` with ``t = b − 1`` batches absorbed before. The M-step
(every ``n_batches`` batches) turns ``s`` into parameters. Statistics of different batches
are taken about different shifts (the means of their E-steps); ``s`` is moved to the
batch's shift exactly (:meth:`~gaussmix.statistics.SufficientStatistics.shifted`) before
the two are mixed.

``forget`` is a floor on the step size: with ``forget = f`` every batch's statistics
weigh at least ``f`` in ``s`` when they arrive and then decay by ``(1 − f)`` per batch, so
``s`` remembers about the last ``1/f`` batches and the fit follows a drifting stream; with
``forget = 0`` the weights of old batches keep their share, as stepwise EM's convergence
to the batch optimum requires (α ∈ (0.5, 1]).

α = 1 makes ``s`` the plain mean of the batches' statistics: on 10⁶ rows of two separated
components in batches of 1,000 the parameters end within a fraction of a standard error
of batch EM's, where α = 0.6 ends about 4 standard errors away (its memory is about the
last 1000^0.6 ≈ 60 batches). With overlapping components (3 of them, 10⁶ × 2) α = 0.6
ended 0.008 from batch EM's means and α = 1 0.16: batch EM needed 74 passes there, and
α = 1 keeps too much of the early batches' statistics (Cappé & Moulines 2009, §2.3).
``tests/test_online.py``; ``benchmarks/bench_stream.py --online-only`` (both cases).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gaussmix.arrays import FitData
from gaussmix.collapse import ComponentReseeder
from gaussmix.exceptions import InvalidInputError, InvalidParameterError
from gaussmix.fitting import (
    RESEEDS_PER_COMPONENT,
    FitSettings,
    _check_enough_rows,
    initial_parameters,
)
from gaussmix.missing import has_missing
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics
from gaussmix.validation import check_number

__all__ = ["OnlineSettings", "OnlineState", "OnlineStep", "partial_fit_step", "step_size"]


@dataclass(frozen=True)
class OnlineSettings:
    """The estimator's online parameters, checked.

    Parameters
    ----------
    learning_rate_decay : float, default=1.0
        α in η_t = (t + 2)^(−α), in (0.5, 1].
    forget : float, default=0.0
        Floor of the step size, in [0, 1).
    n_batches : int, default=1
        Batches per M-step.
    """

    learning_rate_decay: float = 1.0
    forget: float = 0.0
    n_batches: int = 1

    @classmethod
    def checked(cls, learning_rate_decay: float, forget: float, n_batches: int) -> OnlineSettings:
        """The settings, each checked, with an error saying what must hold.

        Returns
        -------
        OnlineSettings
        """
        check_number("learning_rate_decay", learning_rate_decay)
        if not 0.5 < learning_rate_decay <= 1.0:
            raise InvalidParameterError(
                "learning_rate_decay must lie in (0.5, 1] (stepwise EM converges only then); "
                f"got {learning_rate_decay!r}. Use e.g. 0.6."
            )
        check_number("forget", forget, minimum=0.0)
        if forget >= 1.0:
            raise InvalidParameterError(
                f"forget must lie in [0, 1) (1 would keep only the last batch); got {forget!r}. "
                "Use e.g. 0.05 to remember about the last 20 batches."
            )
        check_number("n_batches", n_batches, integer=True, minimum=1)
        return cls(float(learning_rate_decay), float(forget), int(n_batches))


@dataclass(frozen=True)
class OnlineState:
    """Where online EM stands between batches.

    Parameters
    ----------
    statistics : SufficientStatistics
        The running statistics per unit of weight.
    n_batches : int
        Batches absorbed.
    n_rows : int
        Rows absorbed.
    """

    statistics: SufficientStatistics
    n_batches: int
    n_rows: int


@dataclass(frozen=True)
class OnlineStep:
    """What one batch did.

    Parameters
    ----------
    state : OnlineState
    parameters : MixtureParameters
        After the M-step (unchanged when this batch had none).
    log_likelihood : float
        The batch's mean log-likelihood under the parameters its E-step used.
    step_size : float
        η of this batch.
    """

    state: OnlineState
    parameters: MixtureParameters
    log_likelihood: float
    step_size: float


def step_size(batches_absorbed: int, online: OnlineSettings) -> float:
    """η of the next batch after ``batches_absorbed`` batches.

    Parameters
    ----------
    batches_absorbed : int
    online : OnlineSettings

    Returns
    -------
    float
        1 for the first batch, then ``max((t + 2)^(−α), forget)`` with
        ``t = batches_absorbed − 1``.
    """
    if batches_absorbed == 0:
        return 1.0
    return max(float(batches_absorbed + 1) ** -online.learning_rate_decay, online.forget)


def partial_fit_step(
    data: FitData,
    settings: FitSettings,
    online: OnlineSettings,
    *,
    parameters: MixtureParameters | None,
    state: OnlineState | None,
    random_state: np.random.RandomState,
) -> OnlineStep:
    """One batch of online EM: E-step on the batch, the statistics mixed in, the M-step.

    Parameters
    ----------
    data : FitData
        The batch, validated (:func:`gaussmix.arrays.fit_data`).
    settings : FitSettings
        K, the model, ``reg_covar``, the start (``init_params``, the given parts).
    online : OnlineSettings
    parameters : MixtureParameters or None
        The current mixture; None draws the start from this batch as ``fit`` does.
    state : OnlineState or None
        None for the first batch (η = 1), which may start from ``parameters`` (a
        previous ``fit``) or from nothing.
    random_state : numpy.random.RandomState
        Draws the start.

    Returns
    -------
    OnlineStep

    Notes
    -----
    With η = 1 (the first batch) the statistics are the batch's own and the M-step is
    that of one batch EM iteration. The M-step runs on the running statistics scaled to
    the batch's total weight, so the collapse policy's thresholds (a fraction of the
    lightest row's weight) mean what they mean in ``fit``; components that collapse are
    re-seeded at the batch's worst-explained rows.
    """
    if parameters is None:
        _check_enough_rows(data, settings.n_components)
        parameters = initial_parameters(data.X, data.sample_weight, settings, random_state)
    model = settings.model
    executor = data.executor(data.X, settings.executor, settings.n_components)
    batch = executor.statistics(parameters, model.scatter)
    absorbed = 0 if state is None else state.n_batches
    eta = step_size(absorbed, online)
    per_weight = batch.scaled(1.0 / batch.total_weight)
    if state is None:
        running = per_weight
    else:
        previous = state.statistics.shifted(per_weight.shift)
        running = previous.scaled(1.0 - eta) + per_weight.scaled(eta)
    rows = (0 if state is None else state.n_rows) + _rows(data)
    new_state = OnlineState(running, absorbed + 1, rows)
    if (absorbed + 1) % online.n_batches == 0:
        # The first batch's M-step reads the batch's statistics themselves (no rounding
        # through the per-weight scale), so that it is one EM iteration exactly.
        statistics = batch if state is None else running.scaled(batch.total_weight)
        parameters = _maximize(data, executor, settings, statistics, parameters, absorbed + 1)
    return OnlineStep(new_state, parameters, batch.mean_log_likelihood, eta)


def _rows(data: FitData) -> int:
    rows = data.n_rows
    return int(data.X.shape[0]) if rows is None else rows


def _maximize(
    data: FitData,
    executor: object,
    settings: FitSettings,
    statistics: SufficientStatistics,
    parameters: MixtureParameters,
    iteration: int,
) -> MixtureParameters:
    """The M-step through the collapse policy, seeds taken from the batch."""
    reseeder = ComponentReseeder(
        data.reseed_executor(executor, settings.executor, settings.n_components),
        data.X,
        data.sample_weight,
        RESEEDS_PER_COMPONENT * settings.n_components,
    )
    model, reg_covar = settings.model, settings.reg_covar
    new, _ = reseeder.maximize(statistics, parameters, model, reg_covar, iteration)
    return new


# partial_fit runs the plain M-step and E-step: these settings change one of them.
_NOT_ONLINE = {
    "prior": None,
    "equal_proportions": False,
    "noise": False,
    "semi_supervised": False,
}


def check_online_settings(settings: dict[str, Any], X: Any) -> None:
    """Refuse the estimator settings online EM does not implement.

    ``missing="em"`` is accepted while the batches have no NaN (they are then plain).

    Parameters
    ----------
    settings : dict
        The estimator's parameters (``get_params()``).
    X : array
        The checked batch.

    Raises
    ------
    InvalidParameterError
        Naming the first setting that is not at its default.
    """
    for name, default in _NOT_ONLINE.items():
        value = settings.get(name, default)
        if value is not default and not (
            isinstance(value, (str, bool, np.bool_)) and value == default
        ):
            raise InvalidParameterError(
                f"partial_fit runs plain online EM; {name}={value!r} is only available in "
                f"fit. Use fit (exact EM, also over a chunked source), or set {name}="
                f"{default!r}."
            )
    if settings.get("missing") == "em" and has_missing(X):
        raise InvalidInputError(
            "partial_fit runs plain online EM: the batch has NaN entries, which only fit "
            "handles (missing='em'). Fit the data with fit, or drop the incomplete rows."
        )
