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
