"""The compiled row loop of :mod:`gaussmix.missing` (imports numba; import it lazily).

One call per missingness pattern visits its rows once: the marginal log-densities of every
component, the responsibilities and the weighted first and second moments of the observed
entries, without the (n, K·|o|) temporaries of the NumPy path (which gives the same sums
to rounding; ``tests/test_missing.py`` holds them together). No fastmath: the sums follow
the order written here.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["pattern_moments"]


@numba.njit(nogil=True, cache=True)
def pattern_moments(
    values: np.ndarray,
    weights: np.ndarray,
    inverse: np.ndarray,
    means: np.ndarray,
    log_constants: np.ndarray,
    n_k: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
) -> float:
    """Add one pattern's moments to ``n_k``, ``first``, ``second``; return Σ w log p(x_o).

    Parameters
    ----------
    values : ndarray of shape (n, o)
        The rows' observed entries.
    weights : ndarray of shape (n,)
    inverse : ndarray of shape (K, o, o)
        L_k⁻¹ with Σ_{k,oo} = L_k L_kᵀ.
    means : ndarray of shape (K, o)
        μ_{k,o}.
    log_constants : ndarray of shape (K,)
        log π_k − log|L_k| − ½ o log 2π.
    n_k, first, second : ndarray of shape (K,), (K, o), (K, o, o)
        Accumulated in place: Σ r w, Σ r w (x_o − μ_ko), Σ r w (x_o − μ_ko)(x_o − μ_ko)ᵀ.

    Returns
    -------
    float
    """
    n, size = values.shape
    n_components = means.shape[0]
    log_prob = np.empty(n_components)
    difference = np.empty((n_components, size))
    total = 0.0
    for i in range(n):
        for k in range(n_components):
            for b in range(size):
                difference[k, b] = values[i, b] - means[k, b]
            squares = 0.0
            for a in range(size):
                z = 0.0
                for b in range(a + 1):
                    z += inverse[k, a, b] * difference[k, b]
                squares += z * z
            log_prob[k] = log_constants[k] - 0.5 * squares
        largest = log_prob[0]
        for k in range(1, n_components):
            largest = max(largest, log_prob[k])
        norm = 0.0
        for k in range(n_components):
            norm += math.exp(log_prob[k] - largest)
        log_norm = largest + math.log(norm)
        total += weights[i] * log_norm
        for k in range(n_components):
            r = math.exp(log_prob[k] - log_norm) * weights[i]
            n_k[k] += r
            for a in range(size):
                ra = r * difference[k, a]
                first[k, a] += ra
                for b in range(a + 1):
                    second[k, a, b] += ra * difference[k, b]
    for k in range(n_components):
        for a in range(size):
            for b in range(a):
                second[k, b, a] = second[k, a, b]
    return total


@numba.njit(nogil=True, cache=True)
def _factor(covariance: np.ndarray, observed: np.ndarray, size: int, inverse: np.ndarray) -> float:
    """L⁻¹ of Σ_oo = L Lᵀ into ``inverse[:size, :size]``; log|L|, or NaN if not positive."""
    factor = np.zeros((size, size))
    log_det = 0.0
    for a in range(size):
        for b in range(a + 1):
            value = covariance[observed[a], observed[b]]
            for c in range(b):
                value -= factor[a, c] * factor[b, c]
            if a == b:
                if value <= 0.0:
                    return math.nan
                factor[a, a] = math.sqrt(value)
                log_det += math.log(factor[a, a])
            else:
                factor[a, b] = value / factor[b, b]
    for a in range(size):
        for b in range(size):
            inverse[a, b] = 0.0
    # Forward substitution, column by column, of L X = I.
    for b in range(size):
        inverse[b, b] = 1.0 / factor[b, b]
        for a in range(b + 1, size):
            value = 0.0
            for c in range(b, a):
                value -= factor[a, c] * inverse[c, b]
            inverse[a, b] = value / factor[a, a]
    return log_det


@numba.njit(nogil=True, cache=True)
def all_patterns(
    rows: np.ndarray,
    weights: np.ndarray,
    starts: np.ndarray,
    observed_mask: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    log_weights: np.ndarray,
    n_k: np.ndarray,
    weighted_sum: np.ndarray,
    full: np.ndarray,
) -> float:
    """Every pattern's expected statistics in one call, added in place; Σ w log p(x_o).

    Parameters
    ----------
    rows : ndarray of shape (n, D)
        The incomplete rows, pattern after pattern (missing entries are not read).
    weights : ndarray of shape (n,)
    starts : ndarray of shape (P + 1,)
        Pattern p holds rows ``starts[p]:starts[p + 1]``.
    observed_mask : ndarray of shape (P, D), bool
        The observed columns of each pattern.
    means, covariances, log_weights : ndarray of shape (K, D), (K, D, D), (K,)
        The mixture.
    n_k, weighted_sum, full : ndarray of shape (K,), (K, D), (K, D, D)
        Accumulated in place: Σ r w, Σ r w (x̂ − μ_k), Σ r w [(x̂ − μ_k)(x̂ − μ_k)ᵀ + C_k].

    Returns
    -------
    float
        NaN when some Σ_{k,oo} is not positive definite (the caller falls back to NumPy,
        whose error it then reports).
    """
    n_components, n_features = means.shape
    n_patterns = starts.shape[0] - 1
    inverse = np.zeros((n_components, n_features, n_features))
    constants = np.empty(n_components)
    gain = np.zeros((n_components, n_features, n_features))
    conditional = np.zeros((n_components, n_features, n_features))
    observed = np.empty(n_features, dtype=np.int64)
    missing = np.empty(n_features, dtype=np.int64)
    total = 0.0
    for p in range(n_patterns):
        size = _split_columns(observed_mask[p], observed, missing)
        n_missing = n_features - size
        if not _pattern_factors(
            covariances,
            log_weights,
            observed,
            missing,
            size,
            n_missing,
            inverse,
            constants,
            gain,
            conditional,
        ):
            return math.nan
        local_n = np.zeros(n_components)
        first = np.zeros((n_components, size))
        second = np.zeros((n_components, size, size))
        total += pattern_moments(
            _columns(rows[starts[p] : starts[p + 1]], observed[:size]),
            weights[starts[p] : starts[p + 1]],
            inverse[:, :size, :size],
            _columns(means, observed[:size]),
            constants,
            local_n,
            first,
            second,
        )
        _complete(
            local_n,
            first,
            second,
            gain,
            conditional,
            observed,
            missing,
            size,
            n_missing,
            n_k,
            weighted_sum,
            full,
        )
    return total


@numba.njit(nogil=True, cache=True)
def _complete(
    local_n: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    gain: np.ndarray,
    conditional: np.ndarray,
    observed: np.ndarray,
    missing: np.ndarray,
    size: int,
    n_missing: int,
    n_k: np.ndarray,
    weighted_sum: np.ndarray,
    full: np.ndarray,
) -> None:
    """Carry a pattern's observed moments to all D coordinates (x̂ − μ = A (x_o − μ_o))."""
    n_components = local_n.shape[0]
    for k in range(n_components):
        n_k[k] += local_n[k]
        for a in range(size):
            weighted_sum[k, observed[a]] += first[k, a]
            for b in range(size):
                full[k, observed[a], observed[b]] += second[k, a, b]
        for j in range(n_missing):
            value = 0.0
            for a in range(size):
                value += gain[k, j, a] * first[k, a]
            weighted_sum[k, missing[j]] += value
            # G S (n_missing × size): the missing-observed block, and its transpose.
            for b in range(size):
                value = 0.0
                for a in range(size):
                    value += gain[k, j, a] * second[k, a, b]
                full[k, missing[j], observed[b]] += value
                full[k, observed[b], missing[j]] += value
            for i in range(n_missing):
                value = local_n[k] * conditional[k, j, i]
                for a in range(size):
                    for b in range(size):
                        value += gain[k, j, a] * second[k, a, b] * gain[k, i, b]
                full[k, missing[j], missing[i]] += value


