"""Fused E-step for the NumPy backend, compiled with numba (extra ``fast``).

:mod:`gaussmix.kernels` states the chunk mathematics once, as array operations; on NumPy
each operation is a pass over a (K × D × rows) temporary, and float64 ``exp`` runs one
value at a time. This module evaluates the *same* quantities from the *same*
:class:`~gaussmix.kernels.PreparedParameters` in compiled code: one call visits a block of
chunks (:func:`block_moments`), and for each chunk the projection GEMM and every later step
(differences, exponents, log-sum-exp, responsibilities, moments) read rows that are still in
cache, in a scratch buffer that a thread allocates once and reuses for every chunk and
iteration. Parameter preparation, the unwhitening and the
M-step are not duplicated: they stay in :mod:`gaussmix.kernels` and :mod:`gaussmix.mstep`.
The tests hold both evaluations, and an independent scipy reference, to 1e-12.

Layout: rows last (``(D + 1, rows)`` augmented rows, ``(K·D, rows)`` differences), so that
every inner loop runs along contiguous rows and is vectorised by LLVM even when D is 2.

Without numba, :func:`available` is False and the backend keeps the array kernels. Each
compiled function is compiled (or loaded from numba's cache) at its first call through
:func:`gaussmix.compiling.call`, off the caller's thread, so that Ctrl-C acts at once.
"""

from __future__ import annotations

import math
import threading
from functools import cache
from typing import Any

import numpy as np

from gaussmix import compiling
from gaussmix.covariance.base import ScatterKind
from gaussmix.covariance.forms import CovarianceForm, SecondMoment, collapse_error
from gaussmix.kernels import (
    FLOAT32_EXPONENT_FLOOR,
    ChunkMoments,
    PreparedParameters,
    far_rows_error,
    prepare_parameters,
    repair_far_rows,
)
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics, scatter_shape

__all__ = [
    "available",
    "block_moments",
    "chunk_moments",
    "load_block_kernels",
    "posterior",
    "unpack",
    "whole_statistics",
]

# Above this many features the second moment is left to BLAS, one GEMM per component:
# with the rows in cache, the compiled dot products beat OpenBLAS's thin GEMMs up to
# D = 16 on the shared 2-core AMD EPYC and lose beyond (P3 of benchmarks/bench_em.py,
# 200,000 × 16, K = 16, against P5, 100,000 × 64, K = 32).
_COMPILED_SCATTER_MAX_FEATURES = 16

# Exponents (relative to the row's largest) below which a responsibility is set to 0:
# the array kernels' float32 floor (see there), and in float64 where exp itself flushes
# to zero (2⁻¹⁰²¹).
_EXPONENT_FLOOR = {np.dtype(np.float32): FLOAT32_EXPONENT_FLOOR, np.dtype(np.float64): -708.0}

# The codes of :mod:`gaussmix._compiled` for each form (its FULL, TIED, PLAIN and
# SPHERICAL constants; ``tests/backends/test_contract.py`` holds them together). The chunk
# sweep reads prepared parameters, where both elementwise forms are PLAIN (K, D) scales;
# ``whole_statistics`` reads the raw factors, whose spherical layout is (K,).
_SWEEP_CODES = {
    CovarianceForm.FULL: 0,
    CovarianceForm.TIED: 1,
    CovarianceForm.DIAGONAL: 2,
    CovarianceForm.SPHERICAL: 2,
}
_LAYOUTS = {
    CovarianceForm.FULL: 0,
    CovarianceForm.TIED: 1,
    CovarianceForm.DIAGONAL: 2,
    CovarianceForm.SPHERICAL: 3,
}
# The scatter kinds of :func:`gaussmix._compiled.whole_statistics` (its SCATTER_TRACE,
# SCATTER_DIAGONAL and SCATTER_FULL).
_SCATTER_KINDS = {"trace": 0, "diagonal": 1, "full": 2}


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


class _Scratch:
    """One thread's scratch for chunks of up to ``capacity`` rows (reused, never freed).

    One flat buffer, which the compiled code cuts into C-contiguous (·, n) arrays for a
    chunk of n rows (a column slice of a 2-D buffer would have a row stride numba cannot
    assume to be one, and its loops would not vectorise); the D × D product of the wide
    scatter; and a float64 packed vector for one chunk's moments.
    """

    def __init__(self, capacity: int, n_components: int, n_features: int, dtype: np.dtype):
        self.key = (capacity, n_components, n_features, dtype)
        per_row = 3 * n_features + 4 + n_components * (n_features + 1)
        self.flat = np.empty(per_row * capacity, dtype)
        self.product = np.empty((n_features, n_features), dtype)
        self.chunk_packed = np.empty(_packed_size(n_components, n_features))

    def fits(self, n_rows: int, n_components: int, n_features: int, dtype: np.dtype) -> bool:
        """Whether a chunk of this shape fits."""
        return self.key[0] >= n_rows and self.key[1:] == (n_components, n_features, dtype)


