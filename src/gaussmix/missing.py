"""Missing values inside EM: the observed-data likelihood of rows with NaN entries.

Entries that are NaN are missing at random. A row ``x`` with observed coordinates ``o``
and missing ones ``m`` contributes the marginal density of what was observed,

    p(x_o) = Σ_k π_k N(x_o | μ_{k,o}, Σ_{k,oo}),

and, to the M-step, the expected statistics of the complete row given what was seen
(Ghahramani & Jordan 1994; McLachlan & Krishnan 2008, §2.2): the missing block is
replaced by the conditional mean ``E[x_m | x_o, k] = μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o)`` and
the conditional covariance ``Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om`` is added to the expected scatter
(its diagonal or trace for the diagonal and spherical scatter kinds). The result is an
ordinary :class:`~gaussmix.statistics.SufficientStatistics` about the E-step's means, so
it adds to the statistics of the complete rows and every covariance model's M-step applies
unchanged.

Rows are grouped by their pattern of missing entries once per executor (per chunk for
Dask), so that one factorisation of ``Σ_{k,oo}`` per pattern and component serves every
row of the pattern. Complete rows keep the ordinary executor and its fused kernels.
The incomplete rows are computed on the host in float64 whatever the backend (a torch
fit copies them to the host once; a Dask fit computes them inside each chunk's task).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from gaussmix import compiling, fused
from gaussmix.backends.base import Executor, PosteriorFunction
from gaussmix.backends.torch import import_torch, is_tensor, to_numpy
from gaussmix.covariance.base import ScatterKind
from gaussmix.covariance.forms import SecondMoment, dense_covariances
from gaussmix.exceptions import InvalidInputError
from gaussmix.kernels import ChunkMoments, PreparedParameters, log_gaussian_density
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "MISSING_CHOICES",
    "MissingValuesExecutor",
    "PatternGroup",
    "Patterns",
    "check_missing_values",
    "component_log_densities",
    "conditional_completion",
    "group_patterns",
    "has_missing",
    "marginal_posterior",
    "masked_as_nan",
    "mean_imputed",
    "mean_observed",
    "missing_values_executor",
    "observed_counts",
    "pattern_statistics",
]

MISSING_CHOICES = ("error", "em")
"""The values of the estimators' ``missing`` parameter."""

_LOG_2PI = float(np.log(2.0 * np.pi))


def has_missing(X: Any) -> bool:
    """Whether an in-memory array or tensor holds a NaN entry.

    Parameters
    ----------
    X : ndarray or torch.Tensor

    Returns
    -------
    bool
    """
    if is_tensor(X):
        return bool(import_torch().isnan(X).any())
    # The sum propagates NaN without building an X-sized boolean array.
    return X.size > 0 and bool(np.isnan(np.sum(X)))


def observed_counts(X: Any) -> Any:
    """Observed (non-NaN) entries of each row, as floats of X's kind (array or tensor).

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)

    Returns
    -------
    ndarray or torch.Tensor of shape (n_samples,)
    """
    if is_tensor(X):
        torch = import_torch()
        return (~torch.isnan(X)).sum(dim=1).to(X.dtype)
    return (~np.isnan(X)).sum(axis=1).astype(X.dtype)


def mean_observed(X: Any, sample_weight: np.ndarray | None = None) -> float:
    """The (weighted) mean number of observed entries per row.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    float
    """
    counts = np.asarray(to_numpy(observed_counts(X)), dtype=np.float64)
    return float(np.average(counts, weights=sample_weight))


def masked_as_nan(X: Any) -> Any:
    """A ``numpy.ma`` array with its masked entries as NaN (anything else unchanged).

    Parameters
    ----------
    X : object

    Returns
    -------
    object
        A float ndarray for a masked array (integers become float64).
    """
    if not isinstance(X, np.ma.MaskedArray):
        return X
    data = np.ma.getdata(X)
    dtype = data.dtype if data.dtype in (np.float32, np.float64) else np.float64
    return np.ma.filled(X.astype(dtype), np.nan)


