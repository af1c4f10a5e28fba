"""Per-chunk mathematics: log-densities, responsibilities and sufficient statistics.

The kernels are written once against the array API standard: they take the namespace
``xp`` from their arrays (NumPy itself for NumPy arrays, ``array_api_compat``'s wrapper
for PyTorch tensors), so the same lines run on NumPy, on PyTorch's CPU and on CUDA.
They keep the data's dtype (float32 stays float32) and return moments in float64.

How one chunk is processed (all components at once):

1. ``Y = X − c`` with one centre ``c`` for the whole mixture (the weighted mean of the
   component means), so that data far from the origin lose no precision below, laid out
   (D + 1, rows) with a last row of ones (:func:`augmented_rows`).
2. The *whitened differences* of every row from every component, scaled by √½,
   ``P_kn = √½ U_kᵀ (y_n − m_k)`` with ``m_k = μ_k − c``: one GEMM of the stacked
   ``√½ [U_kᵀ | −U_kᵀ m_k]`` against the augmented rows (full form: the ones row
   subtracts the offsets inside the product) or one GEMM with the shared factor (tied
   form). The diagonal and spherical forms keep the plain differences ``y_n − m_k``.
   They are laid out (K, D, rows), rows last.
3. ``log π_k + log N(x_n | μ_k, Σ_k) = log π_k + log|U_k| − ½ D log 2π − q_kᵀ P_kn²``
   with weights ``q_k`` of ones (full, tied: the ½ is in the scale of ``P``) or
   ``½ σ_k⁻²`` (diagonal forms), responsibilities by a max-shifted log-sum-exp over the
   components.
4. Moments: ``Σ_n r_nk`` and ``Σ_n r_nk y_n`` from one GEMM of the responsibilities
   against the augmented rows, and ``Σ_n r_nk P_kn P_knᵀ`` (one batched GEMM over
   components), or only its diagonal (a batched product with the squares the density
   already formed). Because ``P_kn ∝ U_kᵀ (x_n − μ_k)`` (or ``= x_n − μ_k``), the second
   moment is the scatter about the current means in the basis of ``U_k``;
   :func:`unwhiten` maps everything back on the host in float64.

References
----------
Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §9.2.
Array API standard, https://data-apis.org/array-api/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg

from gaussmix.covariance.base import ScatterKind
from gaussmix.covariance.forms import CovarianceForm, SecondMoment, as_form, collapse_error
from gaussmix.exceptions import CollapsedComponentError
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics, reduce_scatter

__all__ = [
    "ChunkMoments",
    "PreparedParameters",
    "SecondMoment",
    "accumulate_statistics",
    "array_namespace",
    "chunk_moments",
    "chunk_statistics",
    "far_row_posterior",
    "log_gaussian_density",
    "log_responsibilities",
    "prepare_parameters",
    "repair_far_rows",
    "unwhiten",
    "weighted_log_prob",
    "whitened_kind",
]

_LOG_2PI = float(np.log(2.0 * np.pi))
_SQRT_HALF = float(np.sqrt(0.5))

#: Former name of :data:`SecondMoment`, kept for callers that import it.
WhitenedKind = SecondMoment


def array_namespace(array: Any) -> Any:
    """The array-API namespace of an array: ``numpy`` for NumPy arrays.

    Parameters
    ----------
    array : ndarray or torch.Tensor
        Any array the kernels accept.

    Returns
    -------
    module
        ``numpy`` (array-API compatible since NumPy 2) for NumPy arrays, otherwise the
        ``array_api_compat`` namespace of the array (e.g. its PyTorch wrapper).
    """
    if isinstance(array, np.ndarray):
        return np
    from array_api_compat import array_namespace as compat_namespace

    return compat_namespace(array)


@dataclass(frozen=True)
class PreparedParameters:
    """The parameters of one E-step, laid out and cast for the chunk kernels.

    Parameters
    ----------
    parameters : MixtureParameters
        The host float64 parameters these were prepared from.
    center : array of shape (n_features,)
        The centre ``c`` subtracted from every row.
    projection : array or None
        Scaled by √½: ``(n_components · n_features, n_features + 1)`` stacked
        ``[U_kᵀ | −U_kᵀ (μ_k − c)]`` (full) or ``(n_features, n_features)`` shared ``Uᵀ``
        (tied); None for the diagonal forms, which do not project.
    offsets : array of shape (n_components, n_features)
        ``√½ U_kᵀ (μ_k − c)`` (tied; also the last column of the full projection), or
        ``μ_k − c`` (diagonal, spherical), subtracted from the projected or centred rows.
    quadratic_weights : array of shape (n_components, 1, n_features)
        The weights of the squared differences in the exponent: ones (full, tied, whose
        differences carry √½) or ``½ σ_kd⁻²`` (diagonal, spherical).
    log_constants : array of shape (n_components,)
        ``log π_k + log|U_k| − ½ D log 2π``.

    Notes
    -----
    The exponent of component k is ``−q_kᵀ (P_kn ∘ P_kn)`` with these weights ``q_k``: the
    ½ of ``−½ ‖U_kᵀ(x − μ_k)‖²`` is either inside the product (√½) or inside ``q_k``, so
    the density needs no multiplication pass, and the weighted sum over features is one
    small batched product. The diagonal forms keep the differences unscaled, so their
    squares are also the summands of their scatter.
    """

    parameters: MixtureParameters
    center: Any
    projection: Any
    offsets: Any
    quadratic_weights: Any
    log_constants: Any

    @property
    def form(self) -> CovarianceForm:
        """The covariance form."""
        return self.parameters.form

    @property
    def n_components(self) -> int:
        """K."""
        return self.parameters.n_components

    @property
    def n_features(self) -> int:
        """D."""
        return self.parameters.n_features


def prepare_parameters(
    parameters: MixtureParameters, xp: Any = np, dtype: Any = None, device: Any = None
) -> PreparedParameters:
    """Lay out the parameters for the chunk kernels, in float64 on the host, then cast.

    Parameters
    ----------
    parameters : MixtureParameters
        The mixture.
    xp : module, default=numpy
        The array namespace of the data.
    dtype : dtype of ``xp``, optional
        The data's floating dtype; defaults to ``xp.float64``.
    device : optional
        The data's device (ignored by NumPy).

    Returns
    -------
    PreparedParameters
    """
    center = _center(parameters)
    projection, offsets, quadratic_weights = _layout(parameters, center)
    log_constants = _log_constants(parameters)
    dtype = xp.float64 if dtype is None else dtype

    def cast(array: np.ndarray) -> Any:
        # float32 casts of such weights overflow alike, with the same remedy.
        with np.errstate(over="ignore"):
            return xp.asarray(np.ascontiguousarray(array), dtype=dtype, device=device)

    return PreparedParameters(
        parameters=parameters,
        center=cast(center),
        projection=None if projection is None else cast(projection),
        offsets=cast(offsets),
        quadratic_weights=cast(quadratic_weights),
        log_constants=cast(log_constants),
    )


def _layout(
    parameters: MixtureParameters, center: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Projection, offsets and quadratic weights of :class:`PreparedParameters` (float64)."""
    form = parameters.form
    means = np.asarray(parameters.means, dtype=np.float64)
    factors = np.asarray(parameters.precisions_cholesky, dtype=np.float64)
    n_components, n_features = means.shape
    shifted = means - center
    if form.elementwise:
        scales = form.feature_scales(factors, n_features)
        # A factor above ~1e154 (a variance below ~1e-308) overflows here; the rows it
        # makes non-finite are evaluated by far_row_posterior, which never squares it.
        with np.errstate(over="ignore"):
            return None, shifted, 0.5 * scales[:, None, :] ** 2
    quadratic_weights = np.ones((n_components, 1, n_features))
    if form.shared:
        return factors.T * _SQRT_HALF, shifted @ factors * _SQRT_HALF, quadratic_weights
    offsets = np.einsum("kd,kde->ke", shifted, factors) * _SQRT_HALF
    projection = np.concatenate(
        [
            np.swapaxes(factors, 1, 2).reshape(n_components * n_features, n_features) * _SQRT_HALF,
            -offsets.reshape(n_components * n_features, 1),
        ],
        axis=1,
    )
    return projection, offsets, quadratic_weights


