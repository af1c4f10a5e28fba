"""The fitting engine: from validated data and settings to a fitted mixture.

:func:`fit_mixture` is what ``GaussianMixture.fit`` and every cell of ``select_model`` run:
the starts (``n_init`` of them, or one warm start), EM on each with the collapse policy,
the exact rescaling of extreme magnitudes, Ctrl-C, and the final E-step that gives the
log-likelihood of the returned parameters. It returns a frozen :class:`FitResult` and
warns about nothing: :func:`fit_warnings` says what a fit should warn about, and the caller
decides whether to (the estimator does; model selection records it in its table).

:func:`evaluate_rows` is the matching prediction step (log-densities, responsibilities or
labels of rows under a fitted mixture).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from gaussmix.arrays import ExecutorOptions, FitData, input_kind, ldexp, make_executor, to_host
from gaussmix.backends.stream import CheckedSource
from gaussmix.blas_threads import one_blas_thread, one_openmp_thread
from gaussmix.collapse import (
    ComponentReseeder,
    Reseed,
    all_starts_failed,
    describe_reseeds,
    empty_components,
)
from gaussmix.compiled_msteps import compiled_model
from gaussmix.covariance.base import CovarianceModel
from gaussmix.covariance.forms import (
    covariances_from_precision_cholesky,
    precision_cholesky_from_precisions,
)
from gaussmix.em import EMInterrupted, EMResult, IterationInfo, run_em
from gaussmix.exceptions import (
    CollapsedComponentError,
    CollapsedComponentWarning,
    InvalidInputError,
)
from gaussmix.initialization import (
    Partition,
    dense_responsibilities,
    draw_start,
    parameters_from_responsibilities,
)
from gaussmix.kernels import array_namespace
from gaussmix.missing import has_missing, mean_imputed, mean_observed, observed_counts
from gaussmix.mstep import MStepRule
from gaussmix.noise import NoiseExecutor, hypervolume, noise_rows, start_responsibilities
from gaussmix.parameters import MixtureParameters
from gaussmix.priors import Prior, check_prior, resolve_prior
from gaussmix.scaling import (
    check_representable,
    data_exponent,
    log_density_offset,
    model_exponent,
    scale_parameters,
)
from gaussmix.semisupervised import LabelledExecutor, labelled_start

__all__ = [
    "FitResult",
    "FitSettings",
    "GivenStart",
    "WarmStart",
    "evaluate_rows",
    "fit_mixture",
    "fit_warnings",
]

# Re-seeds of collapsing components allowed per start and per component before the
# start is given up (gaussmix.collapse).
RESEEDS_PER_COMPONENT = 5


@dataclass(frozen=True)
class GivenStart:
    """The parts of the start the user gave, validated, in the units of the data.

    Parameters
    ----------
    weights : ndarray of shape (K,) or None
    means : ndarray of shape (K, D) or None
    precisions : ndarray or None
        In the compact shape of the model's form.
    responsibilities : ndarray of shape (n_samples, K) or None
        Starting responsibilities; replace the drawn ones (``init_params`` is not used).
    """

    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    precisions: np.ndarray | None = None
    responsibilities: np.ndarray | None = None

    @property
    def complete(self) -> bool:
        """Whether nothing is left to draw."""
        return all(part is not None for part in (self.weights, self.means, self.precisions))

    def scaled(self, exponent: int) -> GivenStart:
        """The start of the data X·2^-exponent (exact)."""
        if exponent == 0:
            return self
        return dataclasses.replace(
            self,
            means=None if self.means is None else np.ldexp(self.means, -exponent),
            precisions=None if self.precisions is None else np.ldexp(self.precisions, 2 * exponent),
        )


@dataclass(frozen=True)
class WarmStart:
    """The previous fit a warm start continues from, in the units of the data.

    Parameters
    ----------
    parameters : MixtureParameters
    lower_bound : float
        Its ``lower_bound_``: the first change is measured from it.
    """

    parameters: MixtureParameters
    lower_bound: float


@dataclass(frozen=True)
class FitSettings:
    """What a fit does, checked: the estimator's parameters in the engine's terms.

    Parameters
    ----------
    n_components : int
        K.
    model : CovarianceModel
        The covariance model.
    tol, convergence, reg_covar, max_iter, n_init, init_params
        As the estimator's parameters of the same names.
    given : GivenStart, default=GivenStart()
        User-given start values.
    executor : ExecutorOptions, default=ExecutorOptions()
        Where the E-steps run.
    labels : ndarray of shape (n_samples,) or None, default=None
        Known components of rows (-1: unknown), a semi-supervised fit
        (:mod:`gaussmix.semisupervised`); None: the ordinary fit.
    prior : None, "default" or Prior, default=None
        A conjugate prior (:mod:`gaussmix.priors`), checked against the model.
    equal_proportions : bool, default=False
        π_k = 1/K fixed.
    noise : bool, default=False
        A uniform noise component (:mod:`gaussmix.noise`).
    noise_init : None, float or ndarray of bool, default=None
        Rows that start as noise (checked by :func:`gaussmix.noise.check_noise_init`).
    Vinv : float or None, default=None
        The noise density in the data's units; None: 1/hypervolume of all rows.
    """

    n_components: int
    model: CovarianceModel
    tol: float = 1e-3
    convergence: str = "absolute"
    reg_covar: float = 1e-6
    max_iter: int = 100
    n_init: int = 1
    init_params: str = "kmeans"
    given: GivenStart = GivenStart()
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)
    labels: np.ndarray | None = None
    prior: Prior | str | None = None
    equal_proportions: bool = False
    noise: bool = False
    noise_init: Any = None
    Vinv: float | None = None


@dataclass(frozen=True)
class FitResult:
    """A fitted mixture and how the fit went, in the units of the data.

    Parameters
    ----------
    parameters : MixtureParameters
        The kept start's parameters after its last M-step.
    converged : bool
        Whether that start converged (False after an interrupt).
    n_iter : int
        Its number of iterations.
    lower_bound : float
        Mean log-likelihood of its last E-step (−inf without iterations).
    lower_bounds : tuple of float
        That value at every iteration.
    log_likelihood : float
        Mean (sample-weighted) log-likelihood of ``parameters`` (the final E-step).
    n_k : ndarray of shape (K,)
        Effective rows per component under ``parameters``.
    empty : tuple of int
        Components that own almost nothing under ``parameters`` (:func:`collapse.empty_components`).
    reseeds : tuple of Reseed
        Components re-seeded in the kept start.
    discarded : tuple of CollapsedComponentError
        Why the starts that could not be fitted were given up.
    n_init : int
        Starts run (1 on a warm start).
    interrupt : KeyboardInterrupt or None
        The Ctrl-C that ended the fit early; the caller re-raises it once it has kept
        the result.
    noise_density : float or None, default=None
        V⁻¹ of the noise component in the data's units (None without noise).
    """

    parameters: MixtureParameters
    converged: bool
    n_iter: int
    lower_bound: float
    lower_bounds: tuple[float, ...]
    log_likelihood: float
    n_k: np.ndarray
    empty: tuple[int, ...]
    reseeds: tuple[Reseed, ...]
    discarded: tuple[CollapsedComponentError, ...]
    n_init: int
    interrupt: KeyboardInterrupt | None = None
    noise_density: float | None = None


@dataclass(frozen=True)
class _Units:
    """The data as the EM loop sees them: X·2^-exponent (exponent 0 for ordinary data)."""

    X: Any
    exponent: int
    reg_covar: float
    offset: float
    # With missing values: X with NaN replaced by column means, which the starts are
    # drawn on and re-seeds taken from (EM itself sees only the observed entries).
    imputed_X: Any = None

    @property
    def start_X(self) -> Any:
        """The rows the starts are drawn on and re-seeds taken from."""
        return self.X if self.imputed_X is None else self.imputed_X

    @classmethod
    def of(cls, data: FitData, reg_covar: float, missing: bool = False) -> _Units:
        # Extreme magnitudes are fitted as X·2^-e (exact, see gaussmix.scaling); every
        # quantity in these units until scaled back. Dask input is fitted as given.
        # NaN (missing values) would hide the largest magnitude: it is read as 0 there.
        scanned = np.nan_to_num(to_host(data.X), nan=0.0) if missing else data.X
        exponent = data_exponent(scanned, reg_covar) if data.rescalable else 0
        return cls(
            X=data.X if exponent == 0 else ldexp(data.X, -exponent),
            exponent=exponent,
            reg_covar=float(np.ldexp(reg_covar, -2 * exponent)),
            # A row's log-density changes by its observed coordinates' Jacobian only.
            offset=log_density_offset(
                exponent,
                mean_observed(data.X, data.sample_weight) if missing else data.X.shape[1],
            ),
        )


def fit_mixture(
    data: FitData,
    settings: FitSettings,
    *,
    random_state: np.random.RandomState | None = None,
    warm: WarmStart | None = None,
    progress: Callable[[IterationInfo], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit a mixture by EM, keeping the best of ``settings.n_init`` starts.

    Parameters
    ----------
    data : FitData
        Validated data (:func:`gaussmix.arrays.fit_data`).
    settings : FitSettings
        What to fit.
    random_state : numpy.random.RandomState, optional
        Draws the starts; None: NumPy's global generator (as scikit-learn's
        ``random_state=None``).
    warm : WarmStart, optional
        Continue from these parameters (one start) instead of drawing starts.
    progress : callable, optional
        Called with an :class:`~gaussmix.em.IterationInfo` (log-likelihood in the data's
        units) after every iteration; None builds no per-iteration record.
    announce : callable, optional
        Called with a line of text at every start and its end (verbose output).

    Returns
    -------
    FitResult
        ``interrupt`` is set when Ctrl-C (or a KeyboardInterrupt from ``progress``) ended
        the fit after a start finished or completed an iteration.

    Raises
    ------
    InvalidInputError
        With fewer rows of positive weight than components.
    CollapsedComponentError
        When no start could be fitted.
    KeyboardInterrupt
        On Ctrl-C before any start completed an iteration.
    """
    _check_enough_rows(data, settings.n_components)
    random_state = check_random_state(random_state)
    missing = settings.executor.missing == "em" and has_missing(data.X)
    units = _Units.of(data, settings.reg_covar, missing)
    if missing:
        units = dataclasses.replace(units, imputed_X=mean_imputed(units.X, data.sample_weight))
    executor = data.executor(units.X, settings.executor, settings.n_components)
    _check_combination(settings, data, missing)
    if settings.labels is not None:
        make = functools.partial(_make_executor, options=settings.executor)
        executor = LabelledExecutor(executor, settings.labels, settings.n_components, make)
    noise_density = None
    if settings.noise:
        # V⁻¹ in the data's units; X·2^-e has densities 2^(eD) times larger.
        power = units.exponent * data.X.shape[1]
        noise_density = settings.Vinv
        if noise_density is None:
            noise_density = float(np.ldexp(1.0 / hypervolume(executor.X), -power))
        executor = NoiseExecutor(executor, math.log(noise_density) + power * math.log(2.0))
    # Small float64 data with compiled kernels: the iterative M-steps compiled too
    # (dataclasses.replace costs ~20 µs a fit: only when the model changes).
    model = compiled_model(settings.model, executor)
    if model is not settings.model:
        settings = dataclasses.replace(settings, model=model)
    rule = m_step_rule(executor, settings, units)
    best, discarded, interrupt = _run_starts(
        data,
        settings,
        units,
        executor,
        random_state,
        warm,
        _in_units(progress, units),
        announce,
        rule,
    )
    if best is None:
        raise _no_start_error(list(discarded), units.exponent)
    # One more E-step gives the log-likelihood of the parameters actually returned.
    final = executor.statistics(best.parameters, settings.model.scatter)
    parameters = scale_parameters(best.parameters, units.exponent)
    if units.exponent != 0:
        check_representable(parameters, units.exponent)
    return FitResult(
        parameters=parameters,
        converged=best.converged and interrupt is None,
        n_iter=best.n_iter,
        # With max_iter=0 no E-step ran: scikit-learn then reports -inf, warm start or not.
        lower_bound=best.lower_bound + units.offset if best.n_iter else -math.inf,
        lower_bounds=tuple(value + units.offset for value in best.lower_bounds),
        log_likelihood=final.mean_log_likelihood + units.offset,
        n_k=final.n_k,
        empty=tuple(empty_components(final.n_k, data.sample_weight).tolist()),
        reseeds=best.reseeds,
        discarded=discarded,
        n_init=1 if warm is not None else settings.n_init,
        interrupt=interrupt,
        noise_density=noise_density,
    )