_local = threading.local()


def _scratch(n_rows: int, n_components: int, n_features: int, dtype: np.dtype) -> _Scratch:
    """This thread's scratch, reallocated only when the shape of the problem grows or changes."""
    held = getattr(_local, "scratch", None)
    if held is None or not held.fits(n_rows, n_components, n_features, dtype):
        held = _Scratch(n_rows, n_components, n_features, dtype)
        _local.scratch = held
    return held


def _mixture(prepared: PreparedParameters, dtype: np.dtype) -> tuple[Any, ...]:
    """The prepared mixture as the compiled functions take it: one tuple.

    ``(form_code, center, projection, offsets, quadratic weights, log_constants, exponent
    floor)``; the projection is an empty array for the forms without one.
    """
    projection = prepared.projection
    if projection is None:
        projection = np.empty((0, 0), dtype)
    return (
        _SWEEP_CODES[prepared.form],
        prepared.center,
        projection,
        prepared.offsets,
        prepared.quadratic_weights[:, 0, :],
        prepared.log_constants,
        _EXPONENT_FLOOR[dtype],
    )


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


def block_moments(
    X: np.ndarray,
    start: int,
    stop: int,
    chunk_size: int,
    sample_weight: np.ndarray | None,
    prepared: PreparedParameters,
    moment: SecondMoment,
) -> np.ndarray:
    """The moments of rows ``start:stop`` of X as one float64 vector, additive over blocks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows, float32 or float64, C-contiguous.
    start, stop : int
        The block of rows to evaluate.
    chunk_size : int
        Rows per chunk within the block: the compiled code visits the block chunk after
        chunk (each chunk's scratch stays in cache) and adds the chunks in order.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights in the dtype of ``X``.
    prepared : PreparedParameters
        The mixture, as NumPy arrays in the dtype of ``X``.
    moment : {"diagonal", "full"}
        The whitened second moment to accumulate.

    Returns
    -------
    ndarray of shape (K·(1 + D + D²) + 2,)
        ``[n_k, first, upper triangle of second, Σ w log p(x), Σ w]``; sum blocks, then
        :func:`unpack`.
    """
    n_components, n_features = prepared.n_components, prepared.n_features
    scratch = _scratch(min(chunk_size, stop - start), n_components, n_features, X.dtype)
    packed = np.zeros(_packed_size(n_components, n_features))
    second_full = moment == "full"
    compiled_scatter = n_features <= _COMPILED_SCATTER_MAX_FEATURES or not second_full
    weights = np.empty(0, X.dtype) if sample_weight is None else sample_weight
    compiling.call(
        _kernels().block_moments,
        X,
        start,
        stop,
        chunk_size,
        weights,
        sample_weight is not None,
        _mixture(prepared, X.dtype),
        second_full,
        compiled_scatter,
        scratch.flat,
        scratch.product,
        scratch.chunk_packed,
        packed,
    )
    return packed


