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

import threading
from functools import cache
from typing import Any

import numpy as np

from gaussmix.kernels import (
    FLOAT32_EXPONENT_FLOOR,
    ChunkMoments,
    PreparedParameters,
    WhitenedKind,
)

__all__ = ["available", "chunk_moments", "packed_moments", "posterior", "unpack"]

# Above this many features the second moment is left to BLAS, one GEMM per component:
# with the rows in cache, the compiled dot products beat OpenBLAS's thin GEMMs up to
# D = 16 on the 2-core AMD EPYC of issue 3 and lose beyond.
_COMPILED_SCATTER_MAX_FEATURES = 16

# Exponents (relative to the row's largest) below which a responsibility is set to 0:
# the array kernels' float32 floor (see there), and in float64 where exp itself flushes
# to zero (2⁻¹⁰²¹).
_EXPONENT_FLOOR = {np.dtype(np.float32): FLOAT32_EXPONENT_FLOOR, np.dtype(np.float64): -708.0}


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
def _kernels() -> Any:
    """The compiled loops; numba is imported here, on first use, not with this module."""
    from gaussmix import _compiled

    return _compiled


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
            "work": 3,
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
) -> tuple[_Buffers, np.ndarray]:
    """Run the compiled sweep on one chunk; ``kind=None`` asks for the posterior only."""
    kernels = _kernels()
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
    # One vector [n_k, first, second, Σ w log p, Σ w] per chunk: summing chunks is then one
    # addition on the calling thread, which holds the GIL the workers also need.
    packed = np.zeros(_packed_size(n_components, n_features))
    n_k, first, second = _unpacked_views(packed, n_components, n_features)
    weights = np.empty(0, dtype) if sample_weight is None else sample_weight
    totals = kernels.sweep(
        rows,
        base,
        form != "full",
        prepared.offsets,
        prepared.quadratic_weights[:, 0, :],
        prepared.log_constants,
        _EXPONENT_FLOOR[dtype],
        weights,
        sample_weight is not None,
        moments,
        second_full,
        compiled_scatter,
        differences,
        buffers.view("responsibilities"),
        buffers.view("work"),
        buffers.view("weighted"),
        n_k,
        first,
        second,
    )
    if not compiled_scatter:
        _blas_scatter(buffers, base, prepared, second)
    packed[-2:] = totals
    return buffers, packed


def _packed_size(n_components: int, n_features: int) -> int:
    return n_components * (1 + n_features + n_features * n_features) + 2


def _unpacked_views(
    packed: np.ndarray, n_components: int, n_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views ``n_k`` (K,), ``first`` (K, D) and ``second`` (K, D, D) of a packed vector."""
    first_end = n_components * (1 + n_features)
    second_end = first_end + n_components * n_features * n_features
    return (
        packed[:n_components],
        packed[n_components:first_end].reshape(n_components, n_features),
        packed[first_end:second_end].reshape(n_components, n_features, n_features),
    )


def packed_moments(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    prepared: PreparedParameters,
    kind: WhitenedKind,
) -> np.ndarray:
    """The moments of one chunk as one float64 vector, additive over chunks.

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
    ndarray of shape (K·(1 + D + D²) + 2,)
        ``[n_k, first, upper triangle of second, Σ w log p(x), Σ w]``; sum chunks, then
        :func:`unpack`.
    """
    return _sweep(X, sample_weight, prepared, kind)[1]


def unpack(packed: np.ndarray, prepared: PreparedParameters, kind: WhitenedKind) -> ChunkMoments:
    """The :class:`~gaussmix.kernels.ChunkMoments` of a (sum of) :func:`packed_moments`.

    Parameters
    ----------
    packed : ndarray
        From :func:`packed_moments`, or a sum of them.
    prepared : PreparedParameters
        The mixture they were computed under.
    kind : {"diagonal", "full"}
        The whitened second moment they hold.

    Returns
    -------
    ChunkMoments
        NumPy float64 arrays.
    """
    n_k, first, second = _unpacked_views(packed, prepared.n_components, prepared.n_features)
    if kind == "full":
        # The sweep (or BLAS) filled the upper triangle; mirror it.
        second = np.triu(second) + np.swapaxes(np.triu(second, 1), 1, 2)
    else:
        second = np.diagonal(second, axis1=1, axis2=2).copy()
    return ChunkMoments(
        n_k=n_k.copy(),
        first=first.copy(),
        second=second,
        total_weight=np.float64(packed[-1]),
        log_likelihood=np.float64(packed[-2]),
    )


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
    return unpack(packed_moments(X, sample_weight, prepared, kind), prepared, kind)


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
    buffers, _ = _sweep(X, None, prepared, None)
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
    _kernels().exp(flat, out)
    return out.reshape(np.shape(values))