def _log_constants(parameters: MixtureParameters) -> np.ndarray:
    """``log π_k + log|U_k| − ½ D log 2π`` (float64, host); raises for unusable factors."""
    form = parameters.form
    factors = np.asarray(parameters.precisions_cholesky, dtype=np.float64)
    n_components, n_features = np.shape(parameters.means)
    # A weight of exactly zero is a component that cannot own any point: log 0 = −inf
    # gives it responsibility 0 without a warning.
    log_weights = _log_weights(parameters)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_det = np.broadcast_to(
            form.log_det_precision_cholesky(factors, n_features), (n_components,)
        )
    if not np.all(np.isfinite(log_det)):
        # A zero or non-finite factor is an infinite or undefined variance: squares of the
        # data overflowed, and every density would be NaN.
        component = form.component(np.flatnonzero(~np.isfinite(log_det))[0])
        raise collapse_error(
            component, None, "its precision factor is zero or not finite (variance overflow)"
        )
    return log_weights + log_det - 0.5 * n_features * _LOG_2PI


def _center(parameters: MixtureParameters) -> np.ndarray:
    """The centre ``c`` subtracted from every row (float64, host)."""
    weights = np.asarray(parameters.weights, dtype=np.float64)
    means = np.asarray(parameters.means, dtype=np.float64)
    # c is a convex combination of the means: close to the data, so that y = x − c is
    # small wherever the data sit (offset data keep their digits in float32).
    return weights @ means / max(float(np.sum(weights)), np.finfo(np.float64).tiny)


def _prepared_for(X: Any, parameters: MixtureParameters | PreparedParameters) -> PreparedParameters:
    if isinstance(parameters, PreparedParameters):
        return parameters
    xp = array_namespace(X)
    return prepare_parameters(parameters, xp, X.dtype, getattr(X, "device", None))


def augmented_rows(X: Any, prepared: PreparedParameters) -> Any:
    """The centred chunk, rows last, with a last row of ones: ``[(X − c)ᵀ; 1ᵀ]``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One chunk of rows.
    prepared : PreparedParameters
        From :func:`prepare_parameters`, in the namespace and dtype of ``X``.

    Returns
    -------
    array of shape (n_features + 1, n_samples), C-contiguous
        Rows last, so that every elementwise pass and every reduction over features runs
        along long contiguous rows even when D is 2. The ones row lets one GEMM subtract
        the full form's offsets and gives ``Σ_n r_nk`` next to ``Σ_n r_nk y_n``.

    Notes
    -----
    The array API leaves memory layout to the library (``concat`` of a transposed array
    may keep its column order), so the result is allocated C-ordered and filled: the
    transpose is copied once, then the centre is subtracted along contiguous rows.
    """
    xp = array_namespace(X)
    n_samples, n_features = X.shape
    rows = xp.empty((n_features + 1, n_samples), dtype=X.dtype, device=_device(X))
    rows[:n_features, :] = xp.permute_dims(X, (1, 0))
    rows[:n_features, :] -= xp.expand_dims(prepared.center, axis=1)
    rows[n_features, :] = 1.0
    return rows


