"""One compiled call on small data where NumPy and Python cost more than the arithmetic.

select_model fits ~130–160 cells on 145–272 rows (``benchmarks/bench_select.py``). Per
cell, the first M-step of its start and ICL's entropy term (an executor's posterior and
NumPy passes) cost several times their arithmetic. :func:`first_m_step` (called by
:func:`gaussmix.initialization.parameters_from_responsibilities`) and :func:`map_log_sum`
(by :mod:`gaussmix.selection`) do each in one call of :mod:`gaussmix._compiled_em` when
numba's kernels are ready (:func:`gaussmix.precompile.ready`: never compiled here on first
use); otherwise they return None and the caller's path runs. Both agree with it to
rounding (``tests/test_one_pass.py``).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from gaussmix import compiling, fused, precompile
from gaussmix.compiled_em import (
    SAME_BITS_FEATURES,
    closed_form_code,
    model_code,
    state_parameters,
)
from gaussmix.covariance.base import CovarianceModel
from gaussmix.covariance.forms import compact_shape
from gaussmix.exceptions import CollapsedComponentError
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = ["first_m_step", "map_log_sum"]

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
    statistics: SufficientStatistics, model: CovarianceModel, reg_covar: float
) -> MixtureParameters | None:
    """The ML M-step of a start from its statistics in one compiled call, or None where the
    Python M-step runs.

    Parameters
    ----------
    statistics : SufficientStatistics
        The start's (:func:`gaussmix.initialization.parameters_from_responsibilities`).
    model : CovarianceModel
        A model with a compiled M-step (:func:`gaussmix.compiled_em.model_code`), run cold
        (no previous covariances), as :func:`gaussmix.mstep.maximize` runs it.
    reg_covar : float

    Returns
    -------
    MixtureParameters or None
        None unless numba's kernels are ready and the model's M-step is compiled (above
        D = 4: a closed form), or where the compiled M-step fails (a covariance that does
        not factorise: the Python M-step raises its error then).
    """
    n_components, n_features = statistics.weighted_sum.shape
    code = model_code(model, n_components, n_features)
    # Above D = 4 the iterative models' compiled covariances and Cholesky factors differ
    # from NumPy's in the last bits, which decide whether a start with components of a few
    # rows collapses: their Python M-step runs. The closed forms' covariances are NumPy's
    # bits, and state_parameters factorises them in NumPy where the compiled factors differ.
    if code is None or (n_features > SAME_BITS_FEATURES and not closed_form_code(code)):
        return None
    if not (fused.available() and precompile.ready()):
        return None
    kernels = _kernels()
    form = model.form
    weights = np.empty(n_components)
    means = np.empty((n_components, n_features))
    covariances = np.empty((n_components, n_features, n_features))
    factors = np.empty(math.prod(compact_shape(form, n_components, n_features)))
    outcome = compiling.call(
        kernels.first_m_step,
        _LAYOUTS[form],
        _SCATTER_KINDS[model.scatter],
        code,
        float(reg_covar),
        np.ascontiguousarray(statistics.n_k, dtype=np.float64),
        np.ascontiguousarray(statistics.shift, dtype=np.float64),
        np.ascontiguousarray(statistics.weighted_sum, dtype=np.float64),
        np.ascontiguousarray(statistics.scatter, dtype=np.float64).reshape(-1),
        weights,
        means,
        covariances,
        factors,
    )
    if outcome != kernels.OK:
        return None
    try:
        return state_parameters(weights, means, covariances, factors, form)
    except CollapsedComponentError:
        # NumPy's factorisation (D > 4) refused a covariance: the Python M-step raises
        # its own error, which names the component and its n_k.
        return None
