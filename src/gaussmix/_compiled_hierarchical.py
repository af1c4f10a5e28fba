"""The whole VVV agglomeration of :mod:`gaussmix.hierarchical` in one compiled call.

Imports numba; import lazily. :func:`agglomerate` repeats, merge by merge, what
``hierarchical._Agglomeration`` does with NumPy array operations: the same slots, the same
floating-point operations in the same order (no fast-math: no reassociation, no fused
multiply-add; ``math.log`` and NumPy's ``log`` both call the C library's here), the same
rules for ties, so both paths give the same bits and the same merges. Module level, so
that numba caches the machine code on disk.

Layout, as in the NumPy path: ``scaled_mean`` is (D, slots) holding √n × mean of each
group; ``scatter`` is (D(D+1)/2, slots) holding the packed upper triangle of each group's
scatter W about its mean (``np.triu_indices`` order). The criteria of the unions of one
group with a range of others are computed a step at a time over the whole range (loops
over the pairs innermost, which LLVM vectorises): one pair at a time, with the small
matrices in arrays, was 3–4 times slower (2,000 rows: 0.6 s against 0.17 s).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["agglomerate"]

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def _differences(
    slot: int,
    start: int,
    stop: int,
    count: np.ndarray,
    scaled_mean: np.ndarray,
    singleton: np.ndarray,
    work: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Rows 0 … D − 1 of ``work``: v = √(n_a n_b / n)(mean_b − mean_a) of each union.

    Row D holds n, row D + 1 holds 1/n; every loop runs over the pairs, so it vectorises.
    """
    n_features = scaled_mean.shape[0]
    total, inverse = work[n_features], work[n_features + 1]
    count_a = count[slot]
    half = math.sqrt(0.5)
    for b in range(stop - start):
        total[b] = count_a + count[start + b]
        inverse[b] = 1.0 / total[b]
    for k in range(n_features):
        v = work[k]
        mean_a = scaled_mean[k, slot]
        for b in range(stop - start):
            other = start + b
            if singleton[slot] and singleton[other]:
                # Two single rows: mclust forms (x_b − x_a)/√2 directly.
                v[b] = (scaled_mean[k, other] - mean_a) * half
            else:
                factor_a = math.sqrt(count_a * inverse[b])
                factor_b = math.sqrt(count[other] * inverse[b])
                v[b] = factor_a * scaled_mean[k, other] - factor_b * mean_a


@numba.njit(**_JIT)
def _determinants(
    slot: int,
    start: int,
    stop: int,
    scatter: np.ndarray,
    upper_rows: np.ndarray,
    upper_cols: np.ndarray,
    work: np.ndarray,
    n_features: int,
) -> None:  # pragma: no cover - compiled
    """Row D + 2 of ``work``: |W/n| of each union, 0 where W is not positive definite.

    W = W_a + W_b + v vᵀ is factorised W = RᵀR over all pairs at once, row by row of R
    (row D + 3 flags positive pivots, rows D + 4 … hold the packed upper triangle).
    """
    inverse, determinant = work[n_features + 1], work[n_features + 2]
    positive = work[n_features + 3]
    base = n_features + 4
    n = stop - start
    for e in range(upper_rows.shape[0]):
        packed, v_row, v_col = work[base + e], work[upper_rows[e]], work[upper_cols[e]]
        for b in range(n):
            packed[b] = (scatter[e, start + b] + scatter[e, slot]) + v_row[b] * v_col[b]
    determinant[:n] = 1.0
    positive[:n] = 1.0
    for j in range(n_features):
        pivot = work[base + _packed(j, j, n_features)]
        for k in range(j):
            above = work[base + _packed(k, j, n_features)]
            for b in range(n):
                pivot[b] = pivot[b] - above[b] * above[b]
        for b in range(n):
            determinant[b] = determinant[b] * (pivot[b] * inverse[b])
            # Not positive, or NaN after an earlier failure.
            if not pivot[b] > 0:
                positive[b] = 0.0
        for col in range(j + 1, n_features):
            value = work[base + _packed(j, col, n_features)]
            for k in range(j):
                left = work[base + _packed(k, j, n_features)]
                right = work[base + _packed(k, col, n_features)]
                for b in range(n):
                    value[b] = value[b] - left[b] * right[b]
            for b in range(n):
                value[b] = value[b] * (1.0 / math.sqrt(pivot[b]))
    for b in range(n):
        if positive[b] == 0.0:
            determinant[b] = 0.0


@numba.njit(**_JIT)
def _packed(row: int, col: int, n_features: int) -> int:  # pragma: no cover - compiled
    """Position of entry (row, col), row ≤ col, in the packed upper triangle (triu order)."""
    return row * n_features - (row * (row - 1)) // 2 + (col - row)


