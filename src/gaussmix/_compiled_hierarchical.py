"""The whole VVV agglomeration of :mod:`gaussmix.hierarchical` in one compiled call.

Imports numba; import lazily. :func:`agglomerate` repeats, merge by merge, what
``hierarchical._Agglomeration`` does with NumPy array operations: the same slots, the same
floating-point operations in the same order (no fast-math: no reassociation, no fused
multiply-add; ``math.log`` and NumPy's ``log`` both call the C library's here), the same
rules for ties, so both paths give the same bits and the same merges. Module level, so
that numba caches the machine code on disk.

Layout, as in the NumPy path: ``scaled_mean`` is (D, slots) holding √n × mean of each
group; ``scatter`` is (D(D+1)/2, slots) holding the packed upper triangle of each group's
scatter W about its mean, entry (j, l) in row ``entry[j, l]``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["agglomerate"]

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def _determinant(matrix: np.ndarray, inverse: float) -> float:  # pragma: no cover - compiled
    """|W/n| by a Cholesky factorisation in place over the upper triangle; 0 if W is not PD."""
    n_features = matrix.shape[0]
    determinant = 1.0
    for j in range(n_features):
        pivot = matrix[j, j]
        for k in range(j):
            pivot = pivot - matrix[k, j] * matrix[k, j]
        if not pivot > 0:
            return 0.0
        determinant = determinant * (pivot * inverse)
        if j + 1 < n_features:
            inverse_root = 1.0 / math.sqrt(pivot)
            for col in range(j + 1, n_features):
                value = matrix[j, col]
                for k in range(j):
                    value = value - matrix[k, j] * matrix[k, col]
                matrix[j, col] = value * inverse_root
    return determinant


@numba.njit(**_JIT)
def _union(
    slot: int,
    other: int,
    count: np.ndarray,
    scaled_mean: np.ndarray,
    trace: np.ndarray,
    scatter: np.ndarray,
    entry: np.ndarray,
    singleton: np.ndarray,
    alpha: float,
    beta: float,
    v: np.ndarray,
    matrix: np.ndarray,
) -> tuple[float, float]:  # pragma: no cover - compiled
    """Criterion n·log(|W/n|·[used] + β(tr W + α)/n) and trace of the union (slot, other)."""
    n_features = scaled_mean.shape[0]
    count_a = count[slot]
    count_b = count[other]
    total = count_a + count_b
    inverse = 1.0 / total
    factor_a = math.sqrt(count_a * inverse)
    factor_b = math.sqrt(count_b * inverse)
    both_single = singleton[slot] and singleton[other]
    for k in range(n_features):
        if both_single:
            v[k] = (scaled_mean[k, other] - scaled_mean[k, slot]) * math.sqrt(0.5)
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
        spread = spread + _determinant(matrix, inverse)
    return total * math.log(spread), merged_trace


@numba.njit(**_JIT)
def _rescan(
    cost: np.ndarray, column: int, column_min: np.ndarray, column_arg: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Minimum of a column over the rows above it; ties go to the last row."""
    best = column - 1
    for row in range(column - 2, -1, -1):
        if cost[column, row] < cost[column, best]:
            best = row
    column_min[column] = cost[column, best]
    column_arg[column] = best