def unpack(packed: np.ndarray, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
    """The :class:`~gaussmix.kernels.ChunkMoments` of a (sum of) :func:`block_moments`.

    Parameters
    ----------
    packed : ndarray
        From :func:`block_moments`, or a sum of them.
    prepared : PreparedParameters
        The mixture they were computed under.
    moment : {"diagonal", "full"}
        The whitened second moment they hold.

    Returns
    -------
    ChunkMoments
        NumPy float64 arrays.
    """
    n_k, first, second = _unpacked_views(packed, prepared.n_components, prepared.n_features)
    if moment == "full":
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
    moment: SecondMoment,
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
    moment : {"diagonal", "full"}
        The whitened second moment to accumulate.

    Returns
    -------
    ChunkMoments
        NumPy float64 arrays, the same moments as the array kernels (sums within the
        chunk run in float64 here, so float32 chunks are slightly more accurate).
    """
    n_rows = X.shape[0]
    packed = block_moments(X, 0, n_rows, max(n_rows, 1), sample_weight, prepared, moment)
    return unpack(packed, prepared, moment)


def posterior(
    X: np.ndarray, prepared: PreparedParameters, chunk_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fused :func:`gaussmix.kernels.posterior` for NumPy arrays.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows, C-contiguous.
    prepared : PreparedParameters
        The mixture, as NumPy arrays in the dtype of ``X``.
    chunk_size : int or None, default=None
        Rows per chunk: the compiled code visits X chunk after chunk, in one call.
        None makes all of X one chunk.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
        As :func:`gaussmix.kernels.posterior`: rows far from every component are
        evaluated by :func:`gaussmix.kernels.far_row_posterior`.
    responsibilities : ndarray of shape (n_samples, n_components)
    """
    n_rows = X.shape[0]
    chunk_size = max(1, min(n_rows if chunk_size is None else chunk_size, n_rows))
    scratch = _scratch(chunk_size, prepared.n_components, prepared.n_features, X.dtype)
    log_norm = np.empty(n_rows, X.dtype)
    responsibilities = np.empty((n_rows, prepared.n_components), X.dtype)
    compiling.call(
        _kernels().posterior,
        X,
        chunk_size,
        _mixture(prepared, X.dtype),
        scratch.flat,
        scratch.product,
        log_norm,
        responsibilities,
    )
    # Rows far from every component come back with a NaN log-density (see sweep).
    return repair_far_rows(X, prepared.parameters, log_norm, responsibilities)


def whole_statistics(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    parameters: MixtureParameters,
    kind: ScatterKind,
    chunk_size: int,
) -> SufficientStatistics:
    """One E-step over all of X in one compiled call, parameters to statistics.

    What :func:`gaussmix.kernels.prepare_parameters`, :func:`block_moments`,
    :func:`unpack` and :func:`gaussmix.kernels.unwhiten` compute one after the other,
    in one call: at a few hundred rows those steps' Python and NumPy calls cost ten times
    their arithmetic (one E-step on Old Faithful, 272 × 2: 15 against 185 µs,
    ``benchmarks/results_small.md``). The tests hold the result to the chunked path's
    to 1e-12.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        All rows, float32 or float64, C-contiguous.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights in the dtype of ``X``.
    parameters : MixtureParameters
        The current mixture (float64).
    kind : {"trace", "diagonal", "full"}
        The scatter kind of the covariance model.
    chunk_size : int
        Rows per chunk, which the compiled code visits in order.

    Returns
    -------
    SufficientStatistics

    Raises
    ------
    CollapsedComponentError
        If a precision factor is zero or not finite, as
        :func:`gaussmix.kernels.prepare_parameters` does.
    """
    n_components, n_features = parameters.means.shape
    scratch = _scratch(min(chunk_size, X.shape[0]), n_components, n_features, X.dtype)
    means = np.ascontiguousarray(parameters.means, dtype=np.float64)
    weighted = sample_weight is not None
    n_k = np.empty(n_components)
    weighted_sum = np.empty((n_components, n_features))
    scatter = np.empty(scatter_shape(kind, n_components, n_features))
    first_bad, log_likelihood, total_weight = compiling.call(
        _kernels().whole_statistics,
        X,
        sample_weight if weighted else np.empty(0, X.dtype),
        weighted,
        _LAYOUTS[parameters.form],
        _SCATTER_KINDS[kind],
        chunk_size,
        np.ascontiguousarray(parameters.weights, dtype=np.float64),
        means,
        np.ascontiguousarray(parameters.precisions_cholesky, dtype=np.float64).reshape(-1),
        _EXPONENT_FLOOR[X.dtype],
        scratch.flat,
        scratch.product,
        n_k,
        weighted_sum,
        scatter.reshape(-1),
    )
    if first_bad >= 0:
        component = parameters.form.component(first_bad)
        raise collapse_error(
            component, None, "its precision factor is zero or not finite (variance overflow)"
        )
    if not math.isfinite(log_likelihood):
        raise far_rows_error()
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=scatter,
        shift=means,
        total_weight=float(total_weight),
        log_likelihood=float(log_likelihood),
    )


def load_block_kernels(dtype: Any) -> bool:
    """Compile (or load from numba's disk cache) the block kernels for one dtype, here and now.

    :func:`block_moments` and :func:`posterior` have one machine-code signature per dtype
    whatever K, D, the form and the weights, so one call on two rows of one component
    readies them for every fit of that dtype in this process. A Dask fit runs it on every
    worker before its first E-step, so that no worker compiles in the middle of an
    iteration (a cold compile is 15–30 s of LLVM; a load from the cache well under one).

    Parameters
    ----------
    dtype : {"float32", "float64"} or numpy dtype

    Returns
    -------
    bool
        True when the compiled kernels are ready; False without numba, or when numba
        cannot compile or cache them in this process (the array kernels then serve).
    """
    if not available():
        return False
    dtype = np.dtype(dtype)
    identity = np.ones((1, 1, 1))
    parameters = MixtureParameters(
        weights=np.ones(1),
        means=np.zeros((1, 1)),
        covariances=identity,
        precisions_cholesky=identity.copy(),
        form=CovarianceForm.FULL,
    )
    rows = np.zeros((2, 1), dtype)
    prepared = prepare_parameters(parameters, np, dtype)
    try:
        block_moments(rows, 0, 2, 2, None, prepared, "full")
        posterior(rows, prepared, 2)
    except Exception:  # numba cannot compile here (no cache directory, no compiler)
        return False
    return True


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
    compiling.call(_kernels().exp, flat, out)
    return out.reshape(np.shape(values))