def m_step_rule(executor: Any, settings: FitSettings, units: _Units) -> MStepRule:
    """The fit's M-step, built once: the prior resolved on all the executor's rows (Dask:
    not only the in-memory sample), in the fit's units."""
    prior = check_prior(settings.prior, settings.model)
    resolved = None
    if prior is not None:
        resolved = resolve_prior(
            prior,
            executor.X,
            executor.sample_weight,
            settings.model,
            settings.n_components,
            units.exponent,
        )
    return MStepRule(
        settings.model, units.reg_covar, resolved, settings.equal_proportions, settings.noise
    )


def _make_executor(X: Any, sample_weight: Any, n_components: int, options: ExecutorOptions) -> Any:
    return make_executor(X, sample_weight, options, n_components)


def _check_combination(settings: FitSettings, data: FitData, missing: bool) -> None:
    """Refuse the options that need what the data cannot give.

    The noise hypervolume and the prior's moments are defined on complete rows held at once
    (ranges of the data and of its principal-component scores, column variances), and the
    noise E-step maps over rows held in memory: neither has an observed-data counterpart
    with NaN entries here, nor a pass over a streamed source.
    """
    streamed = isinstance(data.lazy_X, CheckedSource)
    for name, used in (("noise", settings.noise), ("prior", settings.prior is not None)):
        if used and missing:
            raise InvalidInputError(
                f"missing='em' does not combine with {name}: X has NaN entries. Fit the "
                f"complete rows with {name}, or fit missing='em' without {name}."
            )
        if used and streamed:
            raise InvalidInputError(
                f"{name} needs the rows in memory (or as a Dask array); got a streamed "
                f"source. Load the data first, or fit the stream without {name}."
            )


