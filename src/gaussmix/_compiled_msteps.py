"""Compiled M-steps of the five iterative covariance models (imports numba; import it lazily).

``vei_mstep``, ``vee_mstep``, ``vev_mstep``, ``eve_mstep`` and ``vve_mstep`` repeat
:mod:`gaussmix.covariance.iterative` step for step: the same regularised scatter, the same
cold and warm starts and feasibility tests of the previous covariances, the same safeguarded
Newton iteration (:func:`gaussmix.covariance.newton.minimise`: line search, rounding level,
stopping rule) on the same variables (log-volumes, or rotation angles of the shared
orientation), the same fallback steps (Celeux & Govaert's fixed point, plane-rotation
sweeps) and the same monotone guard (:func:`gaussmix.covariance.warm_start.no_worse`).
Only the arithmetic order differs (loops instead of LAPACK and batched NumPy), so the
results agree with the Python models to rounding (``tests/test_compiled_msteps.py``).

Every function has the signature ``(n_k, W, reg_covar, previous, has_previous, out) -> int``:
``n_k`` (K,) as :func:`gaussmix.mstep.maximize` hands it to the model, ``W`` (K, D, D) the
centred scatter (VEI reads its diagonal), ``previous`` (K, D, D) the dense previous
covariances (read only when ``has_previous``), ``out`` (K, D, D) receives the dense
covariances. The status is :data:`OK`, :data:`COLLAPSED` where the Python model raises
:class:`~gaussmix.exceptions.CollapsedComponentError`, or :data:`HAND_OVER` where the
compiled path does not follow the Python one (non-finite input, an overflow); on a nonzero
status ``out`` is undefined and the caller runs the Python model, which decides.

Module-level functions, so that numba caches their machine code on disk (``cache=True``).
No ``fastmath``: the iteration compares objective values at their rounding level, and NaN
must propagate as in NumPy.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gaussmix.covariance import iterative, newton, volumes
from gaussmix.covariance.warm_start import FEASIBLE_RTOL

__all__ = [
    "COLLAPSED",
    "HAND_OVER",
    "OK",
    "eve_mstep",
    "iterative_mstep",
    "vee_mstep",
    "vei_mstep",
    "vev_mstep",
    "vve_mstep",
]

OK = 0
COLLAPSED = 1
HAND_OVER = 2

# The Python models' constants, read from them so that both paths stop at the same point.
_TOL = iterative.VEE().tol
_MAX_ITER = iterative.VEE().max_iter
_ARMIJO = newton._ARMIJO
_MAX_LOG_STEP = volumes._MAX_LOG_STEP
_SINGULAR_EPS = iterative._SINGULAR_EPS
_FEASIBLE_RTOL = FEASIBLE_RTOL
_EPS = float(np.finfo(np.float64).eps)
_INF = math.inf
_QUARTER_TURN = math.pi / 4.0
# The cold start of the previous orientation: weights 1 + k·(√5 − 1)/2.
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

# The inner problems of :func:`_minimise`.
_VOLUMES_DIAGONAL = 0  # VEI, VEV: log-volumes with diagonal B_k
_VOLUMES_FULL = 1  # VEE: log-volumes with the matrices W_k
_ORIENTATION_EVE = 2  # rotation angles of the shared orientation
_ORIENTATION_VVE = 3

_jit = numba.njit(cache=True, nogil=True)
# The helpers are called from compiled code only: no CPython wrapper to generate (the
# wrapper of a function taking the workspace tuple unboxes 26 arrays).
_helper = numba.njit(cache=True, nogil=True, no_cpython_wrapper=True)


# --------------------------------------------------------------------------- linear algebra


@_helper
def _cholesky(matrix, factor):  # pragma: no cover - compiled
    """Lower Cholesky factor of a symmetric matrix (its lower triangle read); False if the
    matrix is not positive definite or a pivot is not finite (LAPACK potrf's failure)."""
    n = matrix.shape[0]
    for j in range(n):
        pivot = matrix[j, j]
        for m in range(j):
            pivot -= factor[j, m] * factor[j, m]
        if not (pivot > 0.0 and pivot < _INF):
            return False
        root = math.sqrt(pivot)
        factor[j, j] = root
        for i in range(j + 1, n):
            value = matrix[i, j]
            for m in range(j):
                value -= factor[i, m] * factor[j, m]
            factor[i, j] = value / root
        for i in range(j):
            factor[i, j] = 0.0
    return True


@_helper
def _cholesky_inverse(factor, inverse, scratch):  # pragma: no cover - compiled
    """A⁻¹ from the lower Cholesky factor L of A (scratch receives L⁻¹)."""
    n = factor.shape[0]
    for j in range(n):
        for i in range(n):
            scratch[i, j] = 0.0
        scratch[j, j] = 1.0 / factor[j, j]
        for i in range(j + 1, n):
            value = 0.0
            for m in range(j, i):
                value -= factor[i, m] * scratch[m, j]
            scratch[i, j] = value / factor[i, i]
    for i in range(n):
        for j in range(i + 1):
            value = 0.0
            for m in range(i, n):
                value += scratch[m, i] * scratch[m, j]
            inverse[i, j] = value
            inverse[j, i] = value


@_helper
def _lu(matrix, lu, pivots):  # pragma: no cover - compiled
    """LU factorisation with partial pivoting (LAPACK getrf's); returns (sign, log|det|)
    as numpy.linalg.slogdet does: (0, -inf) for a singular matrix."""
    n = matrix.shape[0]
    for i in range(n):
        for j in range(n):
            lu[i, j] = matrix[i, j]
    sign = 1.0
    log_det = 0.0
    for j in range(n):
        best = j
        for i in range(j + 1, n):
            if abs(lu[i, j]) > abs(lu[best, j]):
                best = i
        pivots[j] = best
        if best != j:
            sign = -sign
            for m in range(n):
                lu[j, m], lu[best, m] = lu[best, m], lu[j, m]
        pivot = lu[j, j]
        if pivot == 0.0:
            return 0.0, -_INF
        if pivot < 0.0:
            sign = -sign
        log_det += math.log(abs(pivot))
        for i in range(j + 1, n):
            lu[i, j] /= pivot
            multiplier = lu[i, j]
            for m in range(j + 1, n):
                lu[i, m] -= multiplier * lu[j, m]
    return sign, log_det


@_helper
def _lu_solve(lu, pivots, rhs):  # pragma: no cover - compiled
    """Overwrite the (n, m) right-hand side with A⁻¹ rhs from :func:`_lu`'s factors."""
    n, m = rhs.shape
    for j in range(n):
        p = pivots[j]
        if p != j:
            for c in range(m):
                rhs[j, c], rhs[p, c] = rhs[p, c], rhs[j, c]
    for c in range(m):
        for i in range(n):
            value = rhs[i, c]
            for t in range(i):
                value -= lu[i, t] * rhs[t, c]
            rhs[i, c] = value
        for i in range(n - 1, -1, -1):
            value = rhs[i, c]
            for t in range(i + 1, n):
                value -= lu[i, t] * rhs[t, c]
            rhs[i, c] = value / lu[i, i]


@_helper
def _newton_step(gradient, hessian, factor, step):  # pragma: no cover - compiled
    """step = −H⁻¹∇g when H is finite and positive definite (newton.newton_step); False if not."""
    n = gradient.shape[0]
    for i in range(n):
        for j in range(n):
            if not math.isfinite(hessian[i, j]):
                return False
    if not _cholesky(hessian, factor):
        return False
    for i in range(n):
        value = gradient[i]
        for m in range(i):
            value -= factor[i, m] * step[m]
        step[i] = value / factor[i, i]
    for i in range(n - 1, -1, -1):
        value = step[i]
        for m in range(i + 1, n):
            value -= factor[m, i] * step[m]
        step[i] = value / factor[i, i]
    for i in range(n):
        if not math.isfinite(step[i]):
            return False
        step[i] = -step[i]
    return True


@_helper
def _descending_eigh(matrix, eigenvalues, eigenvectors):  # pragma: no cover - compiled
    """decomposition.eigh_descending of one symmetric matrix; False if not finite."""
    n = matrix.shape[0]
    symmetric = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            symmetric[i, j] = 0.5 * (matrix[i, j] + matrix[j, i])
            if not math.isfinite(symmetric[i, j]):
                return False
    values, vectors = np.linalg.eigh(symmetric)
    for j in range(n):
        eigenvalues[j] = values[n - 1 - j]
        for i in range(n):
            eigenvectors[i, j] = vectors[i, n - 1 - j]
    return True


# --------------------------------------------------------------------------- the guard


@_helper
def _objective_full(n_k, matrices, covariances, factor, inverse, scratch):  # pragma: no cover
    """warm_start.covariance_objective of full covariances: +inf if one is not positive
    definite (Cholesky) or the value is not finite."""
    count, d = matrices.shape[0], matrices.shape[1]
    total = 0.0
    for k in range(count):
        if not _cholesky(covariances[k], factor):
            return _INF
        log_det = 0.0
        for i in range(d):
            log_det += math.log(factor[i, i])
        _cholesky_inverse(factor, inverse, scratch)
        trace = 0.0
        for i in range(d):
            for j in range(d):
                trace += inverse[i, j] * matrices[k, j, i]
        total += n_k[k] * (2.0 * log_det) + trace
    return total if math.isfinite(total) else _INF


@_helper
def _objective_diagonal(n_k, diagonals, variances):  # pragma: no cover - compiled
    """warm_start.covariance_objective of diagonal covariances."""
    count, d = diagonals.shape
    for k in range(count):
        for j in range(d):
            if not (variances[k, j] > 0.0 and variances[k, j] < _INF):
                return _INF
    first = 0.0
    second = 0.0
    for k in range(count):
        for j in range(d):
            first += n_k[k] * math.log(variances[k, j])
            second += diagonals[k, j] / variances[k, j]
    total = first + second
    return total if math.isfinite(total) else _INF


@_helper
def _matches(reconstructed, previous):  # pragma: no cover - compiled
    """warm_start.matches for (K, d, d) arrays."""
    count, d = previous.shape[0], previous.shape[1]
    for k in range(count):
        error = 0.0
        largest = 0.0
        for i in range(d):
            for j in range(d):
                error = max(error, abs(reconstructed[k, i, j] - previous[k, i, j]))
                largest = max(largest, abs(previous[k, i, j]))
        if not error <= _FEASIBLE_RTOL * largest:
            return False
    return True


# --------------------------------------------------------------------------- volumes


@_helper
def _pooled(problem, values, matrices, log_volumes, pooled_diagonal, pooled):  # pragma: no cover
    """S(u) = Σ_k e^{−u_k} B_k (volumes._pooled)."""
    count = log_volumes.shape[0]
    d = pooled_diagonal.shape[0]
    if problem == _VOLUMES_DIAGONAL:
        for j in range(d):
            pooled_diagonal[j] = 0.0
        for k in range(count):
            weight = math.exp(-log_volumes[k])
            for j in range(d):
                pooled_diagonal[j] += weight * values[k, j]
    else:
        for i in range(d):
            for j in range(d):
                pooled[i, j] = 0.0
        for k in range(count):
            weight = math.exp(-log_volumes[k])
            for i in range(d):
                for j in range(d):
                    pooled[i, j] += weight * matrices[k, i, j]


@_helper
def _shared_shape(problem, values, matrices, log_volumes, work):  # pragma: no cover - compiled
    """volumes.shared_shape into work's shape arrays; the status (COLLAPSED where the
    Python model raises) and the scale |S|^{1/d}."""
    shape_diagonal, shape, lu, pivots = work[0], work[1], work[2], work[3]
    d = shape_diagonal.shape[0]
    _pooled(problem, values, matrices, log_volumes, shape_diagonal, shape)
    if problem == _VOLUMES_DIAGONAL:
        log_det = 0.0
        for j in range(d):
            if not shape_diagonal[j] > 0.0:
                log_det = -_INF
                break
            log_det += math.log(shape_diagonal[j])
    else:
        for i in range(d):
            for j in range(d):
                if not math.isfinite(shape[i, j]):
                    return HAND_OVER, 0.0
        sign, log_det = _lu(shape, lu, pivots)
        if not sign > 0.0:
            log_det = -_INF
    scale = math.exp(log_det / d)
    if not scale > 0.0:
        return COLLAPSED, scale
    if not scale < _INF:
        return HAND_OVER, scale
    if problem == _VOLUMES_DIAGONAL:
        for j in range(d):
            shape_diagonal[j] /= scale
    else:
        for i in range(d):
            for j in range(d):
                shape[i, j] /= scale
    return OK, scale


@_helper
def _volume_traces(problem, values, matrices, traces, work):  # pragma: no cover - compiled
    """tr(B_k A⁻¹) for the shape in work (after :func:`_shared_shape`)."""
    shape_diagonal, shape, lu, pivots, solved = work[0], work[1], work[2], work[3], work[4]
    count = traces.shape[0]
    d = shape_diagonal.shape[0]
    if problem == _VOLUMES_DIAGONAL:
        for k in range(count):
            total = 0.0
            for j in range(d):
                total += values[k, j] / shape_diagonal[j]
            traces[k] = total
        return
    _lu(shape, lu, pivots)
    for k in range(count):
        for i in range(d):
            for j in range(d):
                solved[i, j] = matrices[k, i, j]
        _lu_solve(lu, pivots, solved)
        total = 0.0
        for i in range(d):
            total += solved[i, i]
        traces[k] = total


@_helper
def _volume_fixed_point(
    problem, values, matrices, n_k, log_volumes, stepped, work
):  # pragma: no cover
    """volumes._fixed_point_step: (status, largest change); no step (stepped = u, 0) when
    a new volume would not be positive."""
    count = log_volumes.shape[0]
    d = work[0].shape[0]
    traces = work[5]
    status, _ = _shared_shape(problem, values, matrices, log_volumes, work)
    if status != OK:
        return status, 0.0
    _volume_traces(problem, values, matrices, traces, work)
    positive = True
    for k in range(count):
        if not traces[k] > 0.0:
            positive = False
    if not positive:
        for k in range(count):
            stepped[k] = log_volumes[k]
        return OK, 0.0
    moved = 0.0
    for k in range(count):
        stepped[k] = math.log(traces[k] / (d * n_k[k]))
        moved = max(moved, abs(stepped[k] - log_volumes[k]))
    return OK, moved


@_helper
def _volume_evaluate(
    problem, values, matrices, n_k, log_volumes, gradient, hessian, work
):  # pragma: no cover
    """volumes.volume_objective at u: (F, rounding level); F = +inf where undefined."""
    pooled_diagonal, pooled, factor, inverse = work[0], work[1], work[6], work[7]
    scratch, shares, traces, weights = work[8], work[9], work[5], work[10]
    count = log_volumes.shape[0]
    d = pooled_diagonal.shape[0]
    total_n = 0.0
    for k in range(count):
        weights[k] = math.exp(-log_volumes[k])
        total_n += n_k[k]
    _pooled(problem, values, matrices, log_volumes, pooled_diagonal, pooled)
    if problem == _VOLUMES_DIAGONAL:
        log_det = 0.0
        for j in range(d):
            if not pooled_diagonal[j] > 0.0:
                return _INF, _INF
            log_det += math.log(pooled_diagonal[j])
        if not math.isfinite(log_det):
            return _INF, _INF
        for k in range(count):
            share_sum = 0.0
            for j in range(d):
                shares[k, j, 0] = values[k, j] * (weights[k] / pooled_diagonal[j])
                share_sum += shares[k, j, 0]
            traces[k] = share_sum
        for k in range(count):
            for m in range(k + 1):
                cross = 0.0
                for j in range(d):
                    cross += shares[k, j, 0] * shares[m, j, 0]
                hessian[k, m] = cross
                hessian[m, k] = cross
    else:
        for i in range(d):
            for j in range(d):
                if not math.isfinite(pooled[i, j]):
                    return _INF, _INF
        if not _cholesky(pooled, factor):
            return _INF, _INF
        log_det = 0.0
        for i in range(d):
            log_det += math.log(factor[i, i])
        log_det *= 2.0
        _cholesky_inverse(factor, inverse, scratch)
        # Q_k = e^{−u_k} S⁻¹ W_k.
        for k in range(count):
            for i in range(d):
                for j in range(d):
                    value = 0.0
                    for m in range(d):
                        value += inverse[i, m] * matrices[k, m, j]
                    if not math.isfinite(value):
                        return _INF, _INF
                    shares[k, i, j] = value * weights[k]
        for k in range(count):
            trace = 0.0
            for i in range(d):
                trace += shares[k, i, i]
            traces[k] = trace
        for k in range(count):
            for m in range(k + 1):
                cross = 0.0
                for i in range(d):
                    for j in range(d):
                        cross += shares[k, i, j] * shares[m, j, i]
                hessian[k, m] = cross
                hessian[m, k] = cross
    root = math.exp(log_det / d)
    if not root < _INF:
        return _INF, _INF
    linear = 0.0
    absolute = 0.0
    for k in range(count):
        linear += n_k[k] * log_volumes[k]
        absolute += n_k[k] * abs(log_volumes[k])
    for k in range(count):
        for m in range(count):
            entry = traces[k] * (traces[m] / d) - hessian[k, m]
            if k == m:
                entry += traces[k]
            hessian[k, m] = entry * root
    for k in range(count):
        gradient[k] = d * n_k[k] - root * traces[k]
    value = d * (linear + root)
    resolution = 64.0 * _EPS * d * (absolute + total_n + root)
    return value, resolution


# --------------------------------------------------------------------------- orientation


@_helper
def _rotate(matrices, axes, rotated, product):  # pragma: no cover - compiled
    """Ω_k = Dᵀ W_k D (orientation._rotate, unsymmetrised)."""
    count, d = matrices.shape[0], matrices.shape[1]
    for k in range(count):
        for i in range(d):
            for j in range(d):
                value = 0.0
                for m in range(d):
                    value += matrices[k, i, m] * axes[m, j]
                product[i, j] = value
        for i in range(d):
            for j in range(d):
                value = 0.0
                for m in range(d):
                    value += axes[m, i] * product[m, j]
                rotated[k, i, j] = value


@_helper
def _orientation_evaluate(
    problem, matrices, n_k, axes, gradient, hessian, work
):  # pragma: no cover
    """The profiled objective g(D) of EVE or VVE with its angle gradient and Hessian at
    S = 0 (orientation.diagonal_derivatives with eve_profile or vve_profile)."""
    rotated, product, first, second = work[11], work[12], work[13], work[14]
    log_gradient, pairs = work[15], work[16]
    count, d = matrices.shape[0], matrices.shape[1]
    n_pairs = pairs.shape[0]
    _rotate(matrices, axes, rotated, product)
    total_n = 0.0
    for k in range(count):
        total_n += n_k[k]
        for i in range(d):
            for j in range(i):
                value = 0.5 * (rotated[k, i, j] + rotated[k, j, i])
                rotated[k, i, j] = value
                rotated[k, j, i] = value
    largest_log = 0.0
    for k in range(count):
        for j in range(d):
            if not rotated[k, j, j] > 0.0:
                return _INF, _INF
            largest_log = max(largest_log, abs(math.log(rotated[k, j, j])))
    # first[k, p] = Σ_j ∂ log ω_kj/∂θ_p; second[k, p, q] = Σ_j ∂² log ω_kj/∂θ_p∂θ_q.
    # With G_p = E_ab − E_ba (p = (a, b), a < b), ∂ω_j/∂θ_p = 2 Ω_ab ([j = b] − [j = a]),
    # and Σ_j c_j ∂²ω_j/∂θ_p∂θ_q = T_pq + T_qp + 2 B_pq for c_j = 1/ω_j, where
    # T_pq = Σ_j c_j (Ω G_p G_q)_jj and B_pq = Σ_j c_j (G_pᵀ Ω G_q)_jj are written out below.
    for k in range(count):
        for p in range(n_pairs):
            a, b = pairs[p, 0], pairs[p, 1]
            slope = 2.0 * rotated[k, a, b]
            log_gradient[p, 0] = -slope / rotated[k, a, a]  # at j = a
            log_gradient[p, 1] = slope / rotated[k, b, b]  # at j = b
            first[k, p] = log_gradient[p, 0] + log_gradient[p, 1]
        for p in range(n_pairs):
            a, b = pairs[p, 0], pairs[p, 1]
            for q in range(p + 1):
                c, e = pairs[q, 0], pairs[q, 1]
                # T_pq and T_qp.
                term = 0.0
                if b == c:
                    term += rotated[k, e, a] / rotated[k, e, e]
                if b == e:
                    term -= rotated[k, c, a] / rotated[k, c, c]
                if a == c:
                    term -= rotated[k, e, b] / rotated[k, e, e]
                if a == e:
                    term += rotated[k, c, b] / rotated[k, c, c]
                if e == a:
                    term += rotated[k, b, c] / rotated[k, b, b]
                if e == b:
                    term -= rotated[k, a, c] / rotated[k, a, a]
                if c == a:
                    term -= rotated[k, b, e] / rotated[k, b, b]
                if c == b:
                    term += rotated[k, a, e] / rotated[k, a, a]
                # 2 B_pq.
                sandwich = 0.0
                if b == e:
                    sandwich += rotated[k, a, c] / rotated[k, b, b]
                if b == c:
                    sandwich -= rotated[k, a, e] / rotated[k, b, b]
                if a == e:
                    sandwich -= rotated[k, b, c] / rotated[k, a, a]
                if a == c:
                    sandwich += rotated[k, b, e] / rotated[k, a, a]
                # Σ_j ∂log ω_j/∂θ_p ∂log ω_j/∂θ_q over j ∈ {a, b} ∩ {c, e}.
                outer = 0.0
                if a == c:
                    outer += log_gradient[p, 0] * log_gradient[q, 0]
                if a == e:
                    outer += log_gradient[p, 0] * log_gradient[q, 1]
                if b == c:
                    outer += log_gradient[p, 1] * log_gradient[q, 0]
                if b == e:
                    outer += log_gradient[p, 1] * log_gradient[q, 1]
                value = term + 2.0 * sandwich - outer
                second[k, p, q] = value
                second[k, q, p] = value
    resolution = 64.0 * _EPS * total_n * d * (1.0 + largest_log)
    if problem == _ORIENTATION_VVE:
        value = 0.0
        for k in range(count):
            for j in range(d):
                value += n_k[k] * math.log(rotated[k, j, j])
        for p in range(n_pairs):
            slope = 0.0
            for k in range(count):
                slope += n_k[k] * first[k, p]
            gradient[p] = slope
            for q in range(n_pairs):
                curvature = 0.0
                for k in range(count):
                    curvature += n_k[k] * second[k, p, q]
                hessian[p, q] = curvature
        return value, resolution
    # EVE: the derivatives of N·d·log Σ_k exp(L_k), L_k = (1/d) Σ_j log ω_kj.
    terms = work[10]
    largest = -_INF
    for k in range(count):
        mean_log = 0.0
        for j in range(d):
            mean_log += math.log(rotated[k, j, j])
        terms[k] = mean_log / d
        largest = max(largest, terms[k])
    total = 0.0
    for k in range(count):
        terms[k] = math.exp(terms[k] - largest)
        total += terms[k]
    factor = total_n * d
    value = factor * (math.log(total) + largest)
    for p in range(n_pairs):
        average = 0.0
        for k in range(count):
            average += (terms[k] / total) * (first[k, p] / d)
        gradient[p] = average
    for p in range(n_pairs):
        for q in range(n_pairs):
            curvature = 0.0
            for k in range(count):
                mean_p = first[k, p] / d
                mean_q = first[k, q] / d
                curvature += (terms[k] / total) * (second[k, p, q] / d + mean_p * mean_q)
            hessian[p, q] = factor * (curvature - gradient[p] * gradient[q])
    for p in range(n_pairs):
        gradient[p] *= factor
    return value, resolution


@_helper
def _cayley_retract(axes, step, pairs, moved, work):  # pragma: no cover - compiled
    """moved = D (I − S/2)⁻¹(I + S/2), S = Σ_p step_p G_p (orientation.cayley_rotation)."""
    left, right, lu, pivots = work[17], work[18], work[2], work[3]
    d = axes.shape[0]
    for i in range(d):
        for j in range(d):
            left[i, j] = 1.0 if i == j else 0.0
            right[i, j] = left[i, j]
    for p in range(pairs.shape[0]):
        a, b = pairs[p, 0], pairs[p, 1]
        half = 0.5 * step[p]
        left[a, b] -= half
        left[b, a] += half
        right[a, b] += half
        right[b, a] -= half
    _lu(left, lu, pivots)
    _lu_solve(lu, pivots, right)
    for i in range(d):
        for j in range(d):
            value = 0.0
            for m in range(d):
                value += axes[i, m] * right[m, j]
            moved[i, j] = value


@_helper
def _pair_objective(problem, n_k, q, dq, d2q, rest, d):  # pragma: no cover - compiled
    """The EVE or VVE pair objective of iterative (h, h', h''); ok False where the Python
    pair objective raises (a rotated variance that is not positive)."""
    count = q.shape[0]
    for k in range(count):
        if not q[k] > 0.0:
            return False, 0.0, 0.0, 0.0
    if problem == _ORIENTATION_VVE:
        value = 0.0
        slope = 0.0
        curvature = 0.0
        for k in range(count):
            ratio = dq[k] / q[k]
            value += n_k[k] * math.log(q[k])
            slope += n_k[k] * ratio
            curvature += n_k[k] * (d2q[k] / q[k] - ratio * ratio)
        return True, value, slope, curvature
    total = 0.0
    first = 0.0
    second = 0.0
    for k in range(count):
        relative = dq[k] / (d * q[k])
        term = (rest[k] * q[k]) ** (1.0 / d)
        total += term
        first += term * relative
        second += term * (relative * relative + (d2q[k] * q[k] - dq[k] * dq[k]) / (d * q[k] * q[k]))
    slope = first / total
    return True, math.log(total), slope, second / total - slope * slope


@_helper
def _pair_terms(middle, half_difference, off_diagonal, phi, q, dq, d2q):  # pragma: no cover
    """q_k(φ) = m_k² − c_k² and its derivatives (decomposition.rotation_sweep)."""
    cosine, sine = math.cos(phi), math.sin(phi)
    for k in range(q.shape[0]):
        c = half_difference[k] * cosine + off_diagonal[k] * sine
        dc = -half_difference[k] * sine + off_diagonal[k] * cosine
        q[k] = middle[k] * middle[k] - c * c
        dq[k] = -2.0 * c * dc
        d2q[k] = -2.0 * (dc * dc - c * c)


@_helper
def _rotation_sweep(problem, matrices, n_k, axes, swept, work):  # pragma: no cover - compiled
    """decomposition.rotation_sweep: one sweep of plane rotations; (status, largest change)."""
    rotated, product = work[11], work[12]
    middle, half_difference, off_diagonal, rest = work[19], work[20], work[21], work[22]
    q, dq, d2q = work[23], work[24], work[25]
    count, d = matrices.shape[0], matrices.shape[1]
    for i in range(d):
        for j in range(d):
            swept[i, j] = axes[i, j]
    _rotate(matrices, axes, rotated, product)
    for i in range(d - 1):
        for j in range(i + 1, d):
            for k in range(count):
                others = 1.0
                for m in range(d):
                    if m != i and m != j:
                        others *= rotated[k, m, m]
                rest[k] = others
                middle[k] = (rotated[k, i, i] + rotated[k, j, j]) / 2
                half_difference[k] = (rotated[k, i, i] - rotated[k, j, j]) / 2
                off_diagonal[k] = rotated[k, i, j]
            phi = 0.0
            _pair_terms(middle, half_difference, off_diagonal, phi, q, dq, d2q)
            ok, value, slope, curvature = _pair_objective(problem, n_k, q, dq, d2q, rest, d)
            if not ok:
                return COLLAPSED, 0.0
            for _ in range(30):
                if curvature > 0:
                    step = -slope / curvature
                elif slope > 0:
                    step = -0.1
                elif slope < 0:
                    step = 0.1
                elif slope == 0:
                    step = 0.0
                else:
                    return HAND_OVER, 0.0
                step = min(max(step, -_QUARTER_TURN), _QUARTER_TURN)
                trial_value, trial_slope, trial_curvature = value, slope, curvature
                while abs(step) > 1e-15:
                    _pair_terms(middle, half_difference, off_diagonal, phi + step, q, dq, d2q)
                    ok, trial_value, trial_slope, trial_curvature = _pair_objective(
                        problem, n_k, q, dq, d2q, rest, d
                    )
                    if not ok:
                        return COLLAPSED, 0.0
                    if trial_value <= value:
                        break
                    step /= 2
                if abs(step) <= 1e-15:
                    break
                phi += step
                value, slope, curvature = trial_value, trial_slope, trial_curvature
                if abs(step) < 1e-12:
                    break
            if phi != 0.0:
                cosine, sine = math.cos(phi / 2), math.sin(phi / 2)
                for m in range(d):
                    left, right = swept[m, i], swept[m, j]
                    swept[m, i] = left * cosine + right * sine
                    swept[m, j] = left * -sine + right * cosine
                for k in range(count):
                    for m in range(d):
                        left, right = rotated[k, m, i], rotated[k, m, j]
                        rotated[k, m, i] = left * cosine + right * sine
                        rotated[k, m, j] = left * -sine + right * cosine
                    for m in range(d):
                        top, bottom = rotated[k, i, m], rotated[k, j, m]
                        rotated[k, i, m] = cosine * top + sine * bottom
                        rotated[k, j, m] = -sine * top + cosine * bottom
    moved = 0.0
    for i in range(d):
        for j in range(d):
            moved = max(moved, abs(swept[i, j] - axes[i, j]))
    return OK, moved


# --------------------------------------------------------------------------- Newton


@_helper
def _evaluate(problem, values, matrices, n_k, point, gradient, hessian, work):  # pragma: no cover
    if problem == _VOLUMES_DIAGONAL or problem == _VOLUMES_FULL:
        return _volume_evaluate(problem, values, matrices, n_k, point[0], gradient, hessian, work)
    return _orientation_evaluate(problem, matrices, n_k, point, gradient, hessian, work)


@_helper
def _retract(problem, point, step, pairs, moved, work):  # pragma: no cover - compiled
    if problem == _VOLUMES_DIAGONAL or problem == _VOLUMES_FULL:
        for k in range(step.shape[0]):
            moved[0, k] = point[0, k] + step[k]
    else:
        _cayley_retract(point, step, pairs, moved, work)


@_helper
def _fallback(problem, values, matrices, n_k, point, moved, work):  # pragma: no cover
    if problem == _VOLUMES_DIAGONAL or problem == _VOLUMES_FULL:
        return _volume_fixed_point(problem, values, matrices, n_k, point[0], moved[0], work)
    return _rotation_sweep(problem, matrices, n_k, point, moved, work)


@_helper
def _copy(source, target):  # pragma: no cover - compiled
    for i in range(source.shape[0]):
        for j in range(source.shape[1]):
            target[i, j] = source[i, j]


@_helper
def _minimise(
    problem, values, matrices, n_k, point, n_variables, max_step, work
):  # pragma: no cover
    """newton.minimise on one of the inner problems, from and into ``point``; the status.

    ``point`` is (1, K) log-volumes or the (d, d) orientation; ``values`` the (K, d)
    diagonal values B_k of the volume problems.
    """
    pairs = work[16]
    trial = np.empty_like(point)
    gradient = np.empty(n_variables)
    hessian = np.empty((n_variables, n_variables))
    trial_gradient = np.empty(n_variables)
    trial_hessian = np.empty((n_variables, n_variables))
    factor = np.empty((n_variables, n_variables))
    step = np.empty(n_variables)
    scaled = np.empty(n_variables)
    value, resolution = _evaluate(problem, values, matrices, n_k, point, gradient, hessian, work)
    if not value < _INF:
        return OK
    last_step = _INF
    for _ in range(_MAX_ITER):
        accepted = False
        trial_value = _INF
        trial_resolution = _INF
        if _newton_step(gradient, hessian, factor, step):
            largest = 0.0
            for i in range(n_variables):
                largest = max(largest, abs(step[i]))
            if largest > max_step:
                for i in range(n_variables):
                    step[i] *= max_step / largest
                largest = max_step
            slope = 0.0
            for i in range(n_variables):
                slope += gradient[i] * step[i]
            predicted = last_step < _INF and largest**3 <= _TOL * last_step**2
            if largest <= _TOL or -slope <= resolution:
                # At the rounding level of g: the full step, unless g rises beyond it.
                _retract(problem, point, step, pairs, trial, work)
                trial_value, trial_resolution = _evaluate(
                    problem, values, matrices, n_k, trial, trial_gradient, trial_hessian, work
                )
                if trial_value > value + resolution:
                    return OK
                if largest <= _TOL or largest >= last_step or predicted or not trial_value < _INF:
                    _copy(trial, point)
                    return OK
                _copy(trial, point)
                last_step = largest
                value, resolution = trial_value, trial_resolution
                gradient, trial_gradient = trial_gradient, gradient
                hessian, trial_hessian = trial_hessian, hessian
                continue
            fraction = 1.0
            # Backtrack while the decrease asked for is still above the rounding level.
            while slope < 0 and -fraction * slope > resolution:
                for i in range(n_variables):
                    scaled[i] = fraction * step[i]
                _retract(problem, point, scaled, pairs, trial, work)
                trial_value, trial_resolution = _evaluate(
                    problem, values, matrices, n_k, trial, trial_gradient, trial_hessian, work
                )
                if trial_value <= value + _ARMIJO * fraction * slope:
                    if fraction == 1.0 and largest < last_step and predicted:
                        _copy(trial, point)
                        return OK
                    accepted = True
                    last_step = fraction * largest
                    break
                fraction /= 2.0
        if not accepted:
            # Indefinite Hessian or a failed line search: one fallback step, kept unless g
            # rises beyond rounding.
            status, moved = _fallback(problem, values, matrices, n_k, point, trial, work)
            if status != OK:
                return status
            trial_value, trial_resolution = _evaluate(
                problem, values, matrices, n_k, trial, trial_gradient, trial_hessian, work
            )
            if trial_value > value + resolution:
                return OK
            if moved <= _TOL:
                _copy(trial, point)
                return OK
            last_step = moved
        _copy(trial, point)
        value, resolution = trial_value, trial_resolution
        gradient, trial_gradient = trial_gradient, gradient
        hessian, trial_hessian = trial_hessian, hessian
        if not value < _INF:
            return OK
    return OK


# --------------------------------------------------------------------------- workspace


@_helper
def _workspace(count, d):  # pragma: no cover - compiled
    """The scratch arrays of the inner problems (indices as used above)."""
    n_pairs = d * (d - 1) // 2
    pairs = np.empty((n_pairs, 2), dtype=np.int64)
    p = 0
    for a in range(d):
        for b in range(a + 1, d):
            pairs[p, 0] = a
            pairs[p, 1] = b
            p += 1
    return (
        np.empty(d),  # 0 pooled diagonal / shape diagonal
        np.empty((d, d)),  # 1 pooled / shape
        np.empty((d, d)),  # 2 LU factors
        np.empty(d, dtype=np.int64),  # 3 pivots
        np.empty((d, d)),  # 4 solved right-hand side
        np.empty(count),  # 5 traces
        np.empty((d, d)),  # 6 Cholesky factor
        np.empty((d, d)),  # 7 inverse
        np.empty((d, d)),  # 8 inverse scratch
        np.empty((count, d, d)),  # 9 shares Q_k
        np.empty(count),  # 10 weights / EVE terms
        np.empty((count, d, d)),  # 11 rotated Ω_k
        np.empty((d, d)),  # 12 product
        np.empty((count, n_pairs)),  # 13 first derivatives
        np.empty((count, n_pairs, n_pairs)),  # 14 second derivatives
        np.empty((n_pairs, 2)),  # 15 log-gradients at j = a, b
        pairs,  # 16 axis pairs (a, b), a < b
        np.empty((d, d)),  # 17 Cayley left
        np.empty((d, d)),  # 18 Cayley right
        np.empty(count),  # 19 sweep middle
        np.empty(count),  # 20 sweep half difference
        np.empty(count),  # 21 sweep off-diagonal
        np.empty(count),  # 22 sweep rest
        np.empty(count),  # 23 q
        np.empty(count),  # 24 q'
        np.empty(count),  # 25 q''
    )


# --------------------------------------------------------------------------- shared steps


@_helper
def _finite(n_k, scatter, reg_covar, diagonal_only):  # pragma: no cover - compiled
    if not math.isfinite(reg_covar):
        return False
    count, d = scatter.shape[0], scatter.shape[1]
    for k in range(count):
        if not math.isfinite(n_k[k]):
            return False
        for i in range(d):
            for j in range(d):
                if (not diagonal_only or i == j) and not math.isfinite(scatter[k, i, j]):
                    return False
    return True


@_helper
def _regularised_matrices(n_k, scatter, reg_covar):  # pragma: no cover - compiled
    """Symmetrised W_k + n_k·reg_covar·I (decomposition.regularized_scatter)."""
    count, d = scatter.shape[0], scatter.shape[1]
    matrices = np.empty((count, d, d))
    for k in range(count):
        lift = reg_covar * n_k[k]
        for i in range(d):
            for j in range(d):
                if i == j:
                    matrices[k, i, i] = scatter[k, i, i] + lift
                else:
                    matrices[k, i, j] = 0.5 * (scatter[k, i, j] + scatter[k, j, i])
    return matrices


@_helper
def _previous_usable(previous, has_previous, diagonal_only):  # pragma: no cover - compiled
    """warm_start.usable_previous: present and finite (its compact part)."""
    if not has_previous:
        return False
    count, d = previous.shape[0], previous.shape[1]
    for k in range(count):
        for i in range(d):
            for j in range(d):
                if (not diagonal_only or i == j) and not math.isfinite(previous[k, i, j]):
                    return False
    return True


@_helper
def _dense_volumes(previous, volumes, lu, pivots):  # pragma: no cover - compiled
    """iterative._dense_volumes: |Σ_k|^{1/d} (slogdet), False if a sign is not positive."""
    count, d = previous.shape[0], previous.shape[1]
    for k in range(count):
        sign, log_det = _lu(previous[k], lu, pivots)
        if not sign > 0.0:
            return False
        volumes[k] = math.exp(log_det / d)
    return True


@_helper
def _fit_volumes(problem, values, matrices, n_k, start_volumes, result, work):  # pragma: no cover
    """volumes.fit_volumes: the volumes into ``result`` and the shape into work[0] or
    work[1]; the status."""
    count = n_k.shape[0]
    d = work[0].shape[0]
    cold = np.empty(count)
    for k in range(count):
        if problem == _VOLUMES_DIAGONAL:
            trace = 0.0
            for j in range(d):
                trace += values[k, j]
        else:
            trace = 0.0
            for j in range(d):
                trace += matrices[k, j, j]
        cold[k] = math.log(trace / (d * n_k[k])) if trace / (d * n_k[k]) > 0 else -_INF
    status, _ = _shared_shape(problem, values, matrices, cold, work)
    if status != OK:
        return status
    point = np.empty((1, count))
    for k in range(count):
        point[0, k] = math.log(start_volumes[k]) if start_volumes[k] > 0 else -_INF
    status, _ = _shared_shape(problem, values, matrices, point[0], work)
    if status != OK:
        return status
    if problem == _VOLUMES_DIAGONAL:
        smallest, largest = _INF, -_INF
        for j in range(d):
            smallest = min(smallest, work[0][j])
            largest = max(largest, work[0][j])
    else:
        spectrum = np.linalg.eigvalsh(work[1].copy())
        smallest, largest = spectrum[0], spectrum[d - 1]
    if not (smallest > 0.0 and largest < _INF):
        return HAND_OVER
    low, high = math.log(largest), math.log(smallest)
    for k in range(count):
        point[0, k] = min(max(point[0, k], cold[k] - low), cold[k] - high)
        if not math.isfinite(point[0, k]):
            return HAND_OVER
    status = _minimise(problem, values, matrices, n_k, point, count, _MAX_LOG_STEP, work)
    if status != OK:
        return status
    for k in range(count):
        result[k] = math.exp(point[0, k])
    status, _ = _shared_shape(problem, values, matrices, point[0], work)
    return status


@_helper
def _guard(n_k, matrices, out, previous, feasible, work):  # pragma: no cover - compiled
    """warm_start.no_worse for full covariances: out becomes previous if F(previous) < F(out)."""
    if not feasible:
        return
    factor, inverse, scratch = work[6], work[7], work[8]
    previous_value = _objective_full(n_k, matrices, previous, factor, inverse, scratch)
    new_value = _objective_full(n_k, matrices, out, factor, inverse, scratch)
    if previous_value < new_value:
        out[:] = previous


# --------------------------------------------------------------------------- the models


@_jit
def vei_mstep(n_k, W, reg_covar, previous, has_previous, out):  # pragma: no cover - compiled
    """VEI's M-step (iterative.VEI.estimate) into dense ``out``; the status."""
    count, d = W.shape[0], W.shape[1]
    if not _finite(n_k, W, reg_covar, True):
        return HAND_OVER
    diagonals = np.empty((count, d))
    for k in range(count):
        for j in range(d):
            diagonals[k, j] = W[k, j, j] + reg_covar * n_k[k]
    work = _workspace(count, d)
    start = np.empty(count)
    usable = _previous_usable(previous, has_previous, True)
    if usable:
        for k in range(count):
            for j in range(d):
                if not previous[k, j, j] > 0:
                    usable = False
    feasible = usable
    if usable:
        for k in range(count):
            mean_log = 0.0
            for j in range(d):
                mean_log += math.log(previous[k, j, j])
            start[k] = math.exp(mean_log / d)
        for k in range(count):
            error = 0.0
            largest = 0.0
            for j in range(d):
                shape = previous[0, j, j] / start[0]
                error = max(error, abs(start[k] * shape - previous[k, j, j]))
                largest = max(largest, abs(previous[k, j, j]))
            if not error <= _FEASIBLE_RTOL * largest:
                feasible = False
    for k in range(count):
        trace = 0.0
        for j in range(d):
            trace += diagonals[k, j]
        cold = trace / (d * n_k[k])
        if not cold > 0:
            return COLLAPSED
        if not usable:
            start[k] = cold
    result = np.empty(count)
    status = _fit_volumes(np.int64(_VOLUMES_DIAGONAL), diagonals, work[9], n_k, start, result, work)
    if status != OK:
        return status
    variances = np.empty((count, d))
    for k in range(count):
        for j in range(d):
            variances[k, j] = result[k] * work[0][j]
    if feasible:
        previous_variances = np.empty((count, d))
        for k in range(count):
            for j in range(d):
                previous_variances[k, j] = previous[k, j, j]
        if _objective_diagonal(n_k, diagonals, previous_variances) < _objective_diagonal(
            n_k, diagonals, variances
        ):
            variances[:] = previous_variances
    out[:] = 0.0
    for k in range(count):
        for j in range(d):
            out[k, j, j] = variances[k, j]
    return OK


@_jit
def vee_mstep(n_k, W, reg_covar, previous, has_previous, out):  # pragma: no cover - compiled
    """VEE's M-step (iterative.VEE.estimate) into ``out``; the status."""
    count, d = W.shape[0], W.shape[1]
    if not _finite(n_k, W, reg_covar, False):
        return HAND_OVER
    matrices = _regularised_matrices(n_k, W, reg_covar)
    work = _workspace(count, d)
    start = np.empty(count)
    for k in range(count):
        trace = 0.0
        for j in range(d):
            trace += matrices[k, j, j]
        start[k] = trace / (d * n_k[k])
        if not start[k] > 0:
            return COLLAPSED
    feasible = _previous_usable(previous, has_previous, False)
    if feasible:
        warm = np.empty(count)
        if _dense_volumes(previous, warm, work[2], work[3]):
            start[:] = warm
            for k in range(count):
                for i in range(d):
                    for j in range(d):
                        out[k, i, j] = warm[k] * (previous[0, i, j] / warm[0])
            feasible = _matches(out, previous)
        else:
            feasible = False
    result = np.empty(count)
    unused = np.empty((count, d))
    status = _fit_volumes(np.int64(_VOLUMES_FULL), unused, matrices, n_k, start, result, work)
    if status != OK:
        return status
    for k in range(count):
        for i in range(d):
            for j in range(d):
                out[k, i, j] = result[k] * work[1][i, j]
    _guard(n_k, matrices, out, previous, feasible, work)
    return OK


@_jit
def vev_mstep(n_k, W, reg_covar, previous, has_previous, out):  # pragma: no cover - compiled
    """VEV's M-step (iterative.VEV.estimate) into ``out``; the status."""
    count, d = W.shape[0], W.shape[1]
    if not _finite(n_k, W, reg_covar, False):
        return HAND_OVER
    matrices = _regularised_matrices(n_k, W, reg_covar)
    work = _workspace(count, d)
    eigenvalues = np.empty((count, d))
    orientations = np.empty((count, d, d))
    for k in range(count):
        _descending_eigh(matrices[k], eigenvalues[k], orientations[k])
        for j in range(d):
            eigenvalues[k, j] = max(eigenvalues[k, j], 0.0)
    start = np.empty(count)
    feasible = _previous_usable(previous, has_previous, False)
    usable = feasible
    if feasible:
        if _dense_volumes(previous, start, work[2], work[3]):
            first_shape = np.empty(d)
            for k in range(count):
                spectrum = np.linalg.eigvalsh(previous[k].copy())
                error = 0.0
                largest = 0.0
                for j in range(d):
                    shape = spectrum[d - 1 - j] / start[k]
                    if k == 0:
                        first_shape[j] = shape
                    reference = start[k] * shape
                    error = max(error, abs(start[k] * first_shape[j] - reference))
                    largest = max(largest, abs(reference))
                if not error <= _FEASIBLE_RTOL * largest:
                    feasible = False
        else:
            feasible = False
            usable = False
    for k in range(count):
        trace = 0.0
        for j in range(d):
            trace += eigenvalues[k, j]
        cold = trace / (d * n_k[k])
        if not cold > 0:
            return COLLAPSED
        if not usable:
            start[k] = cold
    result = np.empty(count)
    status = _fit_volumes(
        np.int64(_VOLUMES_DIAGONAL), eigenvalues, matrices, n_k, start, result, work
    )
    if status != OK:
        return status
    for k in range(count):
        for i in range(d):
            for m in range(d):
                value = 0.0
                for j in range(d):
                    value += (
                        orientations[k, i, j] * (result[k] * work[0][j]) * orientations[k, m, j]
                    )
                out[k, i, m] = value
    _guard(n_k, matrices, out, previous, feasible, work)
    return OK


@_helper
def _check_nonsingular(matrices):  # pragma: no cover - compiled
    """iterative._check_nonsingular: False for a scatter singular to rounding."""
    count, d = matrices.shape[0], matrices.shape[1]
    floor = _SINGULAR_EPS * d * _EPS
    for k in range(count):
        spectrum = np.linalg.eigvalsh(matrices[k].copy())
        if not spectrum[0] > floor * spectrum[d - 1]:
            return False
    return True


@_helper
def _shared_orientation_mstep(
    problem, n_k, W, reg_covar, previous, has_previous, out
):  # pragma: no cover
    """iterative._shared_orientation_estimate for EVE or VVE; the status."""
    count, d = W.shape[0], W.shape[1]
    if not _finite(n_k, W, reg_covar, False):
        return HAND_OVER
    matrices = _regularised_matrices(n_k, W, reg_covar)
    if not _check_nonsingular(matrices):
        return COLLAPSED
    work = _workspace(count, d)
    axes = np.empty((d, d))
    spectrum = np.empty(d)
    feasible = _previous_usable(previous, has_previous, False)
    combination = np.zeros((d, d))
    if feasible:
        # iterative._shared_orientation_of.
        for k in range(count):
            trace = 0.0
            for j in range(d):
                trace += previous[k, j, j]
            weight = (1.0 + k * _GOLDEN) / trace
            for i in range(d):
                for j in range(d):
                    combination[i, j] += weight * previous[k, i, j]
        if not _descending_eigh(combination, spectrum, axes):
            return HAND_OVER
        _rotate(previous, axes, work[11], work[12])
        smallest_log, largest_log = _INF, -_INF
        for k in range(count):
            mean_log = 0.0
            for j in range(d):
                if not work[11][k, j, j] > 0:
                    feasible = False
                else:
                    mean_log += math.log(work[11][k, j, j])
            smallest_log = min(smallest_log, mean_log / d)
            largest_log = max(largest_log, mean_log / d)
        if feasible:
            for k in range(count):
                for i in range(d):
                    for m in range(d):
                        value = 0.0
                        for j in range(d):
                            value += axes[i, j] * work[11][k, j, j] * axes[m, j]
                        out[k, i, m] = value
            feasible = _matches(out, previous)
        if feasible and problem == _ORIENTATION_EVE:
            feasible = largest_log - smallest_log <= _FEASIBLE_RTOL
    else:
        for k in range(count):
            for i in range(d):
                for j in range(d):
                    combination[i, j] += matrices[k, i, j]
        if not _descending_eigh(combination, spectrum, axes):
            return HAND_OVER
    if d >= 2:
        n_pairs = d * (d - 1) // 2
        unused = np.empty((count, d))
        status = _minimise(problem, unused, matrices, n_k, axes, n_pairs, _QUARTER_TURN, work)
        if status != OK:
            return status
    # ω_kj = (Dᵀ W_k D)_jj and the closed-form eigenvalues given D.
    _rotate(matrices, axes, work[11], work[12])
    diagonals = np.empty((count, d))
    for k in range(count):
        for j in range(d):
            diagonals[k, j] = work[11][k, j, j]
    if problem == _ORIENTATION_EVE:
        scales = np.empty(count)
        total_scale = 0.0
        total_n = 0.0
        for k in range(count):
            mean_log = 0.0
            for j in range(d):
                mean_log += math.log(diagonals[k, j]) if diagonals[k, j] > 0 else math.nan
            scales[k] = math.exp(mean_log / d)
            if not scales[k] > 0:
                return COLLAPSED
            total_scale += scales[k]
            total_n += n_k[k]
        volume = total_scale / total_n
        for k in range(count):
            for j in range(d):
                diagonals[k, j] = volume * diagonals[k, j] / scales[k]
    else:
        for k in range(count):
            for j in range(d):
                if not diagonals[k, j] > 0:
                    return COLLAPSED
            for j in range(d):
                diagonals[k, j] = diagonals[k, j] / n_k[k]
    for k in range(count):
        for i in range(d):
            for m in range(d):
                value = 0.0
                for j in range(d):
                    value += axes[i, j] * diagonals[k, j] * axes[m, j]
                out[k, i, m] = value
    _guard(n_k, matrices, out, previous, feasible, work)
    return OK


@_jit
def eve_mstep(n_k, W, reg_covar, previous, has_previous, out):  # pragma: no cover - compiled
    """EVE's M-step (iterative.EVE.estimate) into ``out``; the status."""
    return _shared_orientation_mstep(
        np.int64(_ORIENTATION_EVE), n_k, W, reg_covar, previous, has_previous, out
    )


@_jit
def vve_mstep(n_k, W, reg_covar, previous, has_previous, out):  # pragma: no cover - compiled
    """VVE's M-step (iterative.VVE.estimate) into ``out``; the status."""
    return _shared_orientation_mstep(
        np.int64(_ORIENTATION_VVE), n_k, W, reg_covar, previous, has_previous, out
    )


@_jit
def iterative_mstep(code, n_k, W, reg_covar, previous, has_previous, out):  # pragma: no cover
    """The M-step of model ``code`` into ``out``; the status.

    ``code`` is the model's position in ``gaussmix.compiled_msteps.COMPILED_MODELS``:
    VEI 0, VEE 1, VEV 2, EVE 3, VVE 4.

    One entry for calls from Python (compiled_msteps.CompiledIterativeModel): a fresh
    process loads one cached library for the five models instead of five (each of those
    costs about 0.1 s to load on the shared 2-core machine, ``benchmarks/bench_select.py``
    fresh-process column).
    """
    if code == 0:
        return vei_mstep(n_k, W, reg_covar, previous, has_previous, out)
    if code == 1:
        return vee_mstep(n_k, W, reg_covar, previous, has_previous, out)
    if code == 2:
        return vev_mstep(n_k, W, reg_covar, previous, has_previous, out)
    if code == 3:
        return eve_mstep(n_k, W, reg_covar, previous, has_previous, out)
    return vve_mstep(n_k, W, reg_covar, previous, has_previous, out)
