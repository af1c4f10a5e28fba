"""Fused E-step of one chunk for the NumPy backend, compiled with numba (extra ``fast``).

:mod:`gaussmix.kernels` states the chunk mathematics once, as array operations; on NumPy
each operation is a pass over a (K × D × rows) temporary, and float64 ``exp`` runs one
value at a time. This module evaluates the *same* quantities from the *same*
:class:`~gaussmix.kernels.PreparedParameters` in one compiled sweep per chunk: after the
projection GEMM, every later step (differences, exponents, log-sum-exp, responsibilities,
moments) reads rows that are still in cache, into buffers that a thread allocates once
and reuses for every chunk and iteration. Parameter preparation, the unwhitening and the
M-step are not duplicated: they stay in :mod:`gaussmix.kernels` and :mod:`gaussmix.mstep`.
The tests hold both evaluations, and an independent scipy reference, to 1e-12.

Layout: rows last (``(D + 1, rows)`` augmented rows, ``(K·D, rows)`` differences), so that
every inner loop runs along contiguous rows and is vectorised by LLVM even when D is 2.

Without numba, :func:`available` is False and the backend keeps the array kernels.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from gaussmix.kernels import ChunkMoments, PreparedParameters, WhitenedKind

__all__ = ["FusedKernels", "available", "fused_kernels"]

# Above this many features the second moment is left to BLAS, one GEMM per component:
# with the rows in cache, the compiled dot products beat OpenBLAS's thin GEMMs up to
# D = 16 on the 2-core AMD EPYC of issue 3 and lose beyond.
_COMPILED_SCATTER_MAX_FEATURES = 16


@cache
def available() -> bool:
    """Whether numba can be imported (``pip install 'gaussmix[fast]'``).

    Returns
    -------
    bool
    """
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def fused_kernels() -> FusedKernels:
    """The compiled kernels (compiled on first use, cached on disk by numba).

    Returns
    -------
    FusedKernels
    """
    return FusedKernels(*_compile())


@dataclass(frozen=True)
class FusedKernels:
    """The two compiled sweeps; see :func:`_compile`."""

    augment: Any
    sweep: Any
    exp: Any


def _compile() -> tuple[Any, Any, Any]:
    """Define and compile the kernels (numba is imported only here)."""
    import numba
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    # Reassociation lets LLVM vectorise the sums over rows; contraction gives FMAs.
    # NaN and infinity stay IEEE: log π_k = −inf must give a responsibility of exactly 0.
    fast = {"reassoc", "contract", "nsz", "arcp"}
    jit = numba.njit(nogil=True, fastmath=fast, cache=True)

    @intrinsic
    def float_from_bits(typingctx: Any, bits: Any) -> Any:
        """Reinterpret an int64 as a float64 (a bitcast LLVM can vectorise)."""
        signature = types.float64(types.int64)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.bitcast(args[0], ir.DoubleType())

        return signature, codegen

    # exp(x) = 2ⁿ·exp(r), x = n ln 2 + r, |r| ≤ ½ ln 2; ln 2 split in two (Cody–Waite) so
    # that r is exact; exp(r) by its Taylor series to r¹³/13! (truncation < 2⁻⁵⁵).
    ln2_high = 6.93147180369123816490e-01
    ln2_low = 1.90821492927058770002e-10
    log2_e = 1.44269504088896338700e00
    # Adding 1.5·2⁵² rounds to the nearest integer in one instruction (unlike floor,
    # which LLVM does not always vectorise).
    round_shift = 6755399441055744.0
    c2, c3, c4, c5 = 1 / 2, 1 / 6, 1 / 24, 1 / 120
    c6, c7, c8, c9 = 1 / 720, 1 / 5040, 1 / 40320, 1 / 362880
    c10, c11, c12, c13 = 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800

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
        n = (clamped * log2_e + round_shift) - round_shift
        r = (clamped - n * ln2_high) - n * ln2_low
        p = c12 + r * c13
        p = c11 + r * p
        p = c10 + r * p
        p = c9 + r * p
        p = c8 + r * p
        p = c7 + r * p
        p = c6 + r * p
        p = c5 + r * p
        p = c4 + r * p
        p = c3 + r * p
        p = c2 + r * p
        p = 1.0 + r * p
        p = 1.0 + r * p
        scale = float_from_bits((np.int64(n) + 1023) << 52)
        return p * scale if x >= -708.0 else 0.0

    @jit
    def augment(X: Any, center: Any, rows: Any) -> None:
        """``rows = [(X − c)ᵀ; 1ᵀ]``: the centred chunk, rows last, with a ones row."""
        n_rows, n_features = X.shape
        for i in range(n_rows):
            for d in range(n_features):
                rows[d, i] = X[i, d] - center[d]
        for i in range(n_rows):
            rows[n_features, i] = 1.0

    @jit
    def sweep(
        rows: Any,
        base: Any,
        shared_base: bool,
        offsets: Any,
        quadratic: Any,
        log_constants: Any,
        sample_weight: Any,
        weighted: bool,
        moments: bool,
        second_full: bool,
        compiled_scatter: bool,
        differences: Any,
        responsibilities: Any,
        work: Any,
        n_k: Any,
        first: Any,
        second: Any,
    ) -> tuple[float, float]:
        """E-step of one chunk, rows last; returns ``(Σ w log p(x), Σ w)``.

        With ``shared_base`` (tied, diagonal, spherical) the differences of component k
        are ``base − offsets_k``, recomputed where needed; otherwise (full form)
        ``differences`` (K·D, n) holds them, the GEMM having subtracted the offsets.
        ``responsibilities`` (K, n) receives w_n γ_nk; ``work`` (4, n) is scratch.
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
        scratch = work[3]
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
                value = exp_nonpositive(current[i] - top[i])
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
            for d in range(n_features):
                if shared_base:
                    source = base[d]
                    offset = offsets[k, d]
                    for i in range(n_rows):
                        scratch[i] = source[i] - offset
                    left = scratch
                else:
                    left = differences[k * n_features + d]
                if not second_full:
                    accumulated = 0.0
                    for i in range(n_rows):
                        accumulated += current[i] * left[i] * left[i]
                    second[k, d, d] = accumulated
                    continue
                for i in range(n_rows):
                    exponent[i] = current[i] * left[i]
                for e in range(d, n_features):
                    if shared_base:
                        source = base[e]
                        offset = offsets[k, e]
                        accumulated = 0.0
                        for i in range(n_rows):
                            accumulated += exponent[i] * (source[i] - offset)
                    else:
                        right = differences[k * n_features + e]
                        accumulated = 0.0
                        for i in range(n_rows):
                            accumulated += exponent[i] * right[i]
                    second[k, d, e] = accumulated
        return log_likelihood, total_weight

    @jit
    def exp(values: Any, out: Any) -> None:
        """``out = exp(values)`` elementwise, for values ≤ 0."""
        for i in range(values.shape[0]):
            out[i] = exp_nonpositive(values[i])

    return augment, sweep, exp