def _check_enough_rows(data: FitData, n_components: int) -> None:
    weights = data.sample_weight
    n_support = data.X.shape[0] if weights is None else int(np.count_nonzero(weights))
    if n_support < n_components:
        raise InvalidInputError(
            f"n_samples must be >= n_components; got n_samples = {n_support} (rows of "
            f"positive weight) and n_components = {n_components}. Use fewer "
            "components or more data."
        )


def _in_units(
    progress: Callable[[IterationInfo], None] | None, units: _Units
) -> Callable[[IterationInfo], None] | None:
    """The progress callback fed with log-likelihoods in the data's units."""
    if progress is None or units.offset == 0:
        return progress
    return lambda info: progress(
        dataclasses.replace(info, log_likelihood=info.log_likelihood + units.offset)
    )


def _run_starts(
    data: FitData,
    settings: FitSettings,
    units: _Units,
    executor: Any,
    random_state: np.random.RandomState,
    warm: WarmStart | None,
    progress: Callable[[IterationInfo], None] | None,
    announce: Callable[[str], None] | None,
    rule: MStepRule,
) -> tuple[EMResult | None, tuple[CollapsedComponentError, ...], KeyboardInterrupt | None]:
    """The best start's EM result, the starts given up, and the interrupt that ended it."""
    say = announce or (lambda message: None)
    best: EMResult | None = None
    discarded: list[CollapsedComponentError] = []
    # An executor that runs in the calling thread (the small-data path) has k-means run
    # on one OpenMP thread as well: its parallel regions are too short to pay. One hold
    # for all the starts; given responsibilities (select_model's cells) draw nothing: no
    # hold (two threadpoolctl calls a hold).
    given = settings.given
    draws = warm is None and given.responsibilities is None and not given.complete
    threads = one_openmp_thread if executor.n_threads == 1 and draws else nullcontext
    try:
        with threads():
            for init in range(1 if warm is not None else settings.n_init):
                say(f"Initialization {init}")
                try:
                    result = _run_start(
                        data, settings, units, executor, random_state, warm, progress, init, rule
                    )
                except CollapsedComponentError as error:
                    # A start that cannot be repaired is discarded (the collapse policy).
                    discarded.append(error)
                    say(f"Initialization discarded: {error}")
                    continue
                say(f"Initialization {'converged' if result.converged else 'did not converge'}.")
                # Without iterations no start has a lower bound; scikit-learn keeps the last.
                if best is None or result.lower_bound > best.lower_bound or settings.max_iter == 0:
                    best = result
    except KeyboardInterrupt as stop:
        # Also a plain KeyboardInterrupt from outside EM (a later start's k-means): the
        # finished starts are kept then. A start interrupted after a complete iteration
        # competes with them; before any, there is nothing to keep.
        reached = stop.result if isinstance(stop, EMInterrupted) else None
        if (
            reached is not None
            and reached.n_iter > 0
            and (best is None or reached.lower_bound > best.lower_bound)
        ):
            best = reached
        if best is None:
            raise
        return best, tuple(discarded), stop
    return best, tuple(discarded), None