def check_missing_values(X: np.ndarray, name: str = "X", *, whole: bool = True) -> None:
    """Refuse infinite entries, rows with no observed entry and, in the whole data, columns
    with no observed entry (NaN is allowed).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Host data.
    name : str, default="X"
    whole : bool, default=True
        Whether X holds all the rows of the fit. A column with no observed entry leaves
        its mean and variance undetermined (EM would keep the start's, silently); only
        the whole data can show that, not one block of it.

    Raises
    ------
    InvalidInputError
    """
    if X.size == 0:
        return
    infinite = np.isinf(X)
    if infinite.any():
        row, column = (int(i) for i in np.argwhere(infinite)[0])
        raise InvalidInputError(
            f"{name} must contain only finite values or NaN (missing) with missing='em'; got "
            f"{int(infinite.sum())} infinite entries (first at row {row}, column {column}). "
            "Replace them by NaN to treat them as missing, or remove those rows."
        )
    empty = np.all(np.isnan(X), axis=1)
    if empty.any():
        raise InvalidInputError(
            f"every row of {name} must have at least one observed (non-NaN) entry to be "
            f"fitted; got {int(empty.sum())} rows with every entry missing (first: row "
            f"{int(np.argmax(empty))}). They carry no information about the mixture: drop "
            f"them, e.g. {name}[~np.isnan({name}).all(axis=1)]."
        )
    unobserved = np.all(np.isnan(X), axis=0)
    if whole and unobserved.any():
        raise InvalidInputError(
            f"every column of {name} must have at least one observed (non-NaN) entry; "
            f"columns {np.flatnonzero(unobserved).tolist()} have none, so their means and "
            f"variances cannot be estimated. Drop them, e.g. "
            f"{name}[:, ~np.isnan({name}).all(axis=0)]."
        )


def mean_imputed(X: Any, sample_weight: np.ndarray | None = None) -> Any:
    """X with every NaN replaced by its column's (weighted) mean of the observed entries.

    The starts of a fit with missing values (k-means, hierarchical, random) are drawn on
    these rows; EM then works with the marginal likelihood only.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    ndarray
        On the host; X itself when it has no NaN. A column with no observed entry is 0.
    """
    X = to_numpy(X)
    missing = np.isnan(X)
    if not missing.any():
        return X
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    observed_weight = (~missing * weights[:, None]).sum(axis=0)
    totals = (np.where(missing, 0.0, X) * weights[:, None]).sum(axis=0)
    means = np.divide(totals, observed_weight, out=np.zeros_like(totals), where=observed_weight > 0)
    return np.where(missing, means.astype(X.dtype), X)


@dataclass(frozen=True)
class PatternGroup:
    """The rows that share one pattern of missing entries.

    Parameters
    ----------
    observed : ndarray of int
        Observed columns ``o``.
    missing : ndarray of int
        Missing columns ``m`` (not empty).
    rows : ndarray of int
        Their indices in the rows the groups were made from.
    values : ndarray of shape (n_rows, len(observed))
        Their observed entries, float64.
    weights : ndarray of shape (n_rows,)
        Their sample weights, float64.
    """

    observed: np.ndarray
    missing: np.ndarray
    rows: np.ndarray
    values: np.ndarray
    weights: np.ndarray

    @functools.cached_property
    def centre(self) -> np.ndarray:
        """The mean of the observed entries, which the moments are taken about."""
        return np.mean(self.values, axis=0)

    @functools.cached_property
    def centred(self) -> np.ndarray:
        """The observed entries minus :attr:`centre`."""
        return self.values - self.centre