class _Buffers:
    """One thread's scratch for chunks of up to ``capacity`` rows (reused, never freed).

    The buffers are flat, and a chunk of ``n`` rows takes C-contiguous (·, n) views of
    their beginnings: a column slice of a 2-D buffer would have a row stride numba
    cannot assume to be one, and its loops would not vectorise.
    """

    def __init__(self, capacity: int, n_components: int, n_features: int, dtype: np.dtype):
        self.key = (capacity, n_components, n_features, dtype)
        self.n_rows = 0
        sizes = {
            "rows": n_features + 1,
            "base": n_features,
            "differences": n_components * n_features,
            "responsibilities": n_components,
            "work": 4,
            "weighted": n_features,
        }
        self._flat = {name: np.empty(size * capacity, dtype) for name, size in sizes.items()}
        self._sizes = sizes
        self.product = np.empty((n_features, n_features), dtype)

    def fits(self, n_rows: int, n_components: int, n_features: int, dtype: np.dtype) -> bool:
        """Whether a chunk of this shape fits."""
        return self.key[0] >= n_rows and self.key[1:] == (n_components, n_features, dtype)

    def view(self, name: str) -> np.ndarray:
        """The (size, n_rows) C-contiguous view of buffer ``name`` for the current chunk."""
        size = self._sizes[name]
        return self._flat[name][: size * self.n_rows].reshape(size, self.n_rows)


_local = threading.local()


def _buffers(n_rows: int, n_components: int, n_features: int, dtype: np.dtype) -> _Buffers:
    """This thread's buffers, reallocated only when the shape of the problem changes."""
    held = getattr(_local, "buffers", None)
    if held is None or not held.fits(n_rows, n_components, n_features, dtype):
        held = _Buffers(n_rows, n_components, n_features, dtype)
        _local.buffers = held
    held.n_rows = n_rows
    return held