def _run_start(
    data: FitData,
    settings: FitSettings,
    units: _Units,
    executor: Any,
    random_state: np.random.RandomState,
    warm: WarmStart | None,
    progress: Callable[[IterationInfo], None] | None,
    init: int,
    rule: MStepRule,
) -> EMResult:
    """EM from one start, with the collapse policy re-seeding collapsing components."""
    if warm is not None:
        start = scale_parameters(warm.parameters, -units.exponent)
        lower_bound = warm.lower_bound - units.offset
    else:
        start = initial_parameters(
            units.start_X, data.sample_weight, settings, random_state, units.exponent, rule
        )
        lower_bound = -math.inf
    return run_em(
        executor,
        start,
        settings.model,
        reg_covar=units.reg_covar,
        tol=settings.tol,
        max_iter=settings.max_iter,
        lower_bound=lower_bound,
        callback=progress,
        init=init,
        reseeder=ComponentReseeder(
            data.reseed_executor(executor, settings.executor, settings.n_components),
            units.start_X,
            data.sample_weight,
            RESEEDS_PER_COMPONENT * settings.n_components,
        ),
        convergence=settings.convergence,
        log_likelihood_offset=units.offset,
        rule=rule,
    )


def initial_parameters(
    X: Any,
    sample_weight: np.ndarray | None,
    settings: FitSettings,
    random_state: np.random.RandomState,
    exponent: int = 0,
    rule: MStepRule | None = None,
) -> MixtureParameters:
    """The parameters of one start: drawn (or given) responsibilities, one M-step, then
    the user-given weights, means and precisions in place of the drawn ones.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
        The data in the units of the fit (X·2^-exponent).
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights.
    settings : FitSettings
        K, the model, ``init_params``, ``reg_covar`` and the given start (data units).
    random_state : numpy.random.RandomState
        Advanced by the draw.
    exponent : int, default=0
        The power of two the data were scaled by.
    rule : MStepRule, optional
        The fit's M-step; None: the ML one of ``settings``.

    Returns
    -------
    MixtureParameters
    """
    model = settings.model
    given = settings.given.scaled(exponent)
    drawn = None
    if not given.complete:
        # The initialisation runs on the host; a tensor is copied only when it is needed.
        X = to_host(X)
        responsibilities = given.responsibilities
        if responsibilities is not None and settings.noise:
            # The noise column (the last) is left out: the first M-step's weights then
            # sum to 1 − π_0.
            responsibilities = responsibilities[:, : settings.n_components]
        if settings.labels is not None:
            responsibilities = labelled_start(
                settings.labels, settings.n_components, responsibilities
            )
        if responsibilities is None:
            responsibilities = _drawn_start(X, sample_weight, settings, random_state)
        reg_covar = float(np.ldexp(settings.reg_covar, -2 * exponent))
        drawn = parameters_from_responsibilities(
            X,
            sample_weight,
            responsibilities,
            model,
            reg_covar,
            None if rule is None or rule.plain else rule,
        )
    if given.precisions is not None:
        factors = precision_cholesky_from_precisions(given.precisions, model.form)
        covariances = covariances_from_precision_cholesky(factors, model.form)
    else:
        covariances, factors = drawn.covariances, drawn.precisions_cholesky
    return MixtureParameters(
        weights=given.weights if given.weights is not None else drawn.weights,
        means=given.means if given.means is not None else drawn.means,
        covariances=covariances,
        precisions_cholesky=factors,
        form=model.form,
    )


