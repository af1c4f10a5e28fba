"""The compiled loops behind :mod:`gaussmix.fused` (imports numba; import it lazily).

Module-level functions, so that numba caches their machine code on disk (``cache=True``)
and a new process loads it instead of compiling again (about 5 s).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["augment", "exp", "exp_nonpositive", "sweep", "upper_scatter"]

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
    n = (clamped * LOG2_E + ROUND_SHIFT) - ROUND_SHIFT
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
    scale = float_from_bits((np.int64(n) + 1023) << 52)
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
    exponent = work[0]
    top = work[1]
    total = work[2]
    for i in range(n_rows):
        top[i] = -np.inf
    # Exponents −Σ_d q_kd P_kdn² and their maximum over components, per row.
    for k in range(n_components):
        for i in range(n_rows):
            exponent[i] = log_constants[k]
        for d in range(n_features):
            weight = quadratic[k, d]
            if shared_base:
                # Differences from the shared base are recomputed where needed
                # rather than stored: a store per (k, d, n) costs more than the
                # subtraction.
                source = base[d]
                offset = offsets[k, d]
                for i in range(n_rows):
                    value = source[i] - offset
                    exponent[i] -= weight * value * value
            else:
                source = differences[k * n_features + d]
                for i in range(n_rows):
                    value = source[i]
                    exponent[i] -= weight * value * value
        current = responsibilities[k]
        for i in range(n_rows):
            value = exponent[i]
            current[i] = value
            # A select, not a conditional store, so that the loop vectorises.
            top[i] = value if value > top[i] else top[i]
    # Max-shifted log-sum-exp; a row whose every component has weight zero keeps 0.
    for i in range(n_rows):
        if not np.isfinite(top[i]):
            top[i] = 0.0
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
    if not moments:
        for i in range(n_rows):
            exponent[i] = top[i] + math.log(total[i])
            total[i] = 1.0 / total[i]
    elif weighted:
        for i in range(n_rows):
            w = sample_weight[i]
            total_weight += w
            # Rows of weight zero contribute nothing, even where p(x) underflows.
            if w > 0:
                log_likelihood += w * (top[i] + math.log(total[i]))
            total[i] = w / total[i]
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
            total[i] = 1.0 / total[i]
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
        for d in range(n_features):
            centred = rows[d]
            accumulated = 0.0
            for i in range(n_rows):
                accumulated += current[i] * centred[i]
            first[k, d] = accumulated
        if not compiled_scatter:
            continue
        if not second_full:
            for d in range(n_features):
                accumulated = 0.0
                if shared_base:
                    source = base[d]
                    offset = offsets[k, d]
                    for i in range(n_rows):
                        value = source[i] - offset
                        accumulated += current[i] * value * value
                else:
                    left = differences[k * n_features + d]
                    for i in range(n_rows):
                        accumulated += current[i] * left[i] * left[i]
                second[k, d, d] = accumulated
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