@numba.njit(**_JIT)
def _offer(
    cost: np.ndarray, row: int, column: int, column_min: np.ndarray, column_arg: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Update a column's minimum after its entry in ``row`` changed, row < column."""
    value = cost[row, column]
    if value < column_min[column] or (value == column_min[column] and row > column_arg[column]):
        column_min[column] = value
        column_arg[column] = row


@numba.njit(**_JIT)
def _move_slot(
    source: int,
    target: int,
    live: int,
    arrays: tuple,
    scaled_mean: np.ndarray,
    scatter: np.ndarray,
    cost: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Move the group of slot ``source`` (the last) into ``target``; clear the last slot."""
    count, trace, term, singleton, name = arrays
    if target != source:
        count[target] = count[source]
        trace[target] = trace[source]
        term[target] = term[source]
        singleton[target] = singleton[source]
        name[target] = name[source]
        scaled_mean[:, target] = scaled_mean[:, source]
        scatter[:, target] = scatter[:, source]
        for r in range(live):
            cost[target, r] = cost[source, r]
        for r in range(live):
            cost[r, target] = cost[r, source]
        cost[target, target] = np.inf
    for r in range(live):
        cost[source, r] = np.inf
        cost[r, source] = np.inf


@numba.njit(**_JIT)
def agglomerate(
    scaled_mean: np.ndarray,
    count: np.ndarray,
    alpha: float,
    beta: float,
    entry: np.ndarray,
    upper_rows: np.ndarray,
    upper_cols: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; held to the NumPy path by the tests
    """Merges (kept, absorbed) of the whole agglomeration; the inputs are overwritten.

    ``scaled_mean`` (D, n) and ``count`` (n,) describe the starting groups (√n × mean);
    ``entry``, ``upper_rows``, ``upper_cols`` the packing of the upper triangle. See
    ``hierarchical._Agglomeration`` for the algorithm and its tie rules.
    """
    n_features, n_groups = scaled_mean.shape
    trace = np.zeros(n_groups)
    scatter = np.zeros((upper_rows.shape[0], n_groups))
    singleton = count == 1.0
    term = np.empty(n_groups)
    for k in range(n_groups):
        term[k] = count[k] * math.log(beta * (trace[k] + alpha) / count[k])
    name = np.arange(n_groups)
    arrays = (count, trace, term, singleton, name)
    state = (count, scaled_mean, trace, scatter, entry, singleton)
    v = np.empty(n_features)
    matrix = np.empty((n_features, n_features))
    cost = np.full((n_groups, n_groups), np.inf)
    for j in range(1, n_groups):
        for i in range(j):
            merged, _ = _union(j, i, *state, alpha, beta, v, matrix)
            cost[j, i] = merged - (term[i] + term[j])
            cost[i, j] = cost[j, i]
    column_min = np.full(n_groups, np.inf)
    column_arg = np.zeros(n_groups, dtype=np.intp)
    for column in range(1, n_groups):
        _rescan(cost, column, column_min, column_arg)
    fresh_term = np.empty(n_groups)
    fresh_trace = np.empty(n_groups)
    fresh_slot = -1
    merges = np.empty((n_groups - 1, 2), dtype=np.intp)
    for step in range(n_groups - 1):
        live = n_groups - step
        j = live - 1
        for column in range(live - 2, 0, -1):
            if column_min[column] < column_min[j]:
                j = column
        i = column_arg[j]
        if fresh_slot == i or fresh_slot == j:
            other = j if fresh_slot == i else i
            merged_term, merged_trace = fresh_term[other], fresh_trace[other]
        else:
            merged_term, merged_trace = _union(j, i, *state, alpha, beta, v, matrix)
            # The first pair comes straight from the scan of all pairs; later, mclust
            # adds the parts' criteria back to the stored change.
            if step > 0:
                merged_term = cost[i, j] + (term[i] + term[j])
        count_i, count_j = count[i], count[j]
        total = count_i + count_j
        inverse = 1.0 / total
        for k in range(n_features):
            mean_i, mean_j = scaled_mean[k, i], scaled_mean[k, j]
            if singleton[i] and singleton[j]:
                v[k] = (mean_j - mean_i) * math.sqrt(0.5)
            else:
                v[k] = math.sqrt(count_i * inverse) * mean_j - math.sqrt(count_j * inverse) * mean_i
            scaled_mean[k, i] = (
                math.sqrt(count_i * inverse) * mean_i + math.sqrt(count_j * inverse) * mean_j
            )
        for e in range(upper_rows.shape[0]):
            scatter[e, i] = (scatter[e, i] + scatter[e, j]) + v[upper_rows[e]] * v[upper_cols[e]]
        merges[step, 0] = min(name[i], name[j])
        merges[step, 1] = max(name[i], name[j])
        count[i] = total
        trace[i] = merged_trace
        term[i] = merged_term
        singleton[i] = False
        name[i] = merges[step, 0]
        _move_slot(live - 1, j, live, arrays, scaled_mean, scatter, cost)
        live -= 1
        if live < 2:
            break
        for other in range(live):
            if other != i:
                fresh_term[other], fresh_trace[other] = _union(
                    i, other, *state, alpha, beta, v, matrix
                )
                cost[i, other] = fresh_term[other] - (term[other] + term[i])
                cost[other, i] = cost[i, other]
        fresh_slot = i
        # Columns whose minimum sat on a changed entry are scanned again; the others only
        # compare their new entries with their minimum.
        for column in range(1, live):
            arg = column_arg[column]
            if column == i or column == j or arg == i or (arg == j and column > j):
                _rescan(cost, column, column_min, column_arg)
                continue
            if column > i:
                _offer(cost, i, column, column_min, column_arg)
            if j < live and column > j:
                _offer(cost, j, column, column_min, column_arg)
    return merges