def _drawn_start(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    settings: FitSettings,
    random_state: np.random.RandomState,
) -> np.ndarray | Partition:
    """A start drawn by ``init_params`` (a noise column and labelled rows included)."""

    def draw(rows: Any, weights: np.ndarray | None) -> np.ndarray | Partition:
        return draw_start(rows, weights, settings.n_components, settings.init_params, random_state)

    if settings.noise:
        responsibilities = start_responsibilities(
            X,
            sample_weight,
            settings.noise_init,
            random_state,
            lambda rows, weights: dense_responsibilities(draw(rows, weights)),
        )
    else:
        responsibilities = draw(X, sample_weight)
    if settings.labels is None:
        return responsibilities
    return labelled_start(
        settings.labels, settings.n_components, dense_responsibilities(responsibilities)
    )


def _no_start_error(
    discarded: list[CollapsedComponentError], exponent: int
) -> CollapsedComponentError:
    error = all_starts_failed(discarded)
    if exponent <= 0:
        return error
    # The scale that keeps the largest rows' squares finite can leave the spread of the
    # other rows below float64's range (scaling.py).
    return CollapsedComponentError(
        f"{error} Note: X was fitted at the scale of its largest magnitude "
        f"(max |X| ≈ 1e{round(exponent * math.log10(2.0))}); clusters whose "
        "spread is below ~1e-154 of it cannot be held in float64, so a few far "
        "outlying rows make the others collapse. Remove or clip such rows, or "
        "fit them apart.",
        component=error.component,
        n_k=error.n_k,
    )


