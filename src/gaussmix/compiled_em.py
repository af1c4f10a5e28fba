"""The EM loop of small float64 data in one compiled call, where it gives the Python loop's result.

On Old Faithful (272 × 2) an E-step of the small-data executor is one compiled call of
15 µs, and the M-step, the precision factors, the collapse wrapper and the loop's
bookkeeping in Python cost about ten times that per iteration
(``benchmarks/bench_small.py``). :func:`compiled_loop` decides once per run, by value,
whether the whole loop can run in :mod:`gaussmix._compiled_em` instead; :func:`gaussmix.em.run_em`
then runs it and lets its own loop take over for any iteration that needs the Python path
(a re-seed, a collapse error, far rows), after which the compiled loop goes on.

The compiled loop is used when numba is installed, the executor is the small-data one
(:class:`gaussmix.backends.numpy.SmallDataBackend`) with its compiled kernels, the data
(and weights) are float64, the covariance model's M-step is compiled and no per-iteration
callback is given. Otherwise :func:`compiled_loop` returns None and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from gaussmix import compiling, fused
from gaussmix.backends.numpy import SmallDataBackend
from gaussmix.compiled_msteps import python_model
from gaussmix.covariance.attributes import compact_from_dense
from gaussmix.covariance.base import CovarianceModel, Form
from gaussmix.covariance.closed_form import Diagonal, Full, Spherical, Tied
from gaussmix.covariance.constrained import EEI, EEV, EII, EVI, EVV
from gaussmix.covariance.forms import dense_covariances, precision_cholesky_from_covariances
from gaussmix.covariance.iterative import EVE, VEE, VEI, VEV, VVE
from gaussmix.exceptions import CollapsedComponentError
from gaussmix.parameters import MixtureParameters

__all__ = [
    "SAME_BITS_FEATURES",
    "CompiledLoop",
    "CompiledRun",
    "closed_form_code",
    "compiled_loop",
    "compiled_models",
    "model_code",
    "state_parameters",
]

# The codes of gaussmix._compiled_em (EII … VVV there), by model type: a model of another
# type (a user's own, or a variant with other settings) keeps the Python loop. The
# iterative models join with their compiled M-steps: VEI: 9, VEE: 10, VEV: 11, EVE: 12,
# VVE: 13 (gaussmix.covariance.iterative's classes).
_MODEL_CODES: dict[type, int] = {
    EII: 0,
    Spherical: 1,
    EEI: 2,
    Diagonal: 3,
    EVI: 4,
    Tied: 5,
    EEV: 6,
    EVV: 7,
    Full: 8,
    VEI: 9,
    VEE: 10,
    VEV: 11,
    EVE: 12,
    VVE: 13,
}
# gaussmix._compiled.whole_statistics's layouts and scatter kinds.
_LAYOUTS = {"full": 0, "tied": 1, "diagonal": 2, "spherical": 3}
_SCATTER_KINDS = {"trace": 0, "diagonal": 1, "full": 2}
# Iterations per compiled call are bounded by rows × components × features, so that a
# Ctrl-C is seen between calls within a few tens of milliseconds (2²² ≈ 900 iterations on
# Old Faithful at K = 9).
_WORK_PER_CALL = 2**22
# NumPy sums up to 128 terms in one block (pairwise_sum_DOUBLE), which the compiled M-step
# repeats; above, NumPy recurses, and the Python loop runs.
_MAX_TERMS = 128
# Features up to which the compiled Cholesky repeats LAPACK's operation order (its bits;
# tests/test_compiled_em.py): its factors are used as they are there. The factors 1/σ of
# the spherical and diagonal forms are correctly rounded on both sides, at any D.
SAME_BITS_FEATURES = 4
# The codes below VEI's are closed forms, whose compiled covariances are the Python
# M-step's bits at any D (tests/test_one_pass.py, D = 6); the iterative models' inner
# iterations agree to their tolerance only.
_FIRST_ITERATIVE_CODE = 9


def closed_form_code(code: int) -> bool:
    """Whether a compiled M-step code is a closed form (its covariances: NumPy's bits).

    Parameters
    ----------
    code : int
        From :func:`model_code`.

    Returns
    -------
    bool
    """
    return code < _FIRST_ITERATIVE_CODE


def _exact_factors(form: Form, n_features: int) -> bool:
    """Whether the compiled precision factors of this form are NumPy's bits."""
    return form in ("spherical", "diagonal") or n_features <= SAME_BITS_FEATURES


@cache
def _kernels() -> Any:
    """The compiled loop; numba is imported here, on first use, not with this module."""
    from gaussmix import _compiled_em

    return _compiled_em


def compiled_models() -> tuple[str, ...]:
    """Names of the covariance models whose EM loop can run compiled.

    Returns
    -------
    tuple of str
    """
    return tuple(model_type().name for model_type in _MODEL_CODES)


@dataclass(frozen=True)
class CompiledRun:
    """What one :meth:`CompiledLoop.run` reached.

    Parameters
    ----------
    parameters : MixtureParameters
        After the last iteration it completed (the start itself when none).
    lower_bounds : tuple of float
        Mean log-likelihood of each completed iteration.
    converged : bool
        Whether the last one met the convergence rule.
    takeover : bool
        Whether the next iteration must run in the Python loop (it re-seeds, raises or
        warns there).
    interrupted : KeyboardInterrupt or None
        A Ctrl-C received between compiled calls; ``parameters`` are complete.
    """

    parameters: MixtureParameters
    lower_bounds: tuple[float, ...]
    converged: bool
    takeover: bool
    interrupted: KeyboardInterrupt | None = None


def compiled_loop(
    backend: object,
    model: CovarianceModel,
    parameters: MixtureParameters,
    callback: object | None = None,
) -> CompiledLoop | None:
    """The compiled EM loop for this executor and model, or None where the Python loop runs.

    Parameters
    ----------
    backend : object
        The executor of the E-step.
    model : CovarianceModel
        The covariance model.
    parameters : MixtureParameters
        The start.
    callback : object or None, default=None
        The per-iteration callback of the run: with one, the Python loop runs (it calls
        back after every iteration, and Ctrl-C from it keeps its meaning).

    Returns
    -------
    CompiledLoop or None
        None unless numba is installed, ``backend`` is a
        :class:`~gaussmix.backends.numpy.SmallDataBackend` using its compiled kernels on
        float64 data (and float64 weights), ``model``'s M-step is compiled, and
        neither K nor D exceeds 128.
    """
    if callback is not None or not fused.available():
        return None
    # The compiled twin of an iterative model (compiled_msteps.compiled_model) runs the
    # same M-step as the Python model it wraps: the loop runs that model's code.
    model = python_model(model)
    if type(backend) is not SmallDataBackend or not backend.use_fused:
        return None
    if backend.X.dtype != np.float64 or backend.X.ndim != 2:
        return None
    weights = backend.sample_weight
    if weights is not None and (weights.dtype != np.float64 or weights.ndim != 1):
        return None
    code = model_code(model, *parameters.means.shape)
    return None if code is None else CompiledLoop(backend, model, code)


def model_code(model: CovarianceModel, n_components: int, n_features: int) -> int | None:
    """The code of ``model``'s compiled M-step in :mod:`gaussmix._compiled_em`, or None.

    Parameters
    ----------
    model : CovarianceModel
        A Python model or its compiled twin.
    n_components, n_features : int
        K and D.

    Returns
    -------
    int or None
        None for a model without a compiled M-step, a variant with other settings (an
        inner tolerance, say), or K or D above 128 (NumPy's pairwise sums, which the
        compiled M-step repeats, recurse there).
    """
    model = python_model(model)
    code = _MODEL_CODES.get(type(model))
    if code is None or model != _default(type(model)) or max(n_components, n_features) > _MAX_TERMS:
        return None
    return code


@cache
def _default(model_type: type) -> CovarianceModel:
    # Made once: a model's constructor runs its field checks (a few µs, twice a start).
    return model_type()


class CompiledLoop:
    """The EM iterations of one run, in :func:`gaussmix._compiled_em.run_loop`.

    Parameters
    ----------
    backend : SmallDataBackend
        The executor (its rows, weights and chunk size are used).
    model : CovarianceModel
        The covariance model.
    code : int
        Its code in :mod:`gaussmix._compiled_em`.
    """

    def __init__(self, backend: SmallDataBackend, model: CovarianceModel, code: int):
        self.X = backend.X
        self.sample_weight = backend.sample_weight
        self.chunk_size = int(backend.chunk_size)
        self.model = model
        self.code = code
        # False once the compiled loop must not be used again in this run (see run).
        self.usable = True

    def _scratch(self, n_components: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        """The scratch of gaussmix.fused's chunks, for the compiled E-step."""
        capacity = max(1, min(self.chunk_size, self.X.shape[0]))
        per_row = 3 * n_features + 4 + n_components * (n_features + 1)
        return np.empty(per_row * capacity), np.empty((n_features, n_features))

    def run(
        self,
        parameters: MixtureParameters,
        previous_bound: float,
        n_iterations: int,
        *,
        reg_covar: float,
        tol: float,
        convergence: str,
        log_likelihood_offset: float,
        empty_threshold: float,
    ) -> CompiledRun:
        """Up to ``n_iterations`` EM iterations from ``parameters``.

        Parameters
        ----------
        parameters : MixtureParameters
            The start (valid: the Python loop would run its E-step).
        previous_bound : float
            Mean log-likelihood the first change is measured from (−inf after a re-seed).
        n_iterations : int
            Iterations allowed (positive).
        reg_covar, tol, convergence, log_likelihood_offset
            As :func:`gaussmix.em.run_em` takes them.
        empty_threshold : float
            n_k below which the collapse policy re-seeds a component (−inf without one).

        Returns
        -------
        CompiledRun
            Stops at convergence, after ``n_iterations``, before an iteration that the
            Python loop must run, or at Ctrl-C. Should the compiled state fail to convert
            (LAPACK refusing a factor the compiled test accepted), the start is returned
            for the Python loop and :attr:`usable` becomes False.
        """
        model = self.model
        if parameters.form != model.form:
            return CompiledRun(parameters, (), False, takeover=True)
        kernels = _kernels()
        n_components, n_features = parameters.means.shape
        weights, means, covariances, factors = _dense_state(parameters, model.form)
        scratch, product = self._scratch(n_components, n_features)
        bounds = np.empty(n_iterations)
        info = np.zeros(3, dtype=np.int64)
        weighted = self.sample_weight is not None
        per_call = max(1, _WORK_PER_CALL // max(1, self.X.shape[0] * n_components * n_features))
        interrupted: KeyboardInterrupt | None = None
        try:
            while info[0] < n_iterations and info[1] == kernels.RUNNING:
                compiling.call(
                    kernels.run_loop,
                    self.X,
                    self.sample_weight if weighted else np.empty(0),
                    weighted,
                    _LAYOUTS[model.form],
                    _SCATTER_KINDS[model.scatter],
                    self.code,
                    self.chunk_size,
                    -708.0,  # gaussmix.fused's exponent floor for float64
                    float(reg_covar),
                    float(tol),
                    convergence == "relative",
                    float(log_likelihood_offset),
                    float(empty_threshold),
                    float(previous_bound),
                    int(min(n_iterations, int(info[0]) + per_call)),
                    weights,
                    means,
                    covariances,
                    factors,
                    scratch,
                    product,
                    bounds,
                    info,
                )
        except KeyboardInterrupt as stop:
            # Between calls the state and `info` agree (run_loop updates both per iteration).
            interrupted = stop
        done = int(info[0])
        if done > 0:
            try:
                parameters = state_parameters(weights, means, covariances, factors, model.form)
            except CollapsedComponentError:
                # LAPACK refused a factor the compiled loop accepted (its test is meant to
                # be the stricter): the Python loop redoes these iterations, and the rest.
                self.usable = False
                return CompiledRun(parameters, (), False, takeover=True, interrupted=interrupted)
        return CompiledRun(
            parameters=parameters,
            lower_bounds=tuple(bounds[:done].tolist()),
            converged=bool(info[1] == kernels.CONVERGED),
            takeover=bool(info[1] == kernels.TAKEOVER),
            interrupted=interrupted,
        )


def _dense_state(
    parameters: MixtureParameters, form: Form
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fresh float64 copies of the weights, means, dense covariances and factors (flat)."""
    n_components, n_features = parameters.means.shape
    weights = np.array(parameters.weights, dtype=np.float64)
    means = np.array(parameters.means, dtype=np.float64, order="C")
    covariances = np.array(
        dense_covariances(parameters.covariances, form, n_components, n_features),
        dtype=np.float64,
        order="C",
    )
    factors = np.array(parameters.precisions_cholesky, dtype=np.float64).reshape(-1)
    return weights, means, covariances, factors


def state_parameters(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    factors: np.ndarray,
    form: Form,
) -> MixtureParameters:
    """Parameters of the dense compiled state, laid out as :func:`gaussmix.mstep.maximize` does.

    Parameters
    ----------
    weights, means : ndarray
        (K,) and (K, D).
    covariances : ndarray of shape (K, D, D)
        Dense.
    factors : ndarray
        The flat precision factors of ``form`` (taken, not copied).
    form : CovarianceForm

    Returns
    -------
    MixtureParameters

    Notes
    -----
    Up to D = 4, and for the spherical and diagonal forms at any D, the precision factors
    are the compiled ones (``_compiled_em.precision_factors`` gives NumPy's bits there):
    factorising again in NumPy cost ~150 µs a run, as much as ten compiled iterations on
    145 × 3 rows (``benchmarks/bench_select.py``). Above, NumPy factorises the full and
    tied forms again: the compiled Cholesky factors differ in the last bits there, which
    decide whether the degenerate cells of a selection collapse (thyroid EVV, G = 5).

    Raises
    ------
    CollapsedComponentError
        Where NumPy's factorisation fails (D > 4).
    """
    if form == "spherical":
        # The variance itself: the mean of the D equal diagonal entries
        # (attributes.compact_from_dense) may round it by an ulp.
        compact = covariances[:, 0, 0].copy()
    else:
        compact = compact_from_dense(covariances, form)
    return MixtureParameters(
        weights=weights,
        means=means,
        covariances=compact,
        precisions_cholesky=(
            factors.reshape(compact.shape)
            if _exact_factors(form, means.shape[1])
            else precision_cholesky_from_covariances(compact, form)
        ),
        form=form,
    )