class Patterns(list):
    """A list of :class:`PatternGroup` that also keeps them packed for the compiled loop."""

    @functools.cached_property
    def packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows (n, D) pattern after pattern, weights, starts (P + 1,), observed (P, D))."""
        n_features = self[0].observed.size + self[0].missing.size
        starts = np.cumsum([0, *(group.rows.size for group in self)])
        rows = np.zeros((int(starts[-1]), n_features))
        observed = np.zeros((len(self), n_features), dtype=np.bool_)
        for index, group in enumerate(self):
            rows[starts[index] : starts[index + 1], group.observed] = group.values
            observed[index, group.observed] = True
        weights = np.concatenate([group.weights for group in self])
        return rows, weights, starts.astype(np.int64), observed


def group_patterns(X: np.ndarray, sample_weight: np.ndarray | None = None) -> Patterns:
    """The incomplete rows of X grouped by their pattern of missing entries.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Host data; NaN marks a missing entry.
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    Patterns
        A list of PatternGroup in the order of the patterns' packed bits (deterministic);
        complete rows are in none.
    """
    missing = np.isnan(X)
    incomplete = np.flatnonzero(missing.any(axis=1))
    if incomplete.size == 0:
        return Patterns()
    # Packed bits make each pattern a short byte string, so that np.unique sorts bytes.
    packed = np.packbits(missing[incomplete], axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse.ravel(), minlength=first.size))[:-1]
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    groups = Patterns()
    for members in np.split(order, bounds):
        rows = incomplete[members]
        pattern = missing[rows[0]]
        observed = np.flatnonzero(~pattern)
        groups.append(
            PatternGroup(
                observed=observed,
                missing=np.flatnonzero(pattern),
                rows=rows,
                values=np.asarray(X[np.ix_(rows, observed)], dtype=np.float64),
                weights=np.asarray(weights[rows], dtype=np.float64),
            )
        )
    return groups


@dataclass(frozen=True)
class _Conditional:
    """One pattern under every component: marginal log-densities and conditional moments.

    ``offsets`` (K, n, D) are x̂ − μ_k with the missing block at its conditional mean;
    ``covariance`` (K, |m|, |m|) the conditional covariance of the missing block.
    """

    weighted_log_prob: np.ndarray
    offsets: np.ndarray
    covariance: np.ndarray


def _dense(parameters: MixtureParameters) -> np.ndarray:
    return np.broadcast_to(
        dense_covariances(
            np.asarray(parameters.covariances, dtype=np.float64),
            parameters.form,
            parameters.n_components,
            parameters.n_features,
        ),
        (parameters.n_components, parameters.n_features, parameters.n_features),
    )


def _conditional(
    group: PatternGroup, parameters: MixtureParameters, covariances: np.ndarray
) -> _Conditional:
    """Marginal densities and conditional moments of one pattern, batched over components."""
    means = np.asarray(parameters.means, dtype=np.float64)
    o, m = group.observed, group.missing
    n_components = means.shape[0]
    log_weights = np.log(np.asarray(parameters.weights, dtype=np.float64))
    offsets = np.empty((n_components, group.rows.size, means.shape[1]))
    if o.size == 0:
        # Nothing observed (predictions only): the marginal density is 1.
        offsets[:] = 0.0
        weighted = np.broadcast_to(log_weights, (group.rows.size, n_components))
        return _Conditional(np.array(weighted), offsets, covariances[:, m[:, None], m].copy())
    sigma_oo = covariances[:, o[:, None], o]
    # Σ_oo = L Lᵀ once per pattern and component; z = L⁻¹(x_o − μ_o), B = L⁻¹ Σ_om.
    factor = np.linalg.cholesky(sigma_oo)
    inverse = np.linalg.inv(factor)
    differences = group.values[None, :, :] - means[:, None, o]
    whitened = differences @ np.swapaxes(inverse, 1, 2)
    log_det = np.sum(np.log(np.diagonal(factor, axis1=1, axis2=2)), axis=1)
    log_density = -0.5 * (o.size * _LOG_2PI + np.sum(whitened**2, axis=2)) - log_det[:, None]
    projection = inverse @ covariances[:, o[:, None], m]
    offsets[:, :, o] = differences
    offsets[:, :, m] = whitened @ projection
    conditional = covariances[:, m[:, None], m] - np.swapaxes(projection, 1, 2) @ projection
    return _Conditional((log_density + log_weights[:, None]).T, offsets, conditional)


def _normalised(weighted_log_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log p(x_o) and the responsibilities of rows' weighted log-probabilities (n, K)."""
    largest = np.max(weighted_log_prob, axis=1, keepdims=True)
    shifted = np.exp(weighted_log_prob - largest)
    total = np.sum(shifted, axis=1, keepdims=True)
    return (largest + np.log(total))[:, 0], shifted / total