def whitened_differences(X: Any, prepared: PreparedParameters) -> Any:
    """``P_kn = √½ U_kᵀ (x_n − μ_k)`` for every component and row, components first.

    For the diagonal and spherical forms, the plain differences ``x_n − μ_k`` (their
    scales are the quadratic weights of :class:`PreparedParameters`).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One chunk of rows.
    prepared : PreparedParameters
        From :func:`prepare_parameters`, in the namespace and dtype of ``X``.

    Returns
    -------
    array of shape (n_components, n_features, n_samples)
        Rows last (see :func:`augmented_rows`).

    Notes
    -----
    ``U_kᵀ(x − μ_k) = U_kᵀ(x − c) − U_kᵀ(μ_k − c)``: the data are centred once, then every
    component is projected by one product, so the difference is formed before the
    square and never through an expansion of ``‖x‖²``. The factor √½ carries the ½ of
    the Gaussian exponent (see :class:`PreparedParameters`).
    """
    return _differences_from_rows(augmented_rows(X, prepared), prepared)


def _differences_from_rows(rows: Any, prepared: PreparedParameters) -> Any:
    """(K, D, n) scaled whitened differences from the (D + 1, n) augmented rows."""
    xp = array_namespace(rows)
    n_samples = rows.shape[1]
    n_components, n_features = prepared.n_components, prepared.n_features
    form = prepared.form
    offsets = xp.expand_dims(prepared.offsets, axis=2)
    centred = rows[:n_features, :]
    if form.elementwise:
        # Plain differences; their scales live in the quadratic weights.
        return xp.expand_dims(centred, axis=0) - offsets
    if form.shared:
        # The shared factor needs one (D × n) product; the subtraction broadcasts it.
        return xp.expand_dims(prepared.projection @ centred, axis=0) - offsets
    # The last column of the projection meets the ones row: the offsets are subtracted
    # inside the GEMM, with no pass of their own.
    return xp.reshape(prepared.projection @ rows, (n_components, n_features, n_samples))


def _weighted_log_prob_from(squares: Any, prepared: PreparedParameters) -> Any:
    """(K, n) weighted log-probabilities from (K, D, n) squared differences."""
    xp = array_namespace(squares)
    # (K, 1, D) @ (K, D, n): the weighted sum over features as one batched product (a
    # reduction over the middle axis was measured slower).
    exponent = (prepared.quadratic_weights @ squares)[:, 0, :]
    return xp.expand_dims(prepared.log_constants, axis=1) - exponent


def log_gaussian_density(X: Any, parameters: MixtureParameters | PreparedParameters) -> Any:
    """Log-density of every row under every component, log N(x_n | μ_k, Σ_k).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One chunk of rows, float32 or float64 (NumPy array or torch tensor).
    parameters : MixtureParameters or PreparedParameters
        The mixture.

    Returns
    -------
    array of shape (n_samples, n_components), dtype of ``X``

    Notes
    -----
    log N(x | μ, Σ) = −½ D log 2π + log|U| − ½ ‖(x − μ)ᵀ U‖² with Σ⁻¹ = U Uᵀ; see
    :func:`whitened_differences` for how the differences keep their precision.
    """
    prepared = _prepared_for(X, parameters)
    xp = array_namespace(X)
    log_weights = xp.asarray(
        _log_weights(prepared.parameters), dtype=X.dtype, device=getattr(X, "device", None)
    )
    return weighted_log_prob(X, prepared) - log_weights


def _log_weights(parameters: MixtureParameters) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(parameters.weights, dtype=np.float64))


def weighted_log_prob(X: Any, parameters: MixtureParameters | PreparedParameters) -> Any:
    """log π_k + log N(x_n | μ_k, Σ_k) for every row and component.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One chunk of rows.
    parameters : MixtureParameters or PreparedParameters
        The mixture (prepared once per E-step by the backends).

    Returns
    -------
    array of shape (n_samples, n_components)
    """
    prepared = _prepared_for(X, parameters)
    xp = array_namespace(X)
    # Squares of rows far from a component overflow to a log-probability of −inf.
    with np.errstate(over="ignore", invalid="ignore"):
        differences = whitened_differences(X, prepared)
        differences *= differences
        return xp.permute_dims(_weighted_log_prob_from(differences, prepared), (1, 0))


@dataclass(frozen=True)
class _Normalised:
    """Responsibilities with the two parts of ``log p(x) = top + log(total)``.

    ``top`` is the per-row shift of the log-sum-exp and ``total`` the sum of the shifted
    exponentials (in [1, K]), both with a kept component axis.
    """

    top: Any
    total: Any
    responsibilities: Any

    def log_norm(self, axis: int) -> Any:
        """``log p(x_n)`` per row."""
        xp = array_namespace(self.total)
        return xp.squeeze(xp.log(self.total) + self.top, axis=axis)