def fit_warnings(result: FitResult, settings: FitSettings) -> tuple[Warning, ...]:
    """What a fit warns about, in order: discarded starts, re-seeds, no convergence, and
    components left without data.

    Parameters
    ----------
    result : FitResult
    settings : FitSettings

    Returns
    -------
    tuple of Warning
        :class:`~gaussmix.exceptions.CollapsedComponentWarning` and
        :class:`~sklearn.exceptions.ConvergenceWarning` instances (empty for a clean fit).
        An interrupted fit does not warn about convergence.
    """
    found: list[Warning] = []
    n_init = result.n_init
    if result.discarded:
        found.append(
            CollapsedComponentWarning(
                f"Every start should fit without collapse; {len(result.discarded)} of "
                f"{n_init} start(s) were discarded and the best of the others kept. First: "
                f"{result.discarded[0]}"
            )
        )
    if result.reseeds:
        found.append(CollapsedComponentWarning(describe_reseeds(result.reseeds, n_init)))
    if result.interrupt is None and not result.converged and settings.max_iter > 0:
        found.append(
            ConvergenceWarning(
                f"Best of {n_init} initialisation(s) did not converge in max_iter = "
                f"{settings.max_iter} iterations (tol = {settings.tol}, "
                f"{settings.convergence}). Raise max_iter or tol, or check the data."
            )
        )
    if result.empty:
        empty = list(result.empty)
        found.append(
            CollapsedComponentWarning(
                "Every component should own data; component(s) "
                f"{empty} own almost none (n_k = {result.n_k[empty].tolist()}), so "
                "their weights_ are near zero. Use fewer components or another start."
            )
        )
    return tuple(found)