def pattern_statistics(
    groups: list[PatternGroup],
    parameters: MixtureParameters,
    kind: ScatterKind,
    compiled: bool | None = None,
) -> SufficientStatistics:
    """Expected sufficient statistics of the incomplete rows, about the means of ``parameters``.

    Parameters
    ----------
    groups : list of PatternGroup
        From :func:`group_patterns`.
    parameters : MixtureParameters
        The E-step's mixture.
    kind : {"trace", "diagonal", "full"}
        The scatter kind of the covariance model.
    compiled : bool or None, default=None
        Visit the rows with the numba loop of :mod:`gaussmix._compiled_missing`; None uses
        it when numba is installed. Both give the same sums to rounding.

    Returns
    -------
    SufficientStatistics
        ``log_likelihood`` is Σ w log p(x_o), the observed-data log-likelihood.

    Notes
    -----
    Per pattern and component the completed row is linear in the observed differences:
    ``x̂ − μ_k = A_k (x_o − μ_ko)`` with ``A_k`` the identity on ``o`` and
    ``Σ_mo Σ_oo⁻¹`` on ``m``. So only the responsibility-weighted first and second
    moments of the observed differences are summed over rows (two GEMMs per pattern),
    and ``A_k`` carries them to all D coordinates: ``Σ r w (x̂ − μ_k) = A_k s_k``,
    ``Σ r w (x̂ − μ_k)(x̂ − μ_k)ᵀ = A_k S_k A_kᵀ`` plus ``n_k`` times the conditional
    covariance on the missing block. The moments are taken about the pattern's mean row
    and then moved to ``μ_k`` (no cancellation for the components that own the rows).
    """
    means = np.asarray(parameters.means, dtype=np.float64)
    n_components, n_features = means.shape
    total = SufficientStatistics.zeros(means, kind)
    if not groups:
        return total
    covariances = _dense(parameters)
    log_weights = np.log(np.asarray(parameters.weights, dtype=np.float64))
    n_k = np.zeros(n_components)
    weighted_sum = np.zeros((n_components, n_features))
    full = np.zeros((n_components, n_features, n_features))
    log_likelihood = 0.0
    total_weight = 0.0
    kernel = _compiled_kernel() if compiled is None or compiled else None
    if compiled and kernel is None:
        raise ImportError("compiled=True needs numba: pip install 'gaussmix[fast]'")
    if kernel is not None:
        result = _compiled_statistics(kernel, groups, means, covariances, log_weights, kind)
        if result is not None:
            return result
    for group in groups:
        o, m = group.observed, group.missing
        marginal = _Marginal.of(covariances, o)
        group_n_k, first, second, group_log_likelihood = _observed_moments(
            group, marginal, means[:, o], log_weights
        )
        first, second = _moved(group, first, second, means[:, o], group_n_k)
        gain, conditional = marginal.conditional(covariances, o, m)
        completion = np.zeros((n_components, n_features, o.size))
        completion[:, o, np.arange(o.size)] = 1.0
        completion[:, m, :] = gain
        n_k += group_n_k
        weighted_sum += (completion @ first[:, :, None])[:, :, 0]
        full += completion @ second @ np.swapaxes(completion, 1, 2)
        full[:, m[:, None], m] += group_n_k[:, None, None] * conditional
        log_likelihood += group_log_likelihood
        total_weight += float(np.sum(group.weights))
    diagonal = np.diagonal(full, axis1=1, axis2=2)
    scatter = {"full": full, "diagonal": diagonal.copy(), "trace": np.sum(diagonal, axis=1)}[kind]
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=scatter,
        shift=means,
        total_weight=total_weight,
        log_likelihood=log_likelihood,
    )


