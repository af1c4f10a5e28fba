"""The compiled pair loop behind :mod:`gaussmix.hierarchical` (imports numba; import lazily).

One function, :func:`pair_spreads`, computes for every pair what
``hierarchical._Agglomeration.pair_spreads`` computes with NumPy array operations, by the
same floating-point operations in the same order (no fast-math: no reassociation, no
fused multiply-add), so both give the same bits. The logarithm is left to NumPy in both
cases. Module level, so that numba caches the machine code on disk.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["pair_spreads"]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def pair_spreads(
    slots: np.ndarray,
    start: int,
    stop: int,
    count: np.ndarray,
    scaled_mean: np.ndarray,
    trace: np.ndarray,
    scatter: np.ndarray,
    entry: np.ndarray,
    singleton: np.ndarray,
    alpha: float,
    beta: float,
    out_count: np.ndarray,
    out_spread: np.ndarray,
    out_trace: np.ndarray,
) -> None:  # pragma: no cover - compiled; held to the NumPy path by the tests
    """Fill count, |W/n|·[used] + β(tr W + α)/n and tr W of each union (slot, other).

    ``out_*[a, b]`` is for the union of ``slots[a]`` with slot ``start + b``; see
    ``hierarchical._Agglomeration.pair_spreads`` for the definitions.
    """
    n_features = scaled_mean.shape[0]
    half = math.sqrt(0.5)
    v = np.empty(n_features)
    matrix = np.empty((n_features, n_features))
    for a in range(slots.shape[0]):
        slot = slots[a]
        count_a = count[slot]
        for b in range(stop - start):
            other = start + b
            count_b = count[other]
            total = count_a + count_b
            inverse = 1.0 / total
            factor_a = math.sqrt(count_a * inverse)
            factor_b = math.sqrt(count_b * inverse)
            both_single = singleton[slot] and singleton[other]
            for k in range(n_features):
                if both_single:
                    v[k] = (scaled_mean[k, other] - scaled_mean[k, slot]) * half
                else:
                    v[k] = factor_a * scaled_mean[k, other] - factor_b * scaled_mean[k, slot]
            squares = v[0] * v[0]
            for k in range(1, n_features):
                squares = squares + v[k] * v[k]
            merged_trace = (trace[other] + trace[slot]) + squares
            spread = beta * (merged_trace + alpha) / total
            if total > n_features and not both_single and merged_trace != 0.0:
                for j in range(n_features):
                    for col in range(j, n_features):
                        e = entry[j, col]
                        matrix[j, col] = (scatter[e, other] + scatter[e, slot]) + v[j] * v[col]
                determinant = 1.0
                positive = True
                # Cholesky W = RᵀR in place over the upper triangle, row by row.
                for j in range(n_features):
                    pivot = matrix[j, j]
                    for k in range(j):
                        pivot = pivot - matrix[k, j] * matrix[k, j]
                    if not pivot > 0:
                        positive = False
                        break
                    determinant = determinant * (pivot * inverse)
                    if j + 1 < n_features:
                        inverse_root = 1.0 / math.sqrt(pivot)
                        for col in range(j + 1, n_features):
                            value = matrix[j, col]
                            for k in range(j):
                                value = value - matrix[k, j] * matrix[k, col]
                            matrix[j, col] = value * inverse_root
                if positive:
                    spread = spread + determinant
            out_count[a, b] = total
            out_spread[a, b] = spread
            out_trace[a, b] = merged_trace
