"""The compiled loops behind :mod:`gaussmix.fused` (imports numba; import it lazily).

Module-level functions, so that numba caches their machine code on disk (``cache=True``)
and a new process loads it instead of compiling again (10–15 s per dtype on the 2-core
machine).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = [
    "FULL",
    "PLAIN",
    "SPHERICAL",
    "TIED",
    "augment",
    "bits_from_float",
    "block_moments",
    "evaluate_chunk",
    "exp",
    "exp_nonpositive",
    "first_and_diagonal",
    "posterior",
    "scratch_views",
    "subtract_squares",
    "sweep",
    "upper_scatter",
    "whole_statistics",
    "wide_scatter",
]

# Reassociation lets LLVM vectorise the sums over rows; contraction gives FMAs.
# NaN and infinity stay IEEE: log π_k = −inf must give a responsibility of exactly 0.
_FAST = {"reassoc", "contract", "nsz", "arcp"}
_jit = numba.njit(nogil=True, fastmath=_FAST, cache=True)


@intrinsic
def float_from_bits(typingctx: Any, bits: Any) -> Any:
    """Reinterpret an int64 as a float64 (a bitcast LLVM can vectorise)."""
    signature = types.float64(types.int64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return signature, codegen


@intrinsic
def bits_from_float(typingctx: Any, value: Any) -> Any:
    """Reinterpret a float64 as an int64."""
    signature = types.int64(types.float64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return signature, codegen


# exp(x) = 2ⁿ·exp(r), x = n ln 2 + r, |r| ≤ ½ ln 2; ln 2 split in two (Cody–Waite) so
# that r is exact; exp(r) by its Taylor series to r¹³/13! (truncation < 2⁻⁵⁵).
LN2_HIGH = 6.93147180369123816490e-01
LN2_LOW = 1.90821492927058770002e-10
LOG2_E = 1.44269504088896338700e00
# Adding 1.5·2⁵² rounds to the nearest integer in one instruction (unlike floor,
# which LLVM does not always vectorise).
ROUND_SHIFT = 6755399441055744.0
C2, C3, C4, C5 = 1 / 2, 1 / 6, 1 / 24, 1 / 120
C6, C7, C8, C9 = 1 / 720, 1 / 5040, 1 / 40320, 1 / 362880
C10, C11, C12, C13 = 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800


# Its own flags: reassociation would undo the exact splitting of the reduction. LLVM
# keeps them per instruction when it inlines this into the sweep.
@numba.njit(nogil=True, fastmath={"contract"}, cache=True)
def exp_nonpositive(x: float) -> float:
    """exp(x) for x ≤ 0 (−inf included) to about one ulp, vectorisable.

    ``math.exp`` is one libm call per value here (numba has no vector maths on this
    CPU); this one is straight-line arithmetic. Below −708, exp(x) < 2⁻¹⁰²¹ is
    flushed to zero: a responsibility that small is zero against the row's largest,
    which is one.
    """
    clamped = max(x, -708.0)
    shifted = clamped * LOG2_E + ROUND_SHIFT
    n = shifted - ROUND_SHIFT
    r = (clamped - n * LN2_HIGH) - n * LN2_LOW
    p = C12 + r * C13
    p = C11 + r * p
    p = C10 + r * p
    p = C9 + r * p
    p = C8 + r * p
    p = C7 + r * p
    p = C6 + r * p
    p = C5 + r * p
    p = C4 + r * p
    p = C3 + r * p
    p = C2 + r * p
    p = 1.0 + r * p
    p = 1.0 + r * p
    # The low bits of the shifted sum hold n; adding the bias and shifting them into the
    # exponent field gives 2ⁿ with integer operations AVX2 has (it lacks a vector
    # float-to-int64 conversion).
    scale = float_from_bits((bits_from_float(shifted) + 1023) << 52)
    return p * scale if x >= -708.0 else 0.0


@_jit
def augment(X: Any, center: Any, rows: Any) -> None:
    """``rows = [(X − c)ᵀ; 1ᵀ]``: the centred chunk, rows last, with a ones row."""
    n_rows, n_features = X.shape
    for i in range(n_rows):
        for d in range(n_features):
            rows[d, i] = X[i, d] - center[d]
    for i in range(n_rows):
        rows[n_features, i] = 1.0


@_jit
def subtract_squares(
    out: Any, constant: float, sources: Any, row0: int, shift: Any, weights: Any
) -> None:
    """``out = constant − Σ_d weights_d (sources[row0 + d] − shift_d)²`` along the rows.

    Four features per pass over the rows: one load and store of ``out`` serve four
    squares instead of one (the differences of a shared base are recomputed here rather
    than stored: a store per (k, d, n) costs more than the subtraction).
    """
    n_features = weights.shape[0]
    n_rows = out.shape[0]
    for i in range(n_rows):
        out[i] = constant
    d = 0
    while d + 3 < n_features:
        s0 = sources[row0 + d]
        s1 = sources[row0 + d + 1]
        s2 = sources[row0 + d + 2]
        s3 = sources[row0 + d + 3]
        o0, o1, o2, o3 = shift[d], shift[d + 1], shift[d + 2], shift[d + 3]
        w0, w1, w2, w3 = weights[d], weights[d + 1], weights[d + 2], weights[d + 3]
        for i in range(n_rows):
            v0 = s0[i] - o0
            v1 = s1[i] - o1
            v2 = s2[i] - o2
            v3 = s3[i] - o3
            out[i] -= (w0 * v0 * v0 + w1 * v1 * v1) + (w2 * v2 * v2 + w3 * v3 * v3)
        d += 4
    while d < n_features:
        source = sources[row0 + d]
        offset = shift[d]
        weight = weights[d]
        for i in range(n_rows):
            value = source[i] - offset
            out[i] -= weight * value * value
        d += 1


@_jit
def first_and_diagonal(
    current: Any,
    rows: Any,
    sources: Any,
    row0: int,
    shift: Any,
    diagonal: bool,
    first: Any,
    second: Any,
) -> None:
    """``first_d = Σ_n r_n rows[d, n]`` and, with ``diagonal``, ``second_dd = Σ_n r_n P_dn²``.

    ``P_d = sources[row0 + d] − shift_d``. Four features share each pass over the rows,
    so one load of ``r`` feeds eight sums.
    """
    n_features = shift.shape[0]
    n_rows = current.shape[0]
    d = 0
    while d + 3 < n_features:
        x0, x1, x2, x3 = rows[d], rows[d + 1], rows[d + 2], rows[d + 3]
        f0 = f1 = f2 = f3 = 0.0
        if diagonal:
            s0 = sources[row0 + d]
            s1 = sources[row0 + d + 1]
            s2 = sources[row0 + d + 2]
            s3 = sources[row0 + d + 3]
            o0, o1, o2, o3 = shift[d], shift[d + 1], shift[d + 2], shift[d + 3]
            q0 = q1 = q2 = q3 = 0.0
            for i in range(n_rows):
                r = current[i]
                f0 += r * x0[i]
                f1 += r * x1[i]
                f2 += r * x2[i]
                f3 += r * x3[i]
                v0 = s0[i] - o0
                v1 = s1[i] - o1
                v2 = s2[i] - o2
                v3 = s3[i] - o3
                q0 += r * v0 * v0
                q1 += r * v1 * v1
                q2 += r * v2 * v2
                q3 += r * v3 * v3
            second[d, d] = q0
            second[d + 1, d + 1] = q1
            second[d + 2, d + 2] = q2
            second[d + 3, d + 3] = q3
        else:
            for i in range(n_rows):
                r = current[i]
                f0 += r * x0[i]
                f1 += r * x1[i]
                f2 += r * x2[i]
                f3 += r * x3[i]
        first[d] = f0
        first[d + 1] = f1
        first[d + 2] = f2
        first[d + 3] = f3
        d += 4
    while d < n_features:
        centred = rows[d]
        accumulated = 0.0
        if diagonal:
            source = sources[row0 + d]
            offset = shift[d]
            squares = 0.0
            for i in range(n_rows):
                r = current[i]
                accumulated += r * centred[i]
                value = source[i] - offset
                squares += r * value * value
            second[d, d] = squares
        else:
            for i in range(n_rows):
                accumulated += current[i] * centred[i]
        first[d] = accumulated
        d += 1


@_jit
def upper_scatter(weighted: Any, differences: Any, first_row: int, second: Any) -> None:
    """``second[d, e] = Σ_n weighted[d, n] · differences[first_row + e, n]`` for e ≥ d.

    Blocks of 2 × 4 entries share one pass over the rows: 6 loads feed 8 multiply-adds,
    where one entry at a time needs 2 loads per multiply-add (1.6× faster at D = 8, 16).
    """
    n_features, n_rows = weighted.shape
    d = 0
    while d + 1 < n_features:
        upper = weighted[d]
        lower = weighted[d + 1]
        # Entry (d + 1, d) of the first block lies below the diagonal and is never read.
        e = d
        while e + 3 < n_features:
            r0 = differences[first_row + e]
            r1 = differences[first_row + e + 1]
            r2 = differences[first_row + e + 2]
            r3 = differences[first_row + e + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = 0.0
            for i in range(n_rows):
                a = upper[i]
                b = lower[i]
                s00 += a * r0[i]
                s01 += a * r1[i]
                s02 += a * r2[i]
                s03 += a * r3[i]
                s10 += b * r0[i]
                s11 += b * r1[i]
                s12 += b * r2[i]
                s13 += b * r3[i]
            second[d, e] = s00
            second[d, e + 1] = s01
            second[d, e + 2] = s02
            second[d, e + 3] = s03
            second[d + 1, e] = s10
            second[d + 1, e + 1] = s11
            second[d + 1, e + 2] = s12
            second[d + 1, e + 3] = s13
            e += 4
        while e < n_features:
            right = differences[first_row + e]
            s0 = s1 = 0.0
            for i in range(n_rows):
                s0 += upper[i] * right[i]
                s1 += lower[i] * right[i]
            second[d, e] = s0
            second[d + 1, e] = s1
            e += 1
        d += 2
    if d < n_features:
        right = differences[first_row + d]
        upper = weighted[d]
        accumulated = 0.0
        for i in range(n_rows):
            accumulated += upper[i] * right[i]
        second[d, d] = accumulated


@_jit
def sweep(
    rows: Any,
    base: Any,
    shared_base: bool,
    offsets: Any,
    quadratic: Any,
    log_constants: Any,
    floor: float,
    sample_weight: Any,
    weighted: bool,
    moments: bool,
    second_full: bool,
    compiled_scatter: bool,
    differences: Any,
    responsibilities: Any,
    work: Any,
    products: Any,
    n_k: Any,
    first: Any,
    second: Any,
) -> tuple[float, float]:
    """E-step of one chunk, rows last; returns ``(Σ w log p(x), Σ w)``.

    With ``shared_base`` (tied, diagonal, spherical) the differences of component k
    are ``base − offsets_k``, recomputed where needed; otherwise (full form)
    ``differences`` (K·D, n) holds them, the GEMM having subtracted the offsets.
    ``responsibilities`` (K, n) receives w_n γ_nk; ``work`` (3, n) and ``products``
    (D, n) are scratch.
    Components whose exponent lies more than ``−floor`` below the row's largest get a
    responsibility of exactly 0 (keeps float32 arithmetic out of the subnormal range).
    With ``moments``, ``n_k``, ``first`` and ``second`` (float64) receive Σ r,
    Σ r (x − c) and Σ r P Pᵀ (upper triangle; only its diagonal unless
    ``second_full``; left to BLAS unless ``compiled_scatter``). Without
    ``moments``, ``work[0]`` receives log p(x_n) per row.
    """
    n_components, n_features = offsets.shape
    n_rows = rows.shape[1]
    log_norm = work[0]
    top = work[1]
    total = work[2]
    for i in range(n_rows):
        top[i] = -np.inf
    # Without a shared base the GEMM has already subtracted the offsets.
    sources = base if shared_base else differences
    no_offsets = np.zeros(n_features, dtype=offsets.dtype)
    # Exponents −Σ_d q_kd P_kdn² and their maximum over components, per row.
    for k in range(n_components):
        current = responsibilities[k]
        row0 = 0 if shared_base else k * n_features
        shift = offsets[k] if shared_base else no_offsets
        subtract_squares(current, log_constants[k], sources, row0, shift, quadratic[k])
        for i in range(n_rows):
            value = current[i]
            # A select, not a conditional store, so that the loop vectorises. A NaN
            # exponent (an overflow inside the projection) never wins: its component gets
            # no responsibility, the limit of an overflowing distance.
            top[i] = value if value > top[i] else top[i]
    # Max-shifted log-sum-exp. A row without a finite largest exponent (far from every
    # component: its squares overflowed) gets NaN as its shift, hence no responsibility
    # and a NaN log-density: the caller evaluates it again (kernels.far_row_posterior),
    # or the E-step reports it.
    for i in range(n_rows):
        if not np.isfinite(top[i]):
            top[i] = np.nan
        total[i] = 0.0
    for k in range(n_components):
        current = responsibilities[k]
        for i in range(n_rows):
            shifted = current[i] - top[i]
            # A select, as above: the loop stays vectorised.
            value = exp_nonpositive(shifted) if shifted >= floor else 0.0
            current[i] = value
            total[i] += value
    log_likelihood = 0.0
    total_weight = 0.0
    # total ≥ 1 wherever the shift is finite; 0 (no responsibility) for the rows above.
    if not moments:
        for i in range(n_rows):
            log_norm[i] = top[i] + math.log(total[i])
            total[i] = 1.0 / total[i] if total[i] > 0.0 else 0.0
    elif weighted:
        for i in range(n_rows):
            w = sample_weight[i]
            total_weight += w
            # Rows of weight zero contribute nothing, even where p(x) underflows.
            if w > 0:
                log_likelihood += w * (top[i] + math.log(total[i]))
            total[i] = w / total[i] if total[i] > 0.0 else 0.0
    else:
        # Σ log total_n = log Π total_n over groups of 32 rows: each factor is in
        # [1, K], so a group cannot overflow, and 31 of 32 logarithms are saved.
        product = 1.0
        for i in range(n_rows):
            log_likelihood += top[i]
            product *= total[i]
            if i % 32 == 31:
                log_likelihood += math.log(product)
                product = 1.0
            total[i] = 1.0 / total[i] if total[i] > 0.0 else 0.0
        log_likelihood += math.log(product)
        total_weight = float(n_rows)
    for k in range(n_components):
        current = responsibilities[k]
        mass = 0.0
        for i in range(n_rows):
            value = current[i] * total[i]
            current[i] = value
            mass += value
        if not moments:
            continue
        n_k[k] = mass
        row0 = 0 if shared_base else k * n_features
        shift = offsets[k] if shared_base else no_offsets
        diagonal = compiled_scatter and not second_full
        first_and_diagonal(current, rows, sources, row0, shift, diagonal, first[k], second[k])
        if not compiled_scatter or not second_full:
            continue
        first_row = k * n_features
        for d in range(n_features):
            target = products[d]
            if shared_base:
                # The blocked scatter reads each difference several times, so here
                # they are stored once (the differences buffer is free in this form).
                source = base[d]
                offset = offsets[k, d]
                stored = differences[first_row + d]
                for i in range(n_rows):
                    value = source[i] - offset
                    stored[i] = value
                    target[i] = current[i] * value
            else:
                left = differences[first_row + d]
                for i in range(n_rows):
                    target[i] = current[i] * left[i]
        upper_scatter(products, differences, first_row, second[k])
    return log_likelihood, total_weight


@_jit
def exp(values: Any, out: Any) -> None:
    """``out = exp(values)`` elementwise, for values ≤ 0."""
    for i in range(values.shape[0]):
        out[i] = exp_nonpositive(values[i])


# How the rows reach the differences: one GEMM with the stacked factors and the offsets
# (full), one GEMM with the shared factor (tied), or none (diagonal, spherical).
FULL, TIED, PLAIN = 0, 1, 2
# The layout of the precision factors that :func:`whole_statistics` reads: PLAIN stands
# for (K, D) diagonal scales there, SPHERICAL for (K,) scales (both evaluated as PLAIN).
SPHERICAL = 3
# The scatter kinds :func:`whole_statistics` returns.
SCATTER_TRACE, SCATTER_DIAGONAL, SCATTER_FULL = 0, 1, 2
# The constants of gaussmix.kernels, as the same float64 values.
LOG_2PI = float(np.log(2.0 * np.pi))
SQRT_HALF = float(np.sqrt(0.5))
TINY = float(np.finfo(np.float64).tiny)


@_jit
def wide_scatter(
    base: Any,
    shared_base: bool,
    offsets: Any,
    differences_flat: Any,
    responsibilities: Any,
    products: Any,
    product: Any,
    second: Any,
) -> None:
    """Upper triangles of Σ_n r_nk P_kn P_knᵀ by one BLAS GEMM per component (wide D)."""
    n_components, n_features = offsets.shape
    n_rows = responsibilities.shape[1]
    size = n_features * n_rows
    for k in range(n_components):
        block = differences_flat[k * size : (k + 1) * size].reshape(n_features, n_rows)
        if shared_base:
            # The sweep did not store the differences from the shared base.
            for d in range(n_features):
                offset = offsets[k, d]
                for i in range(n_rows):
                    block[d, i] = base[d, i] - offset
        current = responsibilities[k]
        for d in range(n_features):
            for i in range(n_rows):
                products[d, i] = block[d, i] * current[i]
        np.dot(products, block.T, product)
        for d in range(n_features):
            for e in range(d, n_features):
                second[k, d, e] = product[d, e]


@_jit
def scratch_views(scratch: Any, n_rows: int, n_components: int, n_features: int) -> tuple:
    """Cut one thread's flat scratch into the C-contiguous (·, n) arrays of one chunk.

    Returns the augmented rows (D + 1, n), their first D rows, the tied base (D, n), the
    flat differences (K·D·n), the responsibilities (K, n), the work rows (3, n) and the
    scatter products (D, n); together (2D + 1 + K·D + K + 3 + D)·n entries, one
    allocation per thread instead of one per array.
    """
    sizes = (
        (n_features + 1) * n_rows,
        n_features * n_rows,
        n_components * n_features * n_rows,
        n_components * n_rows,
        3 * n_rows,
    )
    rows = scratch[: sizes[0]].reshape(n_features + 1, n_rows)
    head = scratch[: sizes[1]].reshape(n_features, n_rows)
    start = sizes[0]
    tied_base = scratch[start : start + sizes[1]].reshape(n_features, n_rows)
    start += sizes[1]
    differences_flat = scratch[start : start + sizes[2]]
    start += sizes[2]
    responsibilities = scratch[start : start + sizes[3]].reshape(n_components, n_rows)
    start += sizes[3]
    work = scratch[start : start + sizes[4]].reshape(3, n_rows)
    start += sizes[4]
    products = scratch[start : start + sizes[1]].reshape(n_features, n_rows)
    return rows, head, tied_base, differences_flat, responsibilities, work, products


@_jit
def evaluate_chunk(
    X: Any,
    sample_weight: Any,
    weighted: bool,
    mixture: tuple,
    moments: bool,
    second_full: bool,
    compiled_scatter: bool,
    scratch: Any,
    product: Any,
    n_k: Any,
    first: Any,
    second: Any,
) -> tuple[float, float]:
    """The E-step of one chunk of rows: centring, projection GEMM, sweep (and wide scatter).

    ``mixture`` is ``(form_code, center, projection, offsets, quadratic, log_constants,
    floor)`` (see :func:`gaussmix.fused._mixture`). ``scratch`` is a flat buffer in X's
    dtype (see :func:`scratch_views`); without ``moments`` its work row 0 receives
    log p(x_n) and its responsibilities γ_nk. Returns the sweep's ``(Σ w log p(x), Σ w)``.
    """
    form_code, center, projection, offsets, quadratic, log_constants, floor = mixture
    n_rows, n_features = X.shape
    rows, head, tied_base, differences_flat, responsibilities, work, products = scratch_views(
        scratch, n_rows, offsets.shape[0], n_features
    )
    differences = differences_flat.reshape(-1, n_rows)
    augment(X, center, rows)
    if form_code == FULL:
        # One GEMM projects every row onto every component's factor, the ones row
        # subtracting the offsets: the differences come out of BLAS finished.
        np.dot(projection, rows, differences)
        base = differences
    elif form_code == TIED:
        np.dot(projection, head, tied_base)
        base = tied_base
    else:
        base = head
    shared_base = form_code != FULL
    totals = sweep(
        rows,
        base,
        shared_base,
        offsets,
        quadratic,
        log_constants,
        floor,
        sample_weight,
        weighted,
        moments,
        second_full,
        compiled_scatter,
        differences,
        responsibilities,
        work,
        products,
        n_k,
        first,
        second,
    )
    if moments and not compiled_scatter:
        wide_scatter(
            base,
            shared_base,
            offsets,
            differences_flat,
            responsibilities,
            products,
            product,
            second,
        )
    return totals


@_jit
def block_moments(
    X: Any,
    start: int,
    stop: int,
    chunk_size: int,
    sample_weight: Any,
    weighted: bool,
    mixture: tuple,
    second_full: bool,
    compiled_scatter: bool,
    scratch: Any,
    product: Any,
    chunk_packed: Any,
    packed: Any,
) -> None:
    """Add the packed moments of rows ``start:stop``, chunk after chunk in order, to ``packed``.

    ``packed`` and ``chunk_packed`` are float64 vectors ``[n_k, first, second, Σ w log p,
    Σ w]`` (see :func:`gaussmix.fused.block_moments`). One call covers many chunks, so
    the Python cost (and the GIL hand-off) is paid once per block, not once per chunk.
    """
    n_components, n_features = mixture[3].shape  # the offsets
    first_end = n_components * (1 + n_features)
    second_end = first_end + n_components * n_features * n_features
    n_k = chunk_packed[:n_components]
    first = chunk_packed[n_components:first_end].reshape(n_components, n_features)
    second = chunk_packed[first_end:second_end].reshape(n_components, n_features, n_features)
    size = packed.shape[0]
    for begin in range(start, stop, chunk_size):
        end = min(begin + chunk_size, stop)
        chunk_packed[:] = 0.0
        totals = evaluate_chunk(
            X[begin:end],
            sample_weight[begin:end] if weighted else sample_weight,
            weighted,
            mixture,
            True,
            second_full,
            compiled_scatter,
            scratch,
            product,
            n_k,
            first,
            second,
        )
        chunk_packed[size - 2] = totals[0]
        chunk_packed[size - 1] = totals[1]
        for j in range(size):
            packed[j] += chunk_packed[j]


@_jit
def posterior(
    X: Any,
    chunk_size: int,
    mixture: tuple,
    scratch: Any,
    product: Any,
    log_norm: Any,
    responsibilities: Any,
) -> None:
    """``log_norm`` (n,) and ``responsibilities`` (n, K) of a block of rows, chunk by chunk."""
    n_rows, n_features = X.shape
    n_components = mixture[3].shape[0]  # the offsets
    # Without moments these are never read: empty placeholders, made once per block.
    no_weights = np.empty(0, dtype=X.dtype)
    no_n_k = np.empty(0)
    no_first = np.empty((0, 0))
    no_second = np.empty((0, 0, 0))
    for begin in range(0, n_rows, chunk_size):
        end = min(begin + chunk_size, n_rows)
        evaluate_chunk(
            X[begin:end],
            no_weights,
            False,
            mixture,
            False,
            False,
            True,
            scratch,
            product,
            no_n_k,
            no_first,
            no_second,
        )
        views = scratch_views(scratch, end - begin, n_components, n_features)
        rows_last = views[4]
        work = views[5]
        for i in range(end - begin):
            log_norm[begin + i] = work[0, i]
        for i in range(end - begin):
            for k in range(n_components):
                responsibilities[begin + i, k] = rows_last[k, i]


@_jit
def prepare_mixture(layout: int, weights: Any, means: Any, factors: Any, dtype_of: Any) -> tuple:
    """The prepared mixture of :func:`gaussmix.kernels.prepare_parameters`, from the parameters.

    The same quantities in the same float64 arithmetic (sums in another order), cast to
    the dtype of ``dtype_of`` at the end: the centre ``c``, the (scaled) projection, the
    offsets, the quadratic weights and the log-constants. ``factors`` is the flat
    float64 precision factor in the layout ``layout`` (FULL (K, D, D), TIED (D, D),
    PLAIN (K, D) scales, SPHERICAL (K,) scales). Returns ``(first_bad, center64,
    center, projection, offsets, quadratic, log_constants)``; ``first_bad`` is −1, or
    the first component whose log-determinant is not finite (the arrays are then not
    to be used).
    """
    n_components, n_features = means.shape
    dtype = dtype_of.dtype
    total = 0.0
    for k in range(n_components):
        total += weights[k]
    denominator = max(total, TINY)
    center64 = np.zeros(n_features)
    for k in range(n_components):
        for d in range(n_features):
            center64[d] += weights[k] * means[k, d]
    for d in range(n_features):
        center64[d] = center64[d] / denominator
    shifted = np.empty((n_components, n_features))
    for k in range(n_components):
        for d in range(n_features):
            shifted[k, d] = means[k, d] - center64[d]
    offsets = np.empty((n_components, n_features), dtype)
    quadratic = np.ones((n_components, n_features), dtype)
    log_det = np.zeros(n_components)
    square = n_features * n_features
    if layout == FULL:
        projection = np.empty((n_components * n_features, n_features + 1), dtype)
        for k in range(n_components):
            base = k * square
            for e in range(n_features):
                accumulated = 0.0
                for d in range(n_features):
                    accumulated += shifted[k, d] * factors[base + d * n_features + e]
                offset = accumulated * SQRT_HALF
                offsets[k, e] = offset
                row = k * n_features + e
                for d in range(n_features):
                    projection[row, d] = factors[base + d * n_features + e] * SQRT_HALF
                projection[row, n_features] = -offset
            for d in range(n_features):
                log_det[k] += np.log(factors[base + d * n_features + d])
    elif layout == TIED:
        projection = np.empty((n_features, n_features), dtype)
        for e in range(n_features):
            for d in range(n_features):
                projection[e, d] = factors[d * n_features + e] * SQRT_HALF
        shared = 0.0
        for d in range(n_features):
            shared += np.log(factors[d * n_features + d])
        for k in range(n_components):
            log_det[k] = shared
            for e in range(n_features):
                accumulated = 0.0
                for d in range(n_features):
                    accumulated += shifted[k, d] * factors[d * n_features + e]
                offsets[k, e] = accumulated * SQRT_HALF
    else:
        projection = np.empty((0, 0), dtype)
        for k in range(n_components):
            for d in range(n_features):
                offsets[k, d] = shifted[k, d]
                scale = factors[k * n_features + d] if layout == PLAIN else factors[k]
                quadratic[k, d] = 0.5 * (scale * scale)
            if layout == PLAIN:
                for d in range(n_features):
                    log_det[k] += np.log(factors[k * n_features + d])
            else:
                log_det[k] = n_features * np.log(factors[k])
    first_bad = -1
    log_constants = np.empty(n_components, dtype)
    constant = 0.5 * n_features * LOG_2PI
    for k in range(n_components):
        if not np.isfinite(log_det[k]) and first_bad < 0:
            first_bad = k
        # A weight of exactly zero gives log 0 = −inf: that component owns no point.
        log_constants[k] = (np.log(weights[k]) + log_det[k]) - constant
    center = np.empty(n_features, dtype)
    for d in range(n_features):
        center[d] = center64[d]
    return first_bad, center64, center, projection, offsets, quadratic, log_constants


@_jit
def upper_inverse(factors: Any, base: int, n_features: int, inverse: Any) -> None:
    """``inverse = U⁻¹`` of the upper-triangular ``U = factors[base:].reshape(D, D)``."""
    for j in range(n_features):
        for i in range(n_features - 1, -1, -1):
            accumulated = 1.0 if i == j else 0.0
            for m in range(i + 1, n_features):
                accumulated -= factors[base + i * n_features + m] * inverse[m, j]
            inverse[i, j] = accumulated / factors[base + i * n_features + i]


@_jit
def whole_statistics(
    X: Any,
    sample_weight: Any,
    weighted: bool,
    layout: int,
    scatter_kind: int,
    chunk_size: int,
    weights: Any,
    means: Any,
    factors: Any,
    floor: float,
    scratch: Any,
    product: Any,
    n_k: Any,
    weighted_sum: Any,
    scatter: Any,
) -> tuple:
    """One E-step over all rows of X in one call: preparation, moments and unwhitening.

    :func:`prepare_mixture` (the parameters laid out as
    :func:`gaussmix.kernels.prepare_parameters` does), :func:`block_moments` over all of
    X chunk after chunk, then the host part of :func:`gaussmix.kernels.unwhiten` (for the
    full and tied forms ``2 A_kᵀ (Σ r P Pᵀ) A_k`` with ``A_k = U_k⁻¹``), written into
    ``n_k`` (K,), ``weighted_sum`` (K, D) and the flat ``scatter`` ((K,), (K·D) or (K·D·D)
    entries for the trace, diagonal or full kind; float64 arrays given by the caller:
    arrays returned from compiled code cost more to hand over). Returns ``(first_bad,
    Σ w log p, Σ w)``; when ``first_bad`` ≥ 0 no E-step was run (see
    :func:`prepare_mixture`).
    """
    n_components, n_features = means.shape
    first_bad, center64, center, projection, offsets, quadratic, log_constants = prepare_mixture(
        layout, weights, means, factors, X
    )
    square = n_features * n_features
    size = n_components * (1 + n_features + square) + 2
    if first_bad >= 0:
        return first_bad, 0.0, 0.0
    form_code = PLAIN if layout == SPHERICAL else layout
    mixture = (form_code, center, projection, offsets, quadratic, log_constants, floor)
    whitened_full = layout == FULL or layout == TIED or scatter_kind == SCATTER_FULL
    compiled_scatter = n_features <= 16 or not whitened_full
    packed = np.zeros(size)
    chunk_packed = np.empty(size)
    block_moments(
        X,
        0,
        X.shape[0],
        chunk_size,
        sample_weight,
        weighted,
        mixture,
        whitened_full,
        compiled_scatter,
        scratch,
        product,
        chunk_packed,
        packed,
    )
    first_end = n_components * (1 + n_features)
    for k in range(n_components):
        n_k[k] = packed[k]
        for d in range(n_features):
            weighted_sum[k, d] = packed[n_components + k * n_features + d] - n_k[k] * (
                means[k, d] - center64[d]
            )
    # The sweep (or BLAS) filled the upper triangle of each second moment.
    second = np.empty((n_features, n_features))
    inverse = np.empty((n_features, n_features))
    left = np.empty((n_features, n_features))
    unwhitened = np.empty((n_features, n_features))
    for k in range(n_components):
        base = first_end + k * square
        if not whitened_full:
            # Diagonal forms, diagonal moment: the differences were x − μ_k, unscaled.
            trace = 0.0
            for d in range(n_features):
                value = packed[base + d * n_features + d]
                trace += value
                if scatter_kind == SCATTER_DIAGONAL:
                    scatter[k * n_features + d] = value
            if scatter_kind == SCATTER_TRACE:
                scatter[k] = trace
            continue
        for d in range(n_features):
            for e in range(d, n_features):
                value = packed[base + d * n_features + e]
                second[d, e] = value
                second[e, d] = value
        if layout == FULL or layout == TIED:
            # The differences carried √½: doubling is exact. Then A_kᵀ S A_k.
            for d in range(n_features):
                for e in range(n_features):
                    second[d, e] = 2.0 * second[d, e]
            if layout == FULL or k == 0:
                upper_inverse(factors, k * square if layout == FULL else 0, n_features, inverse)
            for i in range(n_features):
                for j in range(n_features):
                    accumulated = 0.0
                    for m in range(n_features):
                        accumulated += inverse[m, i] * second[m, j]
                    left[i, j] = accumulated
            for i in range(n_features):
                for j in range(n_features):
                    accumulated = 0.0
                    for m in range(n_features):
                        accumulated += left[i, m] * inverse[m, j]
                    unwhitened[i, j] = accumulated
        else:
            for d in range(n_features):
                for e in range(n_features):
                    unwhitened[d, e] = second[d, e]
        if scatter_kind == SCATTER_FULL:
            for i in range(n_features):
                for j in range(n_features):
                    scatter[k * square + i * n_features + j] = 0.5 * (
                        unwhitened[i, j] + unwhitened[j, i]
                    )
        else:
            trace = 0.0
            for d in range(n_features):
                trace += unwhitened[d, d]
                if scatter_kind == SCATTER_DIAGONAL:
                    scatter[k * n_features + d] = unwhitened[d, d]
            if scatter_kind == SCATTER_TRACE:
                scatter[k] = trace
    return first_bad, packed[size - 2], packed[size - 1]