# In float32, a shifted exponent below this gives a responsibility of exactly 0. exp of
# −87.3 … −103.9 is subnormal in float32, and arithmetic on subnormals takes a microcode
# assist on Intel cores: on a 16-core Xeon, float32 E-steps of workloads P2 and P3 of
# benchmarks/bench_em.py (1,000,000 × 8, K = 8 and 200,000 × 16, K = 16; 30–80 % of the
# responsibilities are that small) ran 4–9× slower than with this floor
# (benchmarks/results_scaling.md).
# What is dropped (< 3e-33 against a row's largest responsibility, 1) is far below
# float32 resolution, and r, r·x and r·x·x stay normal numbers.
FLOAT32_EXPONENT_FLOOR = -75.0

# Rows whose sums of shifted exponentials are multiplied before one logarithm: each sum
# lies in [1, K], so 32 of them stay finite in float64 for K < e²⁰.
_LOG_GROUP = 32


def _sum_log_norm(normalised: _Normalised, n_components: int) -> Any:
    """``Σ_n log p(x_n)`` in float64, with one logarithm per group of rows.

    Notes
    -----
    ``Σ log total_n = log Π total_n``; the products of groups of rows cannot overflow
    (every factor is in [1, K]), and their rounding (a relative 32 ε per group) is of the
    order of the rounding of the 32 logarithms they replace. The logarithm was a tenth of
    the E-step at D = 2.
    """
    xp = array_namespace(normalised.total)
    float64 = xp.float64
    total = xp.astype(xp.reshape(normalised.total, (-1,)), float64)
    sum_top = xp.sum(normalised.top, dtype=float64)
    n_rows = total.shape[0]
    head = n_rows - n_rows % _LOG_GROUP
    if n_components >= 2**28 or head == 0:
        return sum_top + xp.sum(xp.log(total))
    grouped = xp.prod(xp.reshape(total[:head], (_LOG_GROUP, head // _LOG_GROUP)), axis=0)
    return sum_top + xp.sum(xp.log(grouped)) + xp.sum(xp.log(total[head:]))


def _normalise(weighted: Any, axis: int, row_weights: Any | None = None) -> _Normalised:
    """Turn weighted log-probabilities into responsibilities, overwriting them.

    ``axis`` is the component axis. ``row_weights`` (one per row, or None) multiply the
    responsibilities in the same pass as the normalisation.
    """
    xp = array_namespace(weighted)
    top = xp.max(weighted, axis=axis, keepdims=True)
    # A row without a finite largest exponent (its squares overflowed far from every
    # component, or NaN came out of such an overflow) would give −inf − (−inf). It gets
    # no responsibility and log p = +inf as a flag instead: :func:`posterior` evaluates
    # it again, :func:`unwhiten` refuses an E-step with it.
    finite = xp.isfinite(top)
    top = xp.where(finite, top, xp.zeros_like(top))
    weighted -= top
    if weighted.dtype == xp.float32:
        weighted = xp.where(weighted < FLOAT32_EXPONENT_FLOOR, -xp.inf, weighted)
    responsibilities = xp.exp(weighted)
    total = xp.sum(responsibilities, axis=axis, keepdims=True)
    total = xp.where(finite, total, xp.full_like(total, xp.inf))
    # One division per row, then a multiplication per entry (cheaper than K divisions).
    scale = 1.0 / total
    if row_weights is not None:
        scale *= xp.expand_dims(row_weights, axis=axis)
    responsibilities *= scale
    return _Normalised(top=top, total=total, responsibilities=responsibilities)


def log_responsibilities(weighted: Any) -> tuple[Any, Any]:
    """Normalise weighted log-probabilities into log-responsibilities by Bayes' rule.

    Parameters
    ----------
    weighted : array of shape (n_samples, n_components)
        Output of :func:`weighted_log_prob` (left unchanged).

    Returns
    -------
    log_norm : array of shape (n_samples,)
        log p(x_n) = logsumexp_k of the weighted log-probabilities.
    log_resp : array of shape (n_samples, n_components)
        log γ(z_nk) = weighted − log_norm.

    Notes
    -----
    The normalisation is done in log space (log-sum-exp shifted by the row maximum), so
    responsibilities stay exact for points whose every density underflows.
    """
    xp = array_namespace(weighted)
    with np.errstate(invalid="ignore"):
        log_norm = _normalise(xp.asarray(weighted, copy=True), axis=1).log_norm(axis=1)
        # Rows without a finite exponent (see _normalise) lie below the float range.
        log_norm = xp.where(log_norm == xp.inf, -xp.inf, log_norm)
        return log_norm, weighted - xp.expand_dims(log_norm, axis=1)


def posterior(X: Any, prepared: PreparedParameters) -> tuple[Any, Any]:
    """log p(x_n) and the responsibilities γ_nk of one chunk.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One chunk of rows.
    prepared : PreparedParameters
        The mixture.

    Returns
    -------
    log_norm : array of shape (n_samples,)
        ``−inf`` only where log p(x_n) lies below the range of the dtype (see
        :func:`far_row_posterior`).
    responsibilities : array of shape (n_samples, n_components)

    Notes
    -----
    A row far from every component (‖U_kᵀ(x − μ_k)‖² overflows, from |x| ≳ 1e154 against
    a unit-scale mixture in float64, 1e19 in float32) has no finite exponent here; such
    rows, found by a non-finite log p(x_n), are evaluated again by
    :func:`far_row_posterior` (host, float64), so one far row costs nothing to the others.
    """
    xp = array_namespace(X)
    # NumPy reports the overflow of far rows' squares, and the 0/0 of their normalisation,
    # as warnings; those rows are repaired below.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        differences = whitened_differences(X, prepared)
        differences *= differences
        normalised = _normalise(_weighted_log_prob_from(differences, prepared), axis=0)
        log_norm = normalised.log_norm(axis=0)
    responsibilities = xp.permute_dims(normalised.responsibilities, (1, 0))
    return repair_far_rows(X, prepared.parameters, log_norm, responsibilities)


def repair_far_rows(
    X: Any, parameters: MixtureParameters, log_norm: Any, responsibilities: Any
) -> tuple[Any, Any]:
    """Recompute, with :func:`far_row_posterior`, the rows the kernels cannot resolve.

    Those are the rows whose log p(x_n) is not finite (their squares overflowed) or below
    ``−1/ε`` of the dtype (−2⁵² in float64, −2²³ in float32): there the spacing of the
    floating-point numbers exceeds one, so the kernels' shifted exponents, hence the
    responsibilities, are rounded to whole units or worse.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The rows the posterior was computed for (NumPy array or tensor), in the units of
        ``parameters``.
    parameters : MixtureParameters
        The mixture.
    log_norm : array of shape (n_samples,)
        log p(x_n) from the kernels, overwritten in the rows recomputed.
    responsibilities : array of shape (n_samples, n_components)
        Overwritten in the same rows.

    Returns
    -------
    log_norm, responsibilities
        The same arrays, repaired.
    """
    xp = array_namespace(log_norm)
    resolution = -1.0 / float(np.finfo(_numpy_dtype(log_norm.dtype)).eps)
    far = ~(xp.isfinite(log_norm) & (log_norm >= resolution))
    if not bool(xp.any(far)):
        return log_norm, responsibilities
    rows = X[far, ...]
    if not isinstance(rows, np.ndarray):
        rows = rows.detach().cpu().numpy() if hasattr(rows, "detach") else np.asarray(rows)
    far_log_norm, far_responsibilities = far_row_posterior(rows, parameters)
    device = _device(log_norm)
    with np.errstate(over="ignore"):  # below float32's range, log p is −inf there too
        log_norm[far] = xp.asarray(far_log_norm, dtype=log_norm.dtype, device=device)
        responsibilities[far, ...] = xp.asarray(
            far_responsibilities, dtype=responsibilities.dtype, device=device
        )
    return log_norm, responsibilities


def _numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a NumPy or torch floating dtype."""
    return np.dtype(str(dtype).removeprefix("torch."))


def far_row_posterior(
    X: np.ndarray, parameters: MixtureParameters
) -> tuple[np.ndarray, np.ndarray]:
    """log p(x_n) and responsibilities of any rows, without overflow, in float64 on the host.

    The chunk kernels square the whitened differences, which overflows once
    ``½‖U_kᵀ(x − μ_k)‖²`` passes ~1.8e308, and the exponents of components that share a
    covariance (tied, or equal variances) then differ by less than their rounding. Here
    no number larger than the data is formed: with ``y = x − c`` (c the centre of
    :func:`prepare_parameters`, ``m_k = μ_k − c``) scaled by a power of two per row,
    ``U_kᵀ y = 2^s ŵ_k`` with ``|ŵ| ≤ 1``, and the exponent of component k is held in
    three parts,

        log π_k N(x | μ_k, Σ_k) = C_k + 2^s L_k − 4^s Q_k,
        Q_k = ½‖ŵ_k‖²,  L_k = ŵ_kᵀ U_kᵀ m_k,  C_k = log c_k − ½‖U_kᵀ m_k‖²,

    so that differences between components are taken part by part, exactly where the
    quadratic parts are equal (then the linear parts decide, as in a linear discriminant).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite rows (any magnitude up to the largest float64).
    parameters : MixtureParameters
        The mixture.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,), float64
        log p(x_n), finite whenever it is representable; −inf where it lies below
        −1.8e308 (p(x_n) is then below every positive float64: the row is ~1e154 or more
        standard deviations away from every component).
    responsibilities : ndarray of shape (n_samples, n_components), float64
        γ_nk; for rows that far, 1 for the component of highest weighted log-density
        (shared between exact ties).

    Notes
    -----
    Written for the few rows the kernels cannot resolve (see :func:`repair_far_rows`): it
    holds (n × K × D) float64 temporaries. For other rows it agrees with the kernels to
    rounding.
    """
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(parameters.means, dtype=np.float64)
    factors = np.asarray(parameters.precisions_cholesky, dtype=np.float64)
    log_constants = _log_constants(parameters)
    center = _center(parameters)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        # |x/2 − c/2| ≤ the largest float: the difference cannot overflow.
        half = 0.5 * X - 0.5 * center
        row_exponent = _binary_exponents(half, axis=1)
        whitened = _whiten(np.ldexp(half, -row_exponent[:, None])[:, None, :], factors, parameters)
        whitened_exponent = _binary_exponents(whitened, axis=(1, 2))
        whitened = np.ldexp(whitened, -whitened_exponent[:, None, None])
        # U_kᵀ y = 2^s ŵ_k (the 1 undoes the halves).
        scale = (row_exponent + whitened_exponent + 1)[:, None]
        offsets = _whiten((means - center)[None], factors, parameters)[0]
        quadratic = 0.5 * np.sum(whitened * whitened, axis=2)
        linear = np.sum(whitened * offsets[None], axis=2)
        constant = (log_constants - 0.5 * np.sum(offsets * offsets, axis=1))[None, :]
        # Exponents in units of 4^t, t = max(s, 0): the ranking and log p(x).
        units = np.maximum(scale, 0)
        scaled = (
            np.ldexp(linear, scale - 2 * units)
            - np.ldexp(quadratic, 2 * (scale - units))
            + np.ldexp(constant, -2 * units)
        )
        best = np.argmax(scaled, axis=1)[:, None]
        shifted = _exponent_differences(quadratic, linear, constant, scale, best)
        # Where parts tied in the ranking, a linear or constant part decides: re-centre.
        best = np.argmax(shifted, axis=1)[:, None]
        shifted = _exponent_differences(quadratic, linear, constant, scale, best)
        responsibilities = np.exp(shifted)
        total = np.sum(responsibilities, axis=1, keepdims=True)
        responsibilities /= total
        top = np.take_along_axis(scaled, best, axis=1)
        log_norm = (np.ldexp(top, 2 * units) + np.log(total))[:, 0]
    return log_norm, responsibilities


def _whiten(differences: np.ndarray, factors: np.ndarray, parameters: MixtureParameters) -> Any:
    """``U_kᵀ d``: differences (n, 1, D) shared by the components, or (·, K, D) per component."""
    form = parameters.form
    if form.elementwise:
        return differences * form.feature_scales(factors, parameters.n_features)[None]
    if form.shared:
        shape = np.broadcast_shapes(differences.shape, (1, parameters.n_components, 1))
        return np.broadcast_to(differences @ factors, shape)
    if differences.shape[1] == 1:
        return np.einsum("nd,kde->nke", differences[:, 0], factors)
    return np.einsum("nkd,kde->nke", differences, factors)


def _exponent_differences(
    quadratic: np.ndarray,
    linear: np.ndarray,
    constant: np.ndarray,
    scale: np.ndarray,
    best: np.ndarray,
) -> np.ndarray:
    """``E_k − E_b`` per row from the three parts of :func:`far_row_posterior`."""

    def minus_best(part: np.ndarray) -> np.ndarray:
        return part - np.take_along_axis(np.broadcast_to(part, quadratic.shape), best, axis=1)

    squares = np.ldexp(-minus_best(quadratic), 2 * scale)
    total = squares + np.ldexp(minus_best(linear), scale) + minus_best(constant)
    # An infinite quadratic part outweighs the linear one (|ΔQ|·4^s against |ΔL|·2^s
    # with 2^s > 1e150): never inf − inf.
    return np.where(np.isinf(squares), squares, total)


def _binary_exponents(values: np.ndarray, axis: Any) -> np.ndarray:
    """Per row: e with max |values| in [2^(e−1), 2^e), 0 where all are zero; int32."""
    return np.frexp(np.max(np.abs(values), axis=axis))[1].astype(np.int32)


def whitened_kind(form: CovarianceForm | str, kind: ScatterKind) -> SecondMoment:
    """Which whitened second moment a form must accumulate to deliver a scatter kind.

    Parameters
    ----------
    form : CovarianceForm or its name
        The covariance form.
    kind : {"trace", "diagonal", "full"}
        The scatter kind the M-step needs.

    Returns
    -------
    {"diagonal", "full"}
        :meth:`CovarianceForm.second_moment`.
    """
    return as_form(form).second_moment(kind)


@dataclass(frozen=True)
class ChunkMoments:
    """Moments of one chunk in whitened coordinates, float64, additive over chunks.

    Parameters
    ----------
    n_k : array of shape (n_components,)
        ``Σ_n w_n γ_nk``.
    first : array of shape (n_components, n_features)
        ``Σ_n w_n γ_nk (x_n − c)``, about the centre ``c`` of :class:`PreparedParameters`.
    second : array of shape (n_components, n_features, n_features) or (n_components, n_features)
        ``Σ_n w_n γ_nk P_kn P_knᵀ`` with the differences of :func:`whitened_differences`
        (``√½ U_kᵀ (x_n − μ_k)``, or ``x_n − μ_k`` for the diagonal forms), or only its
        diagonal.
    total_weight : array of shape ()
        ``Σ_n w_n``.
    log_likelihood : array of shape ()
        ``Σ_n w_n log p(x_n)``.
    """

    n_k: Any
    first: Any
    second: Any
    total_weight: Any
    log_likelihood: Any

    def __add__(self, other: ChunkMoments) -> ChunkMoments:
        """Moments of the union of two disjoint chunks."""
        return ChunkMoments(
            n_k=self.n_k + other.n_k,
            first=self.first + other.first,
            second=self.second + other.second,
            total_weight=self.total_weight + other.total_weight,
            log_likelihood=self.log_likelihood + other.log_likelihood,
        )


def chunk_moments(
    X: Any, sample_weight: Any | None, prepared: PreparedParameters, moment: SecondMoment
) -> ChunkMoments:
    """E-step on one chunk: whitened moments of its responsibilities, in float64.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One chunk of rows.
    sample_weight : array of shape (n_samples,) or None
        Non-negative weights in the dtype of ``X``; None means all ones.
    prepared : PreparedParameters
        The mixture, in the namespace and dtype of ``X``.
    moment : {"diagonal", "full"}
        The second moment to accumulate (:meth:`CovarianceForm.second_moment`).

    Returns
    -------
    ChunkMoments
        In the namespace (and on the device) of ``X``.

    Notes
    -----
    With r_nk = w_n γ_nk, the chunk contributes Σ r_nk and Σ r_nk (x_n − c) (one GEMM of
    the responsibilities against the augmented rows) and Σ r_nk P_kn P_knᵀ (a batched GEMM
    over components) or its diagonal (a batched product of the squares, which the density
    formed in place of the differences). Within a chunk the sums run in the data's dtype
    (as BLAS does), across chunks in float64; the log-likelihood is summed in float64.
    """
    xp = array_namespace(X)
    # Rows far from every component overflow their squares here; NumPy's warnings would
    # come before the clear error of unwhiten (and the scatter overflow before the M-step's).
    with np.errstate(over="ignore", invalid="ignore"):
        return _chunk_moments(X, sample_weight, prepared, moment, xp)


def _chunk_moments(
    X: Any, sample_weight: Any | None, prepared: PreparedParameters, moment: SecondMoment, xp: Any
) -> ChunkMoments:
    float64 = xp.float64
    n_features = prepared.n_features
    rows = augmented_rows(X, prepared)
    differences = _differences_from_rows(rows, prepared)
    if moment == "full":
        squares = differences * differences
    else:
        # Only the diagonal is needed: the squares serve both the density and the moment,
        # so they overwrite the differences.
        differences *= differences
        squares = differences
    weighted_log_prob = _weighted_log_prob_from(squares, prepared)
    if sample_weight is None:
        normalised = _normalise(weighted_log_prob, axis=0)
        total_weight = xp.asarray(float(X.shape[0]), dtype=float64, device=_device(X))
        log_likelihood = _sum_log_norm(normalised, prepared.n_components)
    else:
        normalised = _normalise(weighted_log_prob, axis=0, row_weights=sample_weight)
        log_norm = normalised.log_norm(axis=0)
        total_weight = xp.sum(sample_weight, dtype=float64)
        # Rows of weight zero must not contribute, even where their density underflows.
        contributions = xp.where(
            sample_weight > 0, sample_weight * log_norm, xp.zeros_like(log_norm)
        )
        log_likelihood = xp.sum(contributions, dtype=float64)
    responsibilities = normalised.responsibilities
    # (K, n) @ (n, D + 1): Σ r (x − c) and, against the ones row, Σ r.
    sums = xp.astype(responsibilities @ xp.permute_dims(rows, (1, 0)), float64)
    if moment == "full":
        # (K, D, n) @ (K, n, D): one GEMM per component, no (K, D, D, n) temporary.
        weighted = differences * xp.expand_dims(responsibilities, axis=1)
        second = weighted @ xp.permute_dims(differences, (0, 2, 1))
    else:
        second = (squares @ xp.expand_dims(responsibilities, axis=2))[:, :, 0]
    return ChunkMoments(
        n_k=sums[:, n_features],
        first=sums[:, :n_features],
        second=xp.astype(second, float64),
        total_weight=total_weight,
        log_likelihood=log_likelihood,
    )


def _device(X: Any) -> Any:
    return getattr(X, "device", None)


def unwhiten(
    moments: ChunkMoments, parameters: MixtureParameters, kind: ScatterKind
) -> SufficientStatistics:
    """Sufficient statistics about the current means from whitened moments (host, float64).

    Parameters
    ----------
    moments : ChunkMoments
        Moments summed over chunks, as NumPy float64 arrays.
    parameters : MixtureParameters
        The parameters of the E-step that produced them.
    kind : {"trace", "diagonal", "full"}
        The scatter kind the covariance model needs.

    Returns
    -------
    SufficientStatistics

    Notes
    -----
    ``Σ r (x − μ_k) = Σ r (x − c) − (μ_k − c) Σ r`` with the centre ``c`` of
    :func:`prepare_parameters`. Full and tied forms: with the scaled row vector
    ``p = √½ (x − μ_k) U_k`` and ``A_k = U_k⁻¹`` (a triangular solve),
    ``Σ r (x − μ_k)ᵀ(x − μ_k) = 2 A_kᵀ (Σ r pᵀ p) A_k``. Diagonal and spherical forms: the
    kernels' differences are ``x − μ_k`` themselves, so the moment is the scatter.
    """
    if not np.isfinite(moments.log_likelihood):
        raise far_rows_error()
    form = parameters.form
    factors = np.asarray(parameters.precisions_cholesky, dtype=np.float64)
    n_components, n_features = np.shape(parameters.means)
    means = np.asarray(parameters.means, dtype=np.float64)
    n_k = np.asarray(moments.n_k, dtype=np.float64)
    weighted_sum = np.asarray(moments.first, dtype=np.float64) - n_k[:, None] * (
        means - _center(parameters)
    )
    second = np.asarray(moments.second, dtype=np.float64)
    if not form.elementwise:
        # The kernels' differences carry a factor √½; doubling is exact.
        second = 2.0 * second
        stacked = form.stacked(factors)
        inverses = np.broadcast_to(_upper_inverses(stacked), (n_components, n_features, n_features))
        full = np.swapaxes(inverses, 1, 2) @ second @ inverses
        scatter = reduce_scatter(full, kind)
    else:
        # The diagonal forms' differences are unscaled: the moments are the scatter.
        scatter = reduce_scatter(second, kind)
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=scatter,
        shift=means,
        total_weight=float(moments.total_weight),
        log_likelihood=float(moments.log_likelihood),
    )


def far_rows_error() -> CollapsedComponentError:
    """The error of an E-step in which some row has no finite log-density.

    Returns
    -------
    CollapsedComponentError
        Raised by :func:`unwhiten`; the estimator discards the start like a collapse.
    """
    return CollapsedComponentError(
        "Every row of positive weight must have a finite log-density in the E-step; got "
        "rows so far from every component that their squared Mahalanobis distances "
        "overflow float64 (above ~1e308): the components have collapsed to variances "
        "~1e-308 of the data's range or less, or a few rows lie ~1e154 times farther "
        "out than the spread of the others. Remove or clip far outlying rows, "
        "standardise the features, raise reg_covar, or use fewer components."
    )


# Up to this many features all factors are inverted in one batched LAPACK call: an LU of
# an upper-triangular matrix pivots nowhere and eliminates nothing, so it is the
# triangular solve, without SciPy's per-matrix wrapper (3 × 2 × 2: 6 against 90 µs;
# 16 × 16 × 16: 144 against 729 µs). Beyond, the LU's extra flops cost more than the
# wrappers save (4 × 48 × 48: 522 against 455 µs; 32 × 64 × 64: 5.4 against 3.7 ms;
# shared 2-core AMD EPYC, one BLAS thread).
_BATCHED_INVERSE_MAX_FEATURES = 32


def _upper_inverses(factors: np.ndarray) -> np.ndarray:
    """``U_k⁻¹`` of a stack of upper-triangular (K, D, D) factors."""
    n_features = factors.shape[-1]
    if n_features <= _BATCHED_INVERSE_MAX_FEATURES:
        return np.linalg.inv(factors)
    identity = np.eye(n_features)
    return np.stack([linalg.solve_triangular(u, identity, lower=False) for u in factors])


def moments_to_host(moments: ChunkMoments) -> ChunkMoments:
    """Copy moments from any namespace or device to NumPy float64 arrays.

    Parameters
    ----------
    moments : ChunkMoments

    Returns
    -------
    ChunkMoments
    """

    def host(array: Any) -> np.ndarray:
        if isinstance(array, np.ndarray):
            return array
        if hasattr(array, "detach"):
            return array.detach().cpu().numpy()
        return np.asarray(array)

    return ChunkMoments(
        n_k=host(moments.n_k),
        first=host(moments.first),
        second=host(moments.second),
        total_weight=host(moments.total_weight),
        log_likelihood=host(moments.log_likelihood),
    )


def chunk_statistics(
    X: Any,
    sample_weight: Any | None,
    parameters: MixtureParameters,
    kind: ScatterKind,
) -> SufficientStatistics:
    """E-step on one chunk: responsibilities under ``parameters`` and their statistics.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        One chunk of rows (NumPy array or torch tensor).
    sample_weight : array of shape (n_samples,) or None
        Non-negative weights; None means all ones.
    parameters : MixtureParameters
        The current mixture; its means are the shift of the statistics.
    kind : {"trace", "diagonal", "full"}
        The scatter kind the covariance model needs.

    Returns
    -------
    SufficientStatistics
        On the host, float64.
    """
    prepared = _prepared_for(X, parameters)
    moments = chunk_moments(X, sample_weight, prepared, parameters.form.second_moment(kind))
    return unwhiten(moments_to_host(moments), parameters, kind)


def accumulate_statistics(
    X: np.ndarray,
    responsibilities: np.ndarray,
    sample_weight: np.ndarray | None,
    shift: np.ndarray,
    kind: ScatterKind,
    log_likelihood: float = 0.0,
) -> SufficientStatistics:
    """Sufficient statistics of given responsibilities (used to start EM).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows.
    responsibilities : ndarray of shape (n_samples, n_components)
        γ_nk, rows summing to one.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights w_n; None means all ones.
    shift : ndarray of shape (n_components, n_features)
        The shift c_k.
    kind : {"trace", "diagonal", "full"}
        How much of the scatter to keep.
    log_likelihood : float, default=0.0
        ``Σ w_n log p(x_n)`` of these rows, stored as is.

    Returns
    -------
    SufficientStatistics
        In float64.

    Notes
    -----
    The differences x − c_k are formed before any product; the components are visited
    one after the other, so the scratch is (n_samples × n_features).
    """
    dtype = X.dtype
    weighted = responsibilities.astype(dtype, copy=False)
    if sample_weight is not None:
        weighted = weighted * sample_weight.astype(dtype, copy=False)[:, None]
    n_components, n_features = shift.shape
    shift_cast = shift.astype(dtype)
    weighted_sum = np.empty((n_components, n_features))
    scatter = np.empty((n_components, n_features, n_features))
    for k in range(n_components):
        difference = X - shift_cast[k]
        column = weighted[:, k]
        weighted_sum[k] = column @ difference
        scatter[k] = (difference * column[:, None]).T @ difference
    if sample_weight is None:
        total_weight = float(X.shape[0])
    else:
        total_weight = float(np.sum(sample_weight, dtype=np.float64))
    return SufficientStatistics(
        n_k=np.sum(weighted, axis=0, dtype=np.float64),
        weighted_sum=weighted_sum,
        scatter=reduce_scatter(scatter, kind),
        shift=np.asarray(shift, dtype=np.float64),
        total_weight=total_weight,
        log_likelihood=float(log_likelihood),
    )