@dataclass(frozen=True)
class _Marginal:
    """The factors of Σ_{k,oo} of one pattern for every component: Σ_oo = L Lᵀ."""

    inverse: np.ndarray  # (K, |o|, |o|), L⁻¹
    log_det: np.ndarray  # (K,), log |L|

    @classmethod
    def of(cls, covariances: np.ndarray, observed: np.ndarray) -> _Marginal:
        factor = np.linalg.cholesky(covariances[:, observed[:, None], observed])
        return cls(
            np.linalg.inv(factor), np.sum(np.log(np.diagonal(factor, axis1=1, axis2=2)), axis=1)
        )

    def log_density(self, values: np.ndarray, means_o: np.ndarray) -> np.ndarray:
        """(n, K) log N(x_o | μ_ko, Σ_koo): one GEMM for every component at once."""
        n_components, size, _ = self.inverse.shape
        # Row form z = (x_o − μ_o) L⁻ᵀ; the K blocks of L⁻ᵀ side by side.
        stacked = np.swapaxes(self.inverse, 1, 2).transpose(1, 0, 2).reshape(size, -1)
        offsets = np.einsum("ko,kop->kp", means_o, np.swapaxes(self.inverse, 1, 2)).ravel()
        whitened = values @ stacked - offsets
        np.square(whitened, out=whitened)
        # Each component's squares summed by a GEMM with a block indicator: far faster than
        # a strided reduction over (n, K, |o|) (bench_missing.py).
        blocks = np.repeat(np.eye(n_components), size, axis=0)
        return -0.5 * (size * _LOG_2PI + whitened @ blocks) - self.log_det

    def conditional(
        self, covariances: np.ndarray, observed: np.ndarray, missing: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Σ_mo Σ_oo⁻¹ (K, |m|, |o|) and Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om (K, |m|, |m|)."""
        projection = self.inverse @ covariances[:, observed[:, None], missing]  # L⁻¹ Σ_om
        gain = np.swapaxes(projection, 1, 2) @ self.inverse
        conditional = covariances[:, missing[:, None], missing] - (
            np.swapaxes(projection, 1, 2) @ projection
        )
        return gain, conditional


def _observed_moments(
    group: PatternGroup, marginal: _Marginal, means_o: np.ndarray, log_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """n_k, Σ r w (x_o − c), Σ r w (x_o − c)(x_o − c)ᵀ about the pattern's centre c, and
    Σ w log p(x_o), with NumPy."""
    log_norm, responsibilities = _normalised(
        marginal.log_density(group.values, means_o) + log_weights
    )
    weighted = responsibilities * group.weights[:, None]  # (n, K)
    centred = group.centred
    first = weighted.T @ centred
    second = np.stack([(centred * weighted[:, [k]]).T @ centred for k in range(weighted.shape[1])])
    return np.sum(weighted, axis=0), first, second, float(group.weights @ log_norm)


def _compiled_statistics(
    kernel: Any,
    groups: list[PatternGroup],
    means: np.ndarray,
    covariances: np.ndarray,
    log_weights: np.ndarray,
    kind: ScatterKind,
) -> SufficientStatistics | None:
    """Every pattern in one compiled call; None when a Σ_oo does not factorise there (the
    NumPy path then raises LAPACK's error)."""
    packed = groups.packed if isinstance(groups, Patterns) else Patterns(groups).packed
    rows, weights, starts, observed = packed
    n_components, n_features = means.shape
    n_k = np.zeros(n_components)
    weighted_sum = np.zeros((n_components, n_features))
    full = np.zeros((n_components, n_features, n_features))
    total = compiling.call(
        kernel,
        rows,
        weights,
        starts,
        observed,
        np.ascontiguousarray(means),
        np.ascontiguousarray(covariances),
        log_weights,
        n_k,
        weighted_sum,
        full,
    )
    if np.isnan(total):
        return None
    diagonal = np.diagonal(full, axis1=1, axis2=2)
    scatter = {"full": full, "diagonal": diagonal.copy(), "trace": np.sum(diagonal, axis=1)}[kind]
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=scatter,
        shift=means,
        total_weight=float(np.sum(weights)),
        log_likelihood=float(total),
    )


def _moved(
    group: PatternGroup,
    first: np.ndarray,
    second: np.ndarray,
    means_o: np.ndarray,
    n_k: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Moments about the pattern's centre c moved to μ_k: with δ = c − μ_k,
    Σ r w (x−μ)(x−μ)ᵀ = S_c + s_c δᵀ + δ s_cᵀ + n δ δᵀ and Σ r w (x−μ) = s_c + n δ."""
    delta = group.centre - means_o
    cross = first[:, :, None] * delta[:, None, :]
    second = second + cross + np.swapaxes(cross, 1, 2)
    second += n_k[:, None, None] * delta[:, :, None] * delta[:, None, :]
    return first + n_k[:, None] * delta, second


def _compiled_kernel() -> Any:
    """The compiled row loop, or None without numba."""
    if not fused.available():
        return None
    from gaussmix._compiled_missing import all_patterns

    return all_patterns


def conditional_completion(
    X: np.ndarray,
    parameters: MixtureParameters,
    random_state: np.random.RandomState | None = None,
) -> np.ndarray:
    """X with its missing entries filled under a mixture: conditional means or draws.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Host data; NaN marks a missing entry.
    parameters : MixtureParameters
        The fitted mixture (in the units of X).
    random_state : numpy.random.RandomState or None, default=None
        None fills ``Σ_k r_k E[x_m | x_o, k]`` (r_k the responsibilities of the observed
        entries); a generator instead draws a component from r and then ``x_m`` from
        ``N(E[x_m | x_o, k], Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om)`` (one draw for multiple imputation).

    Returns
    -------
    ndarray
        A float64 copy of X; observed entries unchanged. A row with nothing observed gets
        the mixture's mean (or a draw from the mixture).
    """
    completed = np.array(X, dtype=np.float64)
    means = np.asarray(parameters.means, dtype=np.float64)
    covariances = _dense(parameters)
    for group in group_patterns(completed):
        terms = _conditional(group, parameters, covariances)
        _, responsibilities = _normalised(terms.weighted_log_prob)
        m = group.missing
        centres = terms.offsets[:, :, m] + means[:, None, m]  # (K, n, |m|)
        if random_state is None:
            filled = np.einsum("nk,knd->nd", responsibilities, centres)
        else:
            filled = _draw(centres, terms.covariance, responsibilities, random_state)
        completed[np.ix_(group.rows, m)] = filled
    return completed


def _draw(
    centres: np.ndarray,
    covariance: np.ndarray,
    responsibilities: np.ndarray,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """One draw per row: a component from its responsibilities, then its conditional Gaussian."""
    cumulative = np.cumsum(responsibilities, axis=1)
    uniform = random_state.uniform(size=(responsibilities.shape[0], 1))
    components = np.minimum(
        np.sum(cumulative < uniform * cumulative[:, -1:], axis=1), responsibilities.shape[1] - 1
    )
    noise = random_state.standard_normal(size=(centres.shape[1], centres.shape[2]))
    # The conditional covariance is positive semi-definite: a symmetric square root
    # from its eigen-decomposition stays real where a Cholesky factor may not exist.
    values, vectors = np.linalg.eigh(covariance)
    roots = vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]
    picked = np.arange(centres.shape[1])
    return centres[components, picked] + np.einsum("nij,nj->ni", roots[components], noise)


def component_log_densities(X: np.ndarray, parameters: MixtureParameters) -> np.ndarray:
    """log N(x_o | μ_{k,o}, Σ_{k,oo}) of every row under every component (the weights aside).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Host rows; NaN marks a missing entry (a row with none observed has density 1).
    parameters : MixtureParameters

    Returns
    -------
    ndarray of shape (n_samples, n_components), float64
        Complete rows through the ordinary kernel, the others by their marginals.
    """
    X = np.asarray(X, dtype=np.float64)
    groups = group_patterns(X)
    result = np.empty((X.shape[0], parameters.n_components))
    complete = np.ones(X.shape[0], dtype=bool)
    if groups:
        # Unit weights: the terms are then the log-densities themselves (a weight of 0
        # would make them −inf).
        unweighted = dataclasses.replace(parameters, weights=np.ones(parameters.n_components))
        covariances = _dense(parameters)
        for group in groups:
            result[group.rows] = _conditional(group, unweighted, covariances).weighted_log_prob
            complete[group.rows] = False
    if complete.any():
        result[complete] = log_gaussian_density(X[complete], parameters)
    return result


def marginal_posterior(
    rows: Any, parameters: MixtureParameters, complete: PosteriorFunction
) -> tuple[Any, Any]:
    """``(log p(x_o), responsibilities)`` of rows that may hold NaN, in the rows' kind.

    Complete rows go through ``complete`` (the executor's own kernels); the others through
    their marginals on the host.
    """
    host = np.asarray(to_numpy(rows))
    groups = group_patterns(host)
    if not groups:
        return complete(rows)
    n_rows = host.shape[0]
    log_norm = np.empty(n_rows)
    responsibilities = np.empty((n_rows, parameters.n_components))
    filled = np.zeros(n_rows, dtype=bool)
    covariances = _dense(parameters)
    for group in groups:
        terms = _conditional(group, parameters, covariances)
        log_norm[group.rows], responsibilities[group.rows] = _normalised(terms.weighted_log_prob)
        filled[group.rows] = True
    whole = np.flatnonzero(~filled)
    if whole.size:
        if is_tensor(rows):
            index = import_torch().from_numpy(whole).to(rows.device)
            part_norm, part = complete(rows[index])
        else:
            part_norm, part = complete(rows[whole])
        log_norm[whole] = np.asarray(to_numpy(part_norm), dtype=np.float64)
        responsibilities[whole] = np.asarray(to_numpy(part), dtype=np.float64)
    dtype = host.dtype
    log_norm, responsibilities = log_norm.astype(dtype), responsibilities.astype(dtype)
    if is_tensor(rows):
        torch = import_torch()
        return (
            torch.from_numpy(log_norm).to(rows.device),
            torch.from_numpy(responsibilities).to(rows.device),
        )
    return log_norm, responsibilities


class MissingValuesExecutor(Executor):
    """The E-step of data with missing entries: complete rows on the ordinary executor,
    incomplete rows grouped by pattern on the host.

    Parameters
    ----------
    full : Executor
        The ordinary executor over all rows (row maps, predictions).
    complete : Executor or None
        The ordinary executor over the complete rows only (their statistics); None when
        every row has a missing entry.
    groups : list of PatternGroup
        The incomplete rows, grouped by pattern (:func:`group_patterns`).

    Notes
    -----
    Not a :class:`~gaussmix.backends.numpy.SmallDataBackend`, so the compiled small-data
    loop (:func:`gaussmix.compiled_em.compiled_loop`) never runs for it: its fused E-step
    knows nothing of missing entries.
    """

    def __init__(self, full: Executor, complete: Executor | None, groups: list[PatternGroup]):
        self.full = full
        self.complete = complete
        self.groups = groups
        self.X = full.X
        self.sample_weight = full.sample_weight
        self.chunk_size = full.chunk_size

    @property
    def n_threads(self) -> int:
        """Those of the complete rows' executor."""
        return (self.complete or self.full).n_threads

    def prepare(self, parameters: MixtureParameters) -> PreparedParameters:
        """As the ordinary executor prepares them."""
        return self.full.prepare(parameters)

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """Not available: whitened moments cannot hold the conditional covariances."""
        raise TypeError(
            "MissingValuesExecutor sums SufficientStatistics, not whitened moments; call "
            "statistics(parameters, kind) instead of sum_moments."
        )

    def statistics(self, parameters: MixtureParameters, kind: ScatterKind) -> SufficientStatistics:
        """Statistics of the complete rows (ordinary executor) plus those of the patterns.

        Parameters
        ----------
        parameters : MixtureParameters
        kind : {"trace", "diagonal", "full"}

        Returns
        -------
        SufficientStatistics
        """
        incomplete = pattern_statistics(self.groups, parameters, kind)
        if self.complete is None:
            return incomplete
        return self.complete.statistics(parameters, kind) + incomplete

    def posterior_function(self, prepared: PreparedParameters) -> PosteriorFunction:
        """Marginal log-densities and responsibilities of rows that may hold NaN."""
        return partial(
            marginal_posterior,
            parameters=prepared.parameters,
            complete=self.full.posterior_function(prepared),
        )

    def map_rows(self, function: Callable[[Any], Any]) -> Any:
        """The ordinary executor's row map over all rows."""
        return self.full.map_rows(function)


def missing_values_executor(
    X: Any,
    sample_weight: Any,
    ordinary: Callable[[Any, Any], Executor],
) -> Executor | None:
    """The executor of in-memory data with NaN entries, or None when X has none.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
        Validated data (NaN allowed).
    sample_weight : ndarray or None
    ordinary : callable
        ``(rows, weights) -> Executor``: builds the ordinary executor over some rows.

    Returns
    -------
    MissingValuesExecutor or None
    """
    if not has_missing(X):
        return None
    host = np.asarray(to_numpy(X))
    weights = None if sample_weight is None else np.asarray(to_numpy(sample_weight))
    groups = group_patterns(host, weights)
    complete_rows = np.flatnonzero(~np.isnan(host).any(axis=1))
    complete = None
    if complete_rows.size:
        index = complete_rows
        if is_tensor(X):
            index = import_torch().from_numpy(complete_rows).to(X.device)
        complete = ordinary(X[index], None if sample_weight is None else sample_weight[index])
    return MissingValuesExecutor(ordinary(X, sample_weight), complete, groups)