Output = Literal["log_norm", "responsibilities", "labels"]


def evaluate_rows(
    X: Any,
    parameters: MixtureParameters,
    output: Output,
    options: ExecutorOptions,
    log_noise: float | None = None,
) -> Any:
    """Per-row log-densities, responsibilities or labels of validated X under a mixture.

    Parameters
    ----------
    X : ndarray, torch.Tensor or dask.array.Array of shape (n_samples, n_features)
        Validated rows.
    parameters : MixtureParameters
        The mixture.
    output : {"log_norm", "responsibilities", "labels"}
        ``log p(x_n)``, ``γ_nk`` or the component of highest responsibility.
    options : ExecutorOptions
        Where the kernels run.
    log_noise : float, optional
        log V⁻¹ of a noise component (its weight 1 − Σ π_k): responsibilities then have
        the noise last, and a row whose largest responsibility is the noise's gets label −1.

    Returns
    -------
    array of the executor's kind (NumPy, tensor, lazy Dask array)

    Notes
    -----
    A mixture of extreme magnitude is evaluated as X·2^-e against the correspondingly
    scaled mixture, e taken from the mixture (:func:`gaussmix.scaling.model_exponent`), so
    that the kernels neither overflow nor underflow; the log-densities get the offset
    back. Rows far from the mixture are the kernels' business
    (:func:`gaussmix.kernels.far_row_posterior`): they must not rescale the other rows.
    Dask input is evaluated lazily, as given.
    """
    exponent = 0 if input_kind(X) == "dask" else model_exponent(parameters)
    if exponent != 0:
        X = ldexp(X, -exponent)
        parameters = scale_parameters(parameters, -exponent)
    executor = make_executor(X, None, options, parameters.n_components)
    if log_noise is not None:
        # The densities of X·2^-e are 2^(eD) times larger, the noise's as well.
        share = 1.0 - float(np.sum(parameters.weights))
        log_term = -math.inf
        if share > 0:
            log_term = math.log(share) + log_noise + exponent * X.shape[1] * math.log(2.0)
        with one_blas_thread():
            prepared = executor.prepare(parameters)
            result = executor.map_rows(noise_rows(prepared, log_term, output))
        offset = log_density_offset(exponent, X.shape[1])
        return result + offset if output == "log_norm" and offset else result
    # Preparing factors the covariances: keep that LAPACK call off OpenBLAS's threads too.
    with one_blas_thread():
        posterior = executor.posterior_function(executor.prepare(parameters))

        def function(rows: Any) -> Any:
            log_norm, responsibilities = posterior(rows)
            if output == "labels":
                # The responsibilities are the weighted probabilities scaled per row.
                return array_namespace(rows).argmax(responsibilities, axis=1)
            return log_norm if output == "log_norm" else responsibilities

        result = executor.map_rows(function)
    offset = log_density_offset(exponent, X.shape[1])
    if output == "log_norm" and offset and options.missing == "em" and has_missing(X):
        return result + log_density_offset(exponent, 1) * observed_counts(X)
    return result + offset if output == "log_norm" and offset else result
