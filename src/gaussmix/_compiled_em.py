"""The whole EM loop of small float64 data in compiled code (imports numba; import it lazily).

:mod:`gaussmix.compiled_em` calls :func:`run_loop`. One call runs EM iterations on dense
parameters — weights (K,), means (K, D), covariances (K, D, D) — with the precision factors
in the compact layout the E-step reads. The E-step is :func:`gaussmix._compiled.whole_statistics`,
the very function the small-data executor calls, so an iteration here sees the statistics the
Python loop sees. The M-step repeats :func:`gaussmix.mstep.maximize` and the closed-form
models of :mod:`gaussmix.covariance` operation for operation (NumPy's pairwise summation
included, :func:`numpy_sum`), so the two loops agree to rounding.

Anything the Python loop treats specially — an emptied component (the collapse policy's
threshold), a covariance that fails to factorise or a scale that is not positive, a
non-finite precision or log-likelihood (far rows) — stops the call *before* that
iteration's M-step is kept: the state then holds the parameters of its E-step, and the
Python loop runs that iteration itself (re-seeding, warning or raising as it always does).

Module-level functions, so that numba caches their machine code on disk. No fastmath
here: the M-step must round as NumPy does.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from gaussmix._compiled import FULL, PLAIN, SPHERICAL, whole_statistics
from gaussmix._compiled_msteps import eve_mstep, vee_mstep, vei_mstep, vev_mstep, vve_mstep

__all__ = [
    "CONVERGED",
    "EEE",
    "EEI",
    "EEV",
    "EII",
    "EVE",
    "EVI",
    "EVV",
    "FAILED",
    "NOT_COMPILED",
    "RUNNING",
    "TAKEOVER",
    "VEE",
    "VEI",
    "VEV",
    "VII",
    "VVE",
    "VVI",
    "VVV",
    "first_m_step",
    "map_log_sum",
    "maximize_covariances",
    "numpy_sum",
    "precision_factors",
    "run_loop",
]

_jit = numba.njit(cache=True, nogil=True)

# Model codes: the closed-form models, then the iterative ones (whose compiled M-steps
# live in gaussmix._compiled_msteps; until maximize_covariances calls them they are
# NOT_COMPILED, and gaussmix.compiled_em keeps them out of the compiled loop).
EII, VII, EEI, VVI, EVI, EEE, EEV, EVV, VVV = 0, 1, 2, 3, 4, 5, 6, 7, 8
VEI, VEE, VEV, EVE, VVE = 9, 10, 11, 12, 13

# Outcomes of the M-step functions.
OK, FAILED, NOT_COMPILED = 0, 1, 2

# Outcomes of a call of run_loop (info[1]): the iteration budget of the call is used up,
# the convergence rule was met, or the Python loop must run the next iteration.
RUNNING, CONVERGED, TAKEOVER = 0, 1, 2

# mstep._N_K_FLOOR, the same float64 value.
N_K_FLOOR = 10.0 * float(np.finfo(np.float64).eps)

# Scatter kinds, as gaussmix._compiled.whole_statistics numbers them.
_TRACE, _DIAGONAL, _FULL_SCATTER = 0, 1, 2


@_jit
def _pairwise(values: Any, start: int, count: int) -> float:
    """NumPy's pairwise sum of ``values[start:start + count]`` for ``count`` ≤ 128.

    ``pairwise_sum_DOUBLE`` below its block size of 128: a plain loop under 8 terms,
    otherwise 8 interleaved partial sums added as a tree, then the remainder. (Above 128
    NumPy recurses on halves; :mod:`gaussmix.compiled_em` keeps such sizes in Python.)
    """
    if count < 8:
        total = 0.0
        for i in range(start, start + count):
            total += values[i]
        return total
    r = np.empty(8)
    for j in range(8):
        r[j] = values[start + j]
    i = 8
    while i < count - count % 8:
        for j in range(8):
            r[j] += values[start + i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < count:
        total += values[start + i]
        i += 1
    return total


@_jit
def numpy_sum(values: Any) -> float:
    """``np.sum`` of a contiguous 1-D float64 array of ≤ 128 values, rounded as NumPy does."""
    return _pairwise(values, 0, values.shape[0])


@_jit
def _eii(n_k: Any, traces: Any, reg_covar: float, out: Any) -> int:
    """EII (constrained.EII): λ = Σ_k (tr W_k + reg·n_k·D) / (N·D)."""
    n_components, n_features = out.shape[0], out.shape[1]
    regularised = np.empty(n_components)
    for k in range(n_components):
        regularised[k] = traces[k] + reg_covar * n_k[k] * n_features
    variance = numpy_sum(regularised) / (numpy_sum(n_k) * n_features)
    for k in range(n_components):
        for d in range(n_features):
            out[k, d, d] = variance
    return OK


@_jit
def _vii(n_k: Any, traces: Any, reg_covar: float, out: Any) -> int:
    """VII (closed_form.Spherical): σ²_k = tr W_k / (D·n_k) + reg."""
    n_components, n_features = out.shape[0], out.shape[1]
    for k in range(n_components):
        variance = traces[k] / (n_features * n_k[k]) + reg_covar
        for d in range(n_features):
            out[k, d, d] = variance
    return OK


@_jit
def _eei(n_k: Any, diagonals: Any, reg_covar: float, out: Any) -> int:
    """EEI (constrained.EEI): Σ = diag(Σ_k W_k + reg·n_k) / N."""
    n_components, n_features = diagonals.shape
    total = numpy_sum(n_k)
    for d in range(n_features):
        accumulated = 0.0
        for k in range(n_components):
            accumulated += diagonals[k, d] + reg_covar * n_k[k]
        variance = accumulated / total
        for k in range(n_components):
            out[k, d, d] = variance
    return OK


@_jit
def _vvi(n_k: Any, diagonals: Any, reg_covar: float, out: Any) -> int:
    """VVI (closed_form.Diagonal): σ²_kd = (W_k)_dd / n_k + reg."""
    n_components, n_features = diagonals.shape
    for k in range(n_components):
        for d in range(n_features):
            out[k, d, d] = diagonals[k, d] / n_k[k] + reg_covar
    return OK


@_jit
def _evi(n_k: Any, diagonals: Any, reg_covar: float, out: Any) -> int:
    """EVI (constrained.EVI): A_k = B_k / |B_k|^{1/D}, λ = Σ_k |B_k|^{1/D} / N."""
    n_components, n_features = diagonals.shape
    regularised = np.empty((n_components, n_features))
    logs = np.empty(n_features)
    scale = np.empty(n_components)
    for k in range(n_components):
        for d in range(n_features):
            regularised[k, d] = diagonals[k, d] + reg_covar * n_k[k]
            logs[d] = np.log(regularised[k, d])
        scale[k] = np.exp(numpy_sum(logs) / n_features)
        # check_scales: a zero (or NaN) determinant is a collapse.
        if not scale[k] > 0.0:
            return FAILED
    volume = numpy_sum(scale) / numpy_sum(n_k)
    for k in range(n_components):
        for d in range(n_features):
            out[k, d, d] = volume * regularised[k, d] / scale[k]
    return OK


@_jit
def _eee(n_k: Any, scatter: Any, reg_covar: float, out: Any) -> int:
    """EEE (closed_form.Tied): Σ = Σ_k W_k / Σ_k n_k, symmetrised, + reg·I."""
    n_components, n_features = scatter.shape[0], scatter.shape[1]
    total = numpy_sum(n_k)
    pooled = np.zeros((n_features, n_features))
    for k in range(n_components):
        for i in range(n_features):
            for j in range(n_features):
                pooled[i, j] += scatter[k, i, j]
    for i in range(n_features):
        for j in range(n_features):
            value = 0.5 * (pooled[i, j] / total + pooled[j, i] / total)
            if i == j:
                value += reg_covar
            for k in range(n_components):
                out[k, i, j] = value
    return OK


@_jit
def _vvv(n_k: Any, scatter: Any, reg_covar: float, out: Any) -> int:
    """VVV (closed_form.Full): Σ_k = W_k / n_k, symmetrised, + reg·I."""
    n_components, n_features = scatter.shape[0], scatter.shape[1]
    for k in range(n_components):
        for i in range(n_features):
            for j in range(n_features):
                value = 0.5 * (scatter[k, i, j] / n_k[k] + scatter[k, j, i] / n_k[k])
                if i == j:
                    value += reg_covar
                out[k, i, j] = value
    return OK


@_jit
def _regularised_matrix(scatter: Any, k: int, shift: float, matrix: Any) -> bool:
    """``matrix = W_k + shift·I`` symmetrised; False when an entry is not finite."""
    n_features = matrix.shape[0]
    for i in range(n_features):
        for j in range(n_features):
            a = scatter[k, i, j] + (shift if i == j else 0.0)
            b = scatter[k, j, i] + (shift if i == j else 0.0)
            if not (math.isfinite(a) and math.isfinite(b)):
                return False
            matrix[i, j] = 0.5 * (a + b)
    return True


@_jit
def _eev(n_k: Any, scatter: Any, reg_covar: float, out: Any) -> int:
    """EEV (constrained.EEV): orientations of W_k, eigenvalues Σ_k Ω_k / N, largest first."""
    n_components, n_features = scatter.shape[0], scatter.shape[1]
    orientations = np.empty((n_components, n_features, n_features))
    summed = np.zeros(n_features)
    matrix = np.empty((n_features, n_features))
    for k in range(n_components):
        # LAPACK refuses non-finite matrices; the Python path then decides what happens.
        if not _regularised_matrix(scatter, k, reg_covar * n_k[k], matrix):
            return FAILED
        eigenvalues, eigenvectors = np.linalg.eigh(matrix)
        for j in range(n_features):
            # Largest first, as covariance.decomposition.eigh_descending orders them.
            summed[j] += eigenvalues[n_features - 1 - j]
            for i in range(n_features):
                orientations[k, i, j] = eigenvectors[i, n_features - 1 - j]
    total = numpy_sum(n_k)
    for j in range(n_features):
        summed[j] = summed[j] / total
    for k in range(n_components):
        for i in range(n_features):
            for m in range(n_features):
                accumulated = 0.0
                for j in range(n_features):
                    accumulated += orientations[k, i, j] * summed[j] * orientations[k, m, j]
                out[k, i, m] = accumulated
    return OK


@_jit
def _evv(n_k: Any, scatter: Any, reg_covar: float, out: Any) -> int:
    """EVV (constrained.EVV): C_k = W_k / |W_k|^{1/D}, λ = Σ_k |W_k|^{1/D} / N."""
    n_components, n_features = scatter.shape[0], scatter.shape[1]
    matrices = np.empty((n_components, n_features, n_features))
    scale = np.empty(n_components)
    for k in range(n_components):
        # LAPACK refuses non-finite matrices; the Python path then decides what happens.
        if not _regularised_matrix(scatter, k, reg_covar * n_k[k], matrices[k]):
            return FAILED
        # slogdet (LU) as the Python path takes it, sign ignored: a matrix that is not
        # positive definite fails in the precision step.
        log_det = np.linalg.slogdet(matrices[k])[1]
        scale[k] = np.exp(log_det / n_features)
        if not scale[k] > 0.0:
            return FAILED
    volume = numpy_sum(scale) / numpy_sum(n_k)
    for k in range(n_components):
        for i in range(n_features):
            for j in range(n_features):
                out[k, i, j] = volume * matrices[k, i, j] / scale[k]
    return OK


@_jit
def maximize_covariances(
    model: int,
    n_k: Any,
    traces: Any,
    diagonals: Any,
    scatter: Any,
    reg_covar: float,
    previous: Any,
    out: Any,
) -> int:
    """Dense covariances ``out`` (K, D, D) of model ``model`` from the centred scatter.

    ``n_k`` carries the M-step's floor; the centred scatter is in the array of the model's
    scatter kind (``traces`` (K,), ``diagonals`` (K, D) or ``scatter`` (K, D, D)); ``out``
    is zero on entry. ``previous`` holds the dense covariances of the E-step (the warm start
    of the iterative models). Returns OK, FAILED (the Python path re-seeds or raises) or
    NOT_COMPILED.
    """
    if model == EII:
        return _eii(n_k, traces, reg_covar, out)
    if model == VII:
        return _vii(n_k, traces, reg_covar, out)
    if model == EEI:
        return _eei(n_k, diagonals, reg_covar, out)
    if model == VVI:
        return _vvi(n_k, diagonals, reg_covar, out)
    if model == EVI:
        return _evi(n_k, diagonals, reg_covar, out)
    if model == EEE:
        return _eee(n_k, scatter, reg_covar, out)
    if model == EEV:
        return _eev(n_k, scatter, reg_covar, out)
    if model == EVV:
        return _evv(n_k, scatter, reg_covar, out)
    if model == VVV:
        return _vvv(n_k, scatter, reg_covar, out)
    # The iterative models: gaussmix._compiled_msteps, the Python models' iterations step
    # for step, warm-started from the E-step's covariances (VEI gets `scatter` with its
    # diagonals filled in by run_loop). A nonzero status is a failure: the Python loop
    # redoes the iteration. `warm` is a variable, not a literal: numba would compile one
    # version of each M-step per constant.
    warm = previous.shape[0] == out.shape[0]
    if model == VEI:
        return OK if vei_mstep(n_k, scatter, reg_covar, previous, warm, out) == 0 else FAILED
    if model == VEE:
        return OK if vee_mstep(n_k, scatter, reg_covar, previous, warm, out) == 0 else FAILED
    if model == VEV:
        return OK if vev_mstep(n_k, scatter, reg_covar, previous, warm, out) == 0 else FAILED
    if model == EVE:
        return OK if eve_mstep(n_k, scatter, reg_covar, previous, warm, out) == 0 else FAILED
    if model == VVE:
        return OK if vve_mstep(n_k, scatter, reg_covar, previous, warm, out) == 0 else FAILED
    return NOT_COMPILED


# A pivot of the compiled Cholesky factorisation must exceed this fraction of its diagonal
# entry (and that entry must be a normal number far from underflow): below, whether
# LAPACK's factorisation (the Python path's) succeeds depends on its rounding, so the
# Python loop decides. Rounding moves a pivot by about D·ε of the diagonal entry.
PIVOT_MARGIN = 1e-10
SMALLEST_DIAGONAL = 1e-280


@_jit
def _cholesky(matrix: Any, lower: Any) -> bool:
    """Lower Cholesky factor of a symmetric matrix; False unless clearly positive definite."""
    n_features = matrix.shape[0]
    for j in range(n_features):
        diagonal = matrix[j, j]
        # As LAPACK's potf2: the dot product first, then one subtraction.
        dot = 0.0
        for m in range(j):
            dot += lower[j, m] * lower[j, m]
        pivot = diagonal - dot
        if not (diagonal > SMALLEST_DIAGONAL and pivot > PIVOT_MARGIN * diagonal):
            return False
        root = math.sqrt(pivot)
        lower[j, j] = root
        # LAPACK's potf2 scales the column by the reciprocal of the pivot's root.
        reciprocal = 1.0 / root
        for i in range(j + 1, n_features):
            product = 0.0
            for m in range(j):
                product += lower[i, m] * lower[j, m]
            lower[i, j] = (matrix[i, j] - product) * reciprocal
        for i in range(j):
            lower[i, j] = 0.0
    return True


@_jit
def _upper_precision(
    covariance: Any, symmetric: Any, lower: Any, identity: Any, factors: Any, base: int
) -> bool:
    """U = L⁻ᵀ (Σ⁻¹ = U Uᵀ) into ``factors[base:]`` as a (D, D) row-major block.

    The steps of ``forms._cholesky_upper_precision``: symmetrise, factorise, then L⁻¹ by
    LAPACK's general solve against the identity, as NumPy calls it. Up to D = 4 this gives
    NumPy's bits (its Cholesky's operation order is repeated in :func:`_cholesky`), so
    the two loops stay together even where the fit is ill-conditioned.
    """
    n_features = covariance.shape[0]
    for i in range(n_features):
        for j in range(n_features):
            symmetric[i, j] = 0.5 * (covariance[i, j] + covariance[j, i])
    if not _cholesky(symmetric, lower):
        return False
    inverse = np.linalg.solve(lower, identity)
    for i in range(n_features):
        for j in range(n_features):
            factors[base + i * n_features + j] = inverse[j, i] if j >= i else 0.0
    return True


@_jit
def precision_factors(layout: int, covariances: Any, factors: Any) -> bool:
    """The flat precision factors of the layout from dense covariances (K, D, D).

    As :func:`gaussmix.covariance.forms.precision_cholesky_from_covariances`: 1/σ for the
    spherical (read off the first diagonal entry) and diagonal layouts, whose variances
    must be positive (NaN is not); U = L⁻ᵀ for the tied (the first matrix) and full
    layouts, whose entries must be finite and whose Cholesky factorisation must succeed.
    False when any of that fails.
    """
    n_components, n_features = covariances.shape[0], covariances.shape[1]
    if layout == SPHERICAL or layout == PLAIN:
        for k in range(n_components):
            for d in range(n_features if layout == PLAIN else 1):
                variance = covariances[k, d, d]
                if not variance > 0.0:
                    return False
                factors[k * n_features + d if layout == PLAIN else k] = 1.0 / math.sqrt(variance)
        return True
    used = n_components if layout == FULL else 1
    for k in range(used):
        for i in range(n_features):
            for j in range(n_features):
                if not math.isfinite(covariances[k, i, j]):
                    return False
    symmetric = np.empty((n_features, n_features))
    lower = np.empty((n_features, n_features))
    identity = np.eye(n_features)
    square = n_features * n_features
    for k in range(used):
        if not _upper_precision(covariances[k], symmetric, lower, identity, factors, k * square):
            return False
    return True


@_jit
def _centred_scatter(
    scatter_kind: int,
    n_k: Any,
    weighted_sum: Any,
    raw: Any,
    traces: Any,
    diagonals: Any,
    scatter: Any,
) -> None:
    """W_k = S_k − n_k d_k d_kᵀ, d_k = Σ w γ (x − c_k) / n_k, as mstep.centred_scatter."""
    n_components, n_features = weighted_sum.shape
    offset = np.empty(n_features)
    for k in range(n_components):
        for d in range(n_features):
            offset[d] = weighted_sum[k, d] / n_k[k]
        if scatter_kind == _TRACE:
            for d in range(n_features):
                diagonals[k, d] = offset[d] ** 2
            traces[k] = raw[k] - n_k[k] * numpy_sum(diagonals[k])
        elif scatter_kind == _DIAGONAL:
            for d in range(n_features):
                diagonals[k, d] = raw[k * n_features + d] - n_k[k] * offset[d] ** 2
        else:
            base = k * n_features * n_features
            for i in range(n_features):
                for j in range(n_features):
                    scatter[k, i, j] = (
                        raw[base + i * n_features + j] - n_k[k] * offset[i] * offset[j]
                    )


@_jit
def _converged(
    change: float, current: float, tol: float, relative: bool, total_weight: float
) -> bool:
    """em.has_converged, the same float64 arithmetic."""
    if not math.isfinite(change):
        return False
    if not relative:
        return abs(change) < tol
    total = total_weight * current
    return abs(total_weight * change) / (1.0 + abs(total)) < tol


@_jit
def _maximize_state(
    layout: int,
    scatter_kind: int,
    model: int,
    reg_covar: float,
    n_k: Any,
    shift: Any,
    weighted_sum: Any,
    raw: Any,
    previous: Any,
    work: tuple,
    weights: Any,
    means: Any,
    covariances: Any,
    factors: Any,
) -> int:
    """The M-step of :func:`gaussmix.mstep.maximize` from statistics about ``shift``.

    ``raw`` is the flat scatter of the kind about ``shift``, ``previous`` the dense
    covariances that warm-start the iterative models (none: a (0, D, D) array), ``work``
    the scratch (floored n_k, traces, diagonals, dense scatter). Writes the new weights,
    means, dense covariances and flat factors; returns OK or why not.
    """
    floored, traces, diagonals, scatter = work
    n_components, n_features = shift.shape
    for k in range(n_components):
        floored[k] = n_k[k] + N_K_FLOOR
    total = numpy_sum(floored)
    for k in range(n_components):
        weights[k] = floored[k] / total
        for d in range(n_features):
            means[k, d] = shift[k, d] + weighted_sum[k, d] / floored[k]
    _centred_scatter(scatter_kind, floored, weighted_sum, raw, traces, diagonals, scatter)
    if scatter_kind == _DIAGONAL and model >= VEI:
        # The iterative M-steps take the scatter as dense matrices.
        for k in range(n_components):
            for d in range(n_features):
                scatter[k, d, d] = diagonals[k, d]
    covariances[:] = 0.0
    outcome = maximize_covariances(
        model, floored, traces, diagonals, scatter, reg_covar, previous, covariances
    )
    if outcome == OK and not precision_factors(layout, covariances, factors):
        outcome = FAILED
    return outcome


@_jit
def first_m_step(
    layout: int,
    scatter_kind: int,
    model: int,
    reg_covar: float,
    n_k: Any,
    shift: Any,
    weighted_sum: Any,
    raw: Any,
    weights: Any,
    means: Any,
    covariances: Any,
    factors: Any,
) -> int:
    """A start's M-step from its statistics, cold (no previous covariances): the arrays of
    :func:`_maximize_state` (``raw`` flat). Returns OK or why not."""
    n_components, n_features = shift.shape
    work = (
        np.empty(n_components),
        np.empty(n_components),
        np.empty((n_components, n_features)),
        np.zeros((n_components, n_features, n_features)),
    )
    return _maximize_state(
        layout,
        scatter_kind,
        model,
        reg_covar,
        n_k,
        shift,
        weighted_sum,
        raw,
        np.empty((0, n_features, n_features)),
        work,
        weights,
        means,
        covariances,
        factors,
    )


@_jit
def run_loop(
    X: Any,
    sample_weight: Any,
    weighted: bool,
    layout: int,
    scatter_kind: int,
    model: int,
    chunk_size: int,
    floor: float,
    reg_covar: float,
    tol: float,
    relative: bool,
    offset: float,
    empty_threshold: float,
    previous_bound: float,
    target: int,
    weights: Any,
    means: Any,
    covariances: Any,
    factors: Any,
    scratch: Any,
    product: Any,
    lower_bounds: Any,
    info: Any,
) -> None:
    """EM iterations from the state ``weights``, ``means``, ``covariances`` (dense) and
    ``factors`` (flat, in ``layout``), updated in place, until ``info[0]`` reaches ``target``.

    ``info`` (int64) holds ``[iterations done, outcome (RUNNING, CONVERGED or TAKEOVER),
    M-step code of a failure]`` and ``lower_bounds[i]`` the mean log-likelihood of
    iteration i; both are updated after every iteration, so the caller may call again to
    go on and finds state, count and history consistent however it is interrupted
    between calls. ``previous_bound`` is the mean log-likelihood the first change is
    measured from (−inf after a re-seed); ``offset`` is the log-likelihood offset of
    rescaled data; ``relative`` selects mclust's rule; ``empty_threshold`` is the collapse
    policy's emptiness threshold (−inf without a policy).
    """
    n_components, n_features = means.shape
    n_k = np.empty(n_components)
    floored = np.empty(n_components)
    weighted_sum = np.empty((n_components, n_features))
    raw = np.empty(n_components * n_features * n_features)
    traces = np.empty(n_components)
    diagonals = np.empty((n_components, n_features))
    scatter = np.zeros((n_components, n_features, n_features))
    new_weights = np.empty(n_components)
    new_means = np.empty((n_components, n_features))
    new_covariances = np.empty((n_components, n_features, n_features))
    new_factors = np.empty(factors.shape[0])
    done = info[0]
    previous = lower_bounds[done - 1] if done > 0 else previous_bound
    while done < target:
        first_bad, log_likelihood, total_weight = whole_statistics(
            X,
            sample_weight,
            weighted,
            layout,
            scatter_kind,
            chunk_size,
            weights,
            means,
            factors,
            floor,
            scratch,
            product,
            n_k,
            weighted_sum,
            raw,
        )
        # A precision that is not finite, or far rows: the Python E-step raises.
        if first_bad >= 0 or not math.isfinite(log_likelihood):
            info[1] = TAKEOVER
            return
        lower_bound = log_likelihood / total_weight
        emptied = False
        for k in range(n_components):
            # The collapse policy re-seeds emptied components.
            emptied = emptied or n_k[k] < empty_threshold
        if emptied:
            info[1] = TAKEOVER
            return
        outcome = _maximize_state(
            layout,
            scatter_kind,
            model,
            reg_covar,
            n_k,
            means,
            weighted_sum,
            raw,
            covariances,
            (floored, traces, diagonals, scatter),
            new_weights,
            new_means,
            new_covariances,
            new_factors,
        )
        if outcome != OK:
            info[1] = TAKEOVER
            info[2] = outcome
            return
        weights[:] = new_weights
        means[:] = new_means
        covariances[:] = new_covariances
        factors[:] = new_factors
        lower_bounds[done] = lower_bound
        done += 1
        info[0] = done
        converged = _converged(
            lower_bound - previous, lower_bound + offset, tol, relative, total_weight
        )
        previous = lower_bound
        if converged:
            info[1] = CONVERGED
            return


@_jit
def map_log_sum(
    X: Any,
    sample_weight: Any,
    weighted: bool,
    layout: int,
    weights: Any,
    means: Any,
    factors: Any,
) -> float:
    """Σ_i w_i log max_k γ_ik of a mixture: the (negated) entropy term of ICL.

    log max_k γ_ik = max_k ℓ_ik − log Σ_k exp ℓ_ik with ℓ_ik = log π_k + log N(x_i | μ_k, Σ_k)
    from the precision factors (``layout``: FULL and TIED (D, D) upper U per component or
    shared, PLAIN (K, D) and SPHERICAL (K,) scales, all flat). NaN when a row's value is
    not finite (far rows: the caller's executor decides then).
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    square = n_features * n_features
    log_norm = np.empty(n_components)
    constant = -0.5 * n_features * math.log(2.0 * math.pi)
    for k in range(n_components):
        log_det = 0.0
        if layout == SPHERICAL:
            log_det = n_features * math.log(factors[k])
        elif layout == PLAIN:
            for d in range(n_features):
                log_det += math.log(factors[k * n_features + d])
        else:
            base = k * square if layout == FULL else 0
            for d in range(n_features):
                log_det += math.log(factors[base + d * n_features + d])
        weight = weights[k]
        log_norm[k] = (math.log(weight) if weight > 0.0 else -math.inf) + constant + log_det
    difference = np.empty(n_features)
    log_prob = np.empty(n_components)
    total = 0.0
    for i in range(n_samples):
        for k in range(n_components):
            for d in range(n_features):
                difference[d] = X[i, d] - means[k, d]
            quadratic = 0.0
            if layout == SPHERICAL:
                for d in range(n_features):
                    quadratic += (difference[d] * factors[k]) ** 2
            elif layout == PLAIN:
                for d in range(n_features):
                    quadratic += (difference[d] * factors[k * n_features + d]) ** 2
            else:
                base = k * square if layout == FULL else 0
                for j in range(n_features):
                    projected = 0.0
                    for a in range(j + 1):
                        projected += difference[a] * factors[base + a * n_features + j]
                    quadratic += projected * projected
            log_prob[k] = log_norm[k] - 0.5 * quadratic
        largest = log_prob[0]
        for k in range(1, n_components):
            largest = max(largest, log_prob[k])
        if not math.isfinite(largest):
            return math.nan
        spread = 0.0
        for k in range(n_components):
            spread += math.exp(log_prob[k] - largest)
        value = -math.log(spread)
        total += (sample_weight[i] if weighted else 1.0) * value
    return total if math.isfinite(total) else math.nan