@numba.njit(**_JIT)
def _unions(
    slot: int,
    start: int,
    stop: int,
    count: np.ndarray,
    scaled_mean: np.ndarray,
    trace: np.ndarray,
    scatter: np.ndarray,
    singleton: np.ndarray,
    alpha: float,
    beta: float,
    upper_rows: np.ndarray,
    upper_cols: np.ndarray,
    work: np.ndarray,
    out_term: np.ndarray,
    out_trace: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Criterion n·log(|W/n|·[used] + β(tr W + α)/n) and trace of each union (slot, other).

    ``out_*[b]`` is for the union of ``slot`` with slot ``start + b``; the operations are
    those of ``hierarchical._Agglomeration.pair_spreads``, element by element.
    """
    n_features = scaled_mean.shape[0]
    _differences(slot, start, stop, count, scaled_mean, singleton, work)
    total = work[n_features]
    n = stop - start
    for b in range(n):
        squares = work[0, b] * work[0, b]
        for k in range(1, n_features):
            squares = squares + work[k, b] * work[k, b]
        out_trace[b] = (trace[start + b] + trace[slot]) + squares
    needed = False
    for b in range(n):
        both_single = singleton[slot] and singleton[start + b]
        if total[b] > n_features and not both_single and out_trace[b] != 0.0:
            needed = True
    if needed:
        _determinants(slot, start, stop, scatter, upper_rows, upper_cols, work, n_features)
    determinant = work[n_features + 2]
    for b in range(n):
        spread = beta * (out_trace[b] + alpha) / total[b]
        both_single = singleton[slot] and singleton[start + b]
        if needed and total[b] > n_features and not both_single and out_trace[b] != 0.0:
            spread = spread + determinant[b]
        out_term[b] = total[b] * math.log(spread)


# A block's minimum is exact whatever the order of its comparisons; the flags let LLVM
# vectorise it (no NaN reaches the cost matrix: every spread is positive and finite).
@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"nnan", "nsz"})
def _block_min(values: np.ndarray, start: int, stop: int) -> float:  # pragma: no cover
    """min(values[start:stop])."""
    smallest = np.inf
    for k in range(start, stop):
        smallest = min(smallest, values[k])
    return smallest


@numba.njit(**_JIT)
def _rescan(
    cost: np.ndarray, column: int, column_min: np.ndarray, column_arg: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Minimum of a column over the rows above it; ties go to the last row.

    The matrix is symmetric, so row ``column`` (contiguous) is read; blocks of 32 are
    searched for the position only when their minimum is at most the best so far.
    """
    values = cost[column]
    best = np.inf
    arg = column - 1
    for start in range(0, column, 32):
        stop = min(start + 32, column)
        smallest = _block_min(values, start, stop)
        if smallest <= best:
            best = smallest
            for row in range(stop - 1, start - 1, -1):
                if values[row] == smallest:
                    arg = row
                    break
    column_min[column] = values[arg]
    column_arg[column] = arg


@numba.njit(**_JIT)
def _update_stale(
    cost: np.ndarray,
    column: int,
    i: int,
    j: int,
    column_min: np.ndarray,
    column_arg: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """New minimum of a column whose minimum sat on row i or j, whose entries changed.

    The unchanged rows hold values at least the old minimum, so a changed entry strictly
    below it is the new minimum (of the changed rows i < j, the later on a tie); otherwise
    the column is scanned again.
    """
    arg = i
    if j < column and cost[column, j] <= cost[column, i]:
        arg = j
    if cost[column, arg] < column_min[column]:
        column_min[column] = cost[column, arg]
        column_arg[column] = arg
    else:
        _rescan(cost, column, column_min, column_arg)


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
    arrays: tuple,
    scaled_mean: np.ndarray,
    scatter: np.ndarray,
    cost: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Move the group of slot ``source`` (the last) into ``target``.

    The last slot's row and column are left as they are: nothing reads beyond the live
    slots, and no diagonal entry is read. The column is written from the row (the matrix
    is symmetric), so that only one strided pass over the matrix is made.
    """
    count, trace, term, singleton, name = arrays
    if target == source:
        return
    count[target] = count[source]
    trace[target] = trace[source]
    term[target] = term[source]
    singleton[target] = singleton[source]
    name[target] = name[source]
    scaled_mean[:, target] = scaled_mean[:, source]
    scatter[:, target] = scatter[:, source]
    for r in range(source):
        cost[target, r] = cost[source, r]
    for r in range(source):
        cost[r, target] = cost[target, r]


@numba.njit(**_JIT)
def _mirror(cost: np.ndarray) -> None:  # pragma: no cover - compiled
    """Copy the lower triangle onto the upper one, in tiles (a column write per row is slow)."""
    n = cost.shape[0]
    for top in range(0, n, 64):
        for left in range(0, top + 1, 64):
            for row in range(top, min(top + 64, n)):
                for col in range(left, min(left + 64, row)):
                    cost[col, row] = cost[row, col]


@numba.njit(**_JIT)
def _absorb(
    i: int,
    j: int,
    count: np.ndarray,
    scaled_mean: np.ndarray,
    scatter: np.ndarray,
    singleton: np.ndarray,
    upper_rows: np.ndarray,
    upper_cols: np.ndarray,
    v: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Mean, scatter and count of the union of slots i < j, written into slot i."""
    count_i, count_j = count[i], count[j]
    total = count_i + count_j
    inverse = 1.0 / total
    for k in range(scaled_mean.shape[0]):
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
    count[i] = total
    singleton[i] = False


@numba.njit(**_JIT)
def _update_columns(
    cost: np.ndarray, live: int, i: int, j: int, column_min: np.ndarray, column_arg: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Column minima after slot i got new costs and the last slot moved into slot j."""
    for column in range(1, live):
        arg = column_arg[column]
        if column == i or column == j:
            _rescan(cost, column, column_min, column_arg)
        elif arg == i or (arg == j and column > j):
            _update_stale(cost, column, i, j, column_min, column_arg)
        else:
            # The minimum did not sit on a changed entry: compare the new entries with it.
            if column > i:
                _offer(cost, i, column, column_min, column_arg)
            if j < live and column > j:
                _offer(cost, j, column, column_min, column_arg)


@numba.njit(**_JIT)
def agglomerate(
    scaled_mean: np.ndarray,
    count: np.ndarray,
    alpha: float,
    beta: float,
    upper_rows: np.ndarray,
    upper_cols: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; held to the NumPy path by the tests
    """Merges (kept, absorbed) of the whole agglomeration; the inputs are overwritten.

    ``scaled_mean`` (D, n) and ``count`` (n,) describe the starting groups (√n × mean);
    ``upper_rows``, ``upper_cols`` list the upper triangle's entries in packed order. See
    ``hierarchical._Agglomeration`` for the algorithm and its tie rules.
    """
    n_features, n_groups = scaled_mean.shape
    trace = np.zeros(n_groups)
    scatter = np.zeros((upper_rows.shape[0], n_groups))
    singleton = count == 1.0
    term = count * np.log(beta * (trace + alpha) / count)
    name = np.arange(n_groups)
    work = np.empty((n_features + 4 + upper_rows.shape[0], n_groups))
    packing = (upper_rows, upper_cols, work)
    state = (count, scaled_mean, trace, scatter, singleton, alpha, beta, *packing)
    fresh_term, fresh_trace = np.empty(n_groups), np.empty(n_groups)
    cost = np.full((n_groups, n_groups), np.inf)
    for j in range(1, n_groups):
        _unions(j, 0, j, *state, fresh_term, fresh_trace)
        for i in range(j):
            cost[j, i] = fresh_term[i] - (term[i] + term[j])
    _mirror(cost)
    column_min = np.full(n_groups, np.inf)
    column_arg = np.zeros(n_groups, dtype=np.intp)
    for column in range(1, n_groups):
        _rescan(cost, column, column_min, column_arg)
    fresh_slot = -1
    merged = np.empty(1), np.empty(1)
    v = np.empty(n_features)
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
            merged[0][0], merged[1][0] = fresh_term[other], fresh_trace[other]
        else:
            _unions(j, i, i + 1, *state, merged[0], merged[1])
            # The first pair comes straight from the scan of all pairs; later, mclust
            # adds the parts' criteria back to the stored change.
            if step > 0:
                merged[0][0] = cost[i, j] + (term[i] + term[j])
        _absorb(i, j, count, scaled_mean, scatter, singleton, upper_rows, upper_cols, v)
        merges[step, 0] = min(name[i], name[j])
        merges[step, 1] = max(name[i], name[j])
        trace[i], term[i], name[i] = merged[1][0], merged[0][0], merges[step, 0]
        _move_slot(live - 1, j, (count, trace, term, singleton, name), scaled_mean, scatter, cost)
        live -= 1
        if live < 2:
            break
        _unions(i, 0, live, *state, fresh_term, fresh_trace)
        for other in range(live):
            if other != i:
                cost[i, other] = fresh_term[other] - (term[other] + term[i])
                cost[other, i] = cost[i, other]
        fresh_slot = i
        _update_columns(cost, live, i, j, column_min, column_arg)
    return merges