def _sweep(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    prepared: PreparedParameters,
    kind: WhitenedKind | None,
) -> tuple[_Buffers, tuple[float, float], np.ndarray, np.ndarray, np.ndarray]:
    """Run the compiled sweep on one chunk; ``kind=None`` asks for the posterior only."""
    kernels = fused_kernels()
    n_rows, n_features = X.shape
    n_components = prepared.n_components
    dtype = X.dtype
    buffers = _buffers(n_rows, n_components, n_features, dtype)
    rows = buffers.view("rows")
    differences = buffers.view("differences")
    kernels.augment(X, prepared.center, rows)
    form = prepared.form
    if form == "full":
        # One GEMM projects every row onto every component's factor, the ones row
        # subtracting the offsets: the differences come out of BLAS finished.
        np.matmul(prepared.projection, rows, out=differences)
        base = differences
    elif form == "tied":
        base = buffers.view("base")
        np.matmul(prepared.projection, rows[:n_features], out=base)
    else:
        base = rows[:n_features]
    moments = kind is not None
    second_full = kind == "full"
    compiled_scatter = n_features <= _COMPILED_SCATTER_MAX_FEATURES or not second_full
    n_k = np.zeros(n_components)
    first = np.zeros((n_components, n_features))
    second = np.zeros((n_components, n_features, n_features))
    weights = np.empty(0, dtype) if sample_weight is None else sample_weight
    totals = kernels.sweep(
        rows,
        base,
        form != "full",
        prepared.offsets,
        prepared.quadratic_weights[:, 0, :],
        prepared.log_constants,
        weights,
        sample_weight is not None,
        moments,
        second_full,
        compiled_scatter,
        differences,
        buffers.view("responsibilities"),
        buffers.view("work"),
        n_k,
        first,
        second,
    )
    if not compiled_scatter:
        _blas_scatter(buffers, base, prepared, second)
    return buffers, totals, n_k, first, second


def chunk_moments(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    prepared: PreparedParameters,
    kind: WhitenedKind,
) -> ChunkMoments:
    """Fused :func:`gaussmix.kernels.chunk_moments` for NumPy arrays.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        One chunk of rows, float32 or float64, C-contiguous.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights in the dtype of ``X``.
    prepared : PreparedParameters
        The mixture, as NumPy arrays in the dtype of ``X``.
    kind : {"diagonal", "full"}
        The whitened second moment to accumulate.

    Returns
    -------
    ChunkMoments
        NumPy float64 arrays, the same moments as the array kernels (sums within the
        chunk run in float64 here, so float32 chunks are slightly more accurate).
    """
    _, (log_likelihood, total_weight), n_k, first, second = _sweep(X, sample_weight, prepared, kind)
    if kind == "full":
        # The sweep (or BLAS) filled the upper triangle; mirror it.
        upper = np.triu(second)
        second = upper + np.swapaxes(np.triu(second, 1), 1, 2)
    else:
        second = np.diagonal(second, axis1=1, axis2=2).copy()
    return ChunkMoments(
        n_k=n_k,
        first=first,
        second=second,
        total_weight=np.float64(total_weight),
        log_likelihood=np.float64(log_likelihood),
    )


def _blas_scatter(
    buffers: _Buffers, base: np.ndarray, prepared: PreparedParameters, second: np.ndarray
) -> None:
    """Σ_n r_nk P_kn P_knᵀ by one GEMM per component (wide D), into ``second``."""
    n_features = prepared.n_features
    differences = buffers.view("differences")
    responsibilities = buffers.view("responsibilities")
    weighted = buffers.view("weighted")
    for k in range(prepared.n_components):
        block = differences[k * n_features : (k + 1) * n_features]
        if prepared.form != "full":
            # The sweep did not store the differences from the shared base.
            np.subtract(base, prepared.offsets[k][:, None], out=block)
        np.multiply(block, responsibilities[k], out=weighted)
        np.matmul(weighted, block.T, out=buffers.product)
        # Only the upper triangle is read, as from the compiled scatter.
        second[k] = np.triu(buffers.product)


def posterior(X: np.ndarray, prepared: PreparedParameters) -> tuple[np.ndarray, np.ndarray]:
    """Fused :func:`gaussmix.kernels.posterior` for NumPy arrays.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        One chunk of rows.
    prepared : PreparedParameters
        The mixture, as NumPy arrays in the dtype of ``X``.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
    responsibilities : ndarray of shape (n_samples, n_components)
    """
    buffers, _, _, _, _ = _sweep(X, None, prepared, None)
    log_norm = buffers.view("work")[0].copy()
    return log_norm, buffers.view("responsibilities").T.copy()


def exp_nonpositive(values: np.ndarray) -> np.ndarray:
    """The compiled sweep's exp, applied elementwise (exposed for the tests).

    Parameters
    ----------
    values : ndarray
        Non-positive values (−inf allowed).

    Returns
    -------
    ndarray of float64, the shape of ``values``
    """
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    out = np.empty_like(flat)
    fused_kernels().exp(flat, out)
    return out.reshape(np.shape(values))
