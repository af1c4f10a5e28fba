"""One compiled pass over small data where NumPy's passes cost more than their arithmetic.

select_model fits ~130–160 cells on 145–272 rows (``benchmarks/bench_select.py``): per
cell, the statistics of its start (:func:`gaussmix.initialization.parameters_from_responsibilities`)
and ICL's entropy term (:func:`gaussmix.selection.select_model`) were NumPy passes and an
executor's posterior costing about ten times their arithmetic. :func:`start_statistics`
and :func:`map_log_sum` do each in one call of :mod:`gaussmix._compiled_em` when numba's
kernels are ready (:func:`gaussmix.precompile.ready`: never compiled here on first use)
and the rows are float64 NumPy arrays of at most 65,536 rows; otherwise they return None
and the caller's NumPy path runs. Both agree with it to rounding (``tests/test_one_pass.py``).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from gaussmix import compiling, fused, precompile
from gaussmix.compiled_em import model_code, state_parameters
from gaussmix.covariance.base import CovarianceModel
from gaussmix.covariance.forms import compact_shape
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics, scatter_shape

__all__ = ["first_m_step", "map_log_sum", "start_statistics"]

# The one pass is one thread: beyond this many rows the executors' threads pay.
_MAX_ONE_PASS_ROWS = 65536
# gaussmix._compiled's layouts and scatter kinds (as gaussmix.compiled_em numbers them).
_LAYOUTS = {"full": 0, "tied": 1, "diagonal": 2, "spherical": 3}
_SCATTER_KINDS = {"trace": 0, "diagonal": 1, "full": 2}


@cache
def _kernels() -> Any:
    """The compiled kernels; numba is imported here, on first use, not with this module."""
    from gaussmix import _compiled_em

    return _compiled_em


def _one_pass_data(X: object, sample_weight: object) -> bool:
    """Whether the one-pass kernels take these rows: float64 NumPy, small, compiled ready."""
    if type(X) is not np.ndarray or X.dtype != np.float64 or X.ndim != 2:
        return False
    if X.shape[0] > _MAX_ONE_PASS_ROWS:
        return False
    if sample_weight is not None and (
        type(sample_weight) is not np.ndarray
        or sample_weight.dtype != np.float64
        or sample_weight.ndim != 1
    ):
        return False
    # The kernels compile with the others (gaussmix.precompile): never here, on first use.
    return fused.available() and precompile.ready()


def start_statistics(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    responsibilities: np.ndarray,
    kind: str,
) -> SufficientStatistics | None:
    """The statistics of given responsibilities about their provisional means, in one
    compiled pass, or None where the NumPy passes run.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    responsibilities : ndarray of shape (n_samples, n_components)
    kind : {"trace", "diagonal", "full"}
        The scatter kind.

    Returns
    -------
    SufficientStatistics or None
        As :func:`gaussmix.initialization.parameters_from_responsibilities` accumulates
        them (to rounding: ``tests/test_compiled_em.py``); None unless numba's kernels are
        ready and X (and the weights) are float64 NumPy arrays of at most 65,536 rows.
    """
    if not _one_pass_data(X, sample_weight):
        return None
    if type(responsibilities) is not np.ndarray or responsibilities.ndim != 2:
        return None
    gamma = np.ascontiguousarray(responsibilities, dtype=np.float64)
    n_components, n_features = gamma.shape[1], X.shape[1]
    n_k = np.empty(n_components)
    shift = np.empty((n_components, n_features))
    weighted_sum = np.empty((n_components, n_features))
    shape = scatter_shape(kind, n_components, n_features)
    scatter = np.empty(int(np.prod(shape)))
    weighted = sample_weight is not None
    compiling.call(
        _kernels().start_statistics,
        np.ascontiguousarray(X),
        sample_weight if weighted else np.empty(0),
        weighted,
        gamma,
        _SCATTER_KINDS[kind],
        n_k,
        shift,
        weighted_sum,
        scatter,
    )
    total_weight = float(X.shape[0]) if not weighted else float(np.sum(sample_weight))
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=scatter.reshape(shape),
        shift=shift,
        total_weight=total_weight,
        log_likelihood=0.0,
    )


def map_log_sum(
    X: np.ndarray, sample_weight: np.ndarray | None, parameters: MixtureParameters
) -> float | None:
    """Σ_i w_i log max_k γ_ik of a mixture (ICL's entropy term, negated) in one compiled
    pass, or None where the executor's posterior must give it.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    parameters : MixtureParameters
        A mixture without noise.

    Returns
    -------
    float or None
        None unless numba's kernels are ready, X (and the weights) are float64 NumPy
        arrays of at most 65,536 rows and every row's value is finite (rows far from
        every component are the kernels' business: :func:`gaussmix.kernels.far_row_posterior`).
    """
    if not _one_pass_data(X, sample_weight):
        return None
    weighted = sample_weight is not None
    value = compiling.call(
        _kernels().map_log_sum,
        np.ascontiguousarray(X),
        sample_weight if weighted else np.empty(0),
        weighted,
        _LAYOUTS[parameters.form],
        np.asarray(parameters.weights, dtype=np.float64),
        np.ascontiguousarray(parameters.means, dtype=np.float64),
        np.ascontiguousarray(parameters.precisions_cholesky, dtype=np.float64).reshape(-1),
    )
    return float(value) if math.isfinite(value) else None


def first_m_step(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    responsibilities: np.ndarray,
    model: CovarianceModel,
    reg_covar: float,
) -> MixtureParameters | None:
    """The ML M-step of a start from given responsibilities in one compiled call, or None
    where the Python M-step runs.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    responsibilities : ndarray of shape (n_samples, n_components)
    model : CovarianceModel
        A model with a compiled M-step (:func:`gaussmix.compiled_em.model_code`), run cold
        (no previous covariances), as :func:`gaussmix.mstep.maximize` runs it.
    reg_covar : float

    Returns
    -------
    MixtureParameters or None
        None, besides where :func:`start_statistics` gives None, for a model without a
        compiled M-step and where the compiled M-step fails (a covariance that does not
        factorise: the Python M-step raises its error then).
    """
    if not _one_pass_data(X, sample_weight):
        return None
    if type(responsibilities) is not np.ndarray or responsibilities.ndim != 2:
        return None
    n_components, n_features = responsibilities.shape[1], X.shape[1]
    code = model_code(model, n_components, n_features)
    if code is None:
        return None
    kernels = _kernels()
    form = model.form
    weights = np.empty(n_components)
    means = np.empty((n_components, n_features))
    covariances = np.empty((n_components, n_features, n_features))
    factors = np.empty(int(np.prod(compact_shape(form, n_components, n_features))))
    weighted = sample_weight is not None
    outcome = compiling.call(
        kernels.first_m_step,
        np.ascontiguousarray(X),
        sample_weight if weighted else np.empty(0),
        weighted,
        np.ascontiguousarray(responsibilities, dtype=np.float64),
        _LAYOUTS[form],
        _SCATTER_KINDS[model.scatter],
        code,
        float(reg_covar),
        weights,
        means,
        covariances,
        factors,
    )
    if outcome != kernels.OK:
        return None
    return state_parameters(weights, means, covariances, factors, form)