@numba.njit(nogil=True, cache=True)
def _pattern_factors(
    covariances: np.ndarray,
    log_weights: np.ndarray,
    observed: np.ndarray,
    missing: np.ndarray,
    size: int,
    n_missing: int,
    inverse: np.ndarray,
    constants: np.ndarray,
    gain: np.ndarray,
    conditional: np.ndarray,
) -> bool:
    """One pattern's L_k⁻¹, log-constants, Σ_mo Σ_oo⁻¹ and conditional covariances, in place;
    False when some Σ_{k,oo} is not positive definite."""
    n_components = covariances.shape[0]
    for k in range(n_components):
        log_det = _factor(covariances[k], observed, size, inverse[k])
        if math.isnan(log_det):
            return False
        constants[k] = log_weights[k] - log_det - 0.5 * size * math.log(2.0 * math.pi)
        # B = L⁻¹ Σ_om (size × n_missing); gain = Bᵀ L⁻¹; C = Σ_mm − Bᵀ B.
        projection = np.zeros((size, n_missing))
        for a in range(size):
            for j in range(n_missing):
                value = 0.0
                for c in range(a + 1):
                    value += inverse[k, a, c] * covariances[k, observed[c], missing[j]]
                projection[a, j] = value
        for j in range(n_missing):
            for b in range(size):
                value = 0.0
                for a in range(b, size):
                    value += projection[a, j] * inverse[k, a, b]
                gain[k, j, b] = value
            for i in range(n_missing):
                value = covariances[k, missing[j], missing[i]]
                for a in range(size):
                    value -= projection[a, j] * projection[a, i]
                conditional[k, j, i] = value
    return True


@numba.njit(nogil=True, cache=True)
def _split_columns(mask: np.ndarray, observed: np.ndarray, missing: np.ndarray) -> int:
    """Observed and missing column indices of a pattern, in place; the number observed."""
    size = 0
    n_missing = 0
    for d in range(mask.shape[0]):
        if mask[d]:
            observed[size] = d
            size += 1
        else:
            missing[n_missing] = d
            n_missing += 1
    return size


@numba.njit(nogil=True, cache=True)
def _columns(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """values[:, columns] as a new C-contiguous array."""
    out = np.empty((values.shape[0], columns.shape[0]))
    for i in range(values.shape[0]):
        for a in range(columns.shape[0]):
            out[i, a] = values[i, columns[a]]
    return out
