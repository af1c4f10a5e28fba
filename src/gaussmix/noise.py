"""A uniform noise component (mclust's ``noise``): its density, its E-step, starts and counts.

The mixture is f(x) = Σ_k π_k N(x | μ_k, Σ_k) + π_0·V⁻¹ with Σ_{k≥0} π_k = 1 and the noise
density V⁻¹ constant everywhere (Banfield & Raftery 1993). The Gaussians' weights are kept
in ``MixtureParameters.weights`` (they sum to 1 − π_0), so π_0 needs no field of its own.

The E-step adds one constant column, log(π_0 V⁻¹), to the log-sum-exp. It runs through the
executors' ``map_rows`` with the array kernels (one row function on NumPy chunks, tensors
or Dask blocks) and sums the statistics from the responsibilities with NumPy-style array
operations (lazily, in one ``dask.compute``, for Dask): the fused kernels and the compiled
loop know no noise term, so a noise fit never reaches them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gaussmix.backends.dask import is_dask_collection
from gaussmix.backends.torch import to_numpy
from gaussmix.covariance.base import CovarianceModel, ScatterKind
from gaussmix.exceptions import InvalidParameterError
from gaussmix.kernels import array_namespace, log_responsibilities, weighted_log_prob
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "NoiseExecutor",
    "NoiseStatistics",
    "check_noise_init",
    "embed_start",
    "free_parameters",
    "hypervolume",
    "noise_mask",
    "noise_rows",
    "start_responsibilities",
]


def free_parameters(
    model: CovarianceModel,
    n_components: int,
    n_features: int,
    *,
    equal_proportions: bool = False,
    noise: bool = False,
) -> int:
    """Free parameters of a mixture: weights, means, covariances, and the noise's two.

    Parameters
    ----------
    model : CovarianceModel
    n_components, n_features : int
        G and D (G = 0 only with noise: V⁻¹ alone, as mclust counts it).
    equal_proportions : bool, default=False
        π_k = 1/G fixed: the G − 1 weights are not free.
    noise : bool, default=False
        A noise component: its proportion and V⁻¹ add 2 (mclust's ``nMclustParams``).

    Returns
    -------
    int
    """
    if n_components == 0:
        return 1
    count = model.n_parameters(n_components, n_features) + n_components * n_features
    if not equal_proportions:
        count += n_components - 1
    if noise:
        count += 2
    return int(count)


def hypervolume(X: Any) -> float:
    """mclust's ``hypvol``: the smaller of the volumes of the bounding boxes of the data and
    of its principal-component scores (centred, unscaled data).

    Parameters
    ----------
    X : ndarray, torch.Tensor or dask.array.Array of shape (n_samples, n_features)

    Returns
    -------
    float
        V; the noise density is 1/V.
    """
    X = _numpy_style(X).astype(np.float64)
    lazy = is_dask_collection(X)
    mean = X.mean(axis=0)
    centred = X - mean
    cross = centred.T @ centred
    if lazy:
        import dask

        cross, low, high = dask.compute(cross, X.min(axis=0), X.max(axis=0))
    else:
        low, high = X.min(axis=0), X.max(axis=0)
    _, vectors = np.linalg.eigh(np.asarray(cross))
    scores = centred @ vectors
    score_low, score_high = scores.min(axis=0), scores.max(axis=0)
    if lazy:
        score_low, score_high = dask.compute(score_low, score_high)
    box = float(np.prod(np.asarray(high) - np.asarray(low)))
    principal = float(np.prod(np.asarray(score_high) - np.asarray(score_low)))
    return min(box, principal)


def _numpy_style(X: Any) -> Any:
    """NumPy and Dask arrays as they are; a tensor copied to a NumPy array on the host."""
    if is_dask_collection(X) or isinstance(X, np.ndarray):
        return X
    return np.asarray(to_numpy(X))


@dataclass(frozen=True)
class NoiseStatistics(SufficientStatistics):
    """The Gaussians' statistics of an E-step with a noise component, and the noise's weight.

    Parameters
    ----------
    noise_weight : float, default=0.0
        Σ_n w_n γ_n0; ``total_weight`` = Σ_k n_k + noise_weight.
    """

    noise_weight: float = 0.0


def _log_noise_term(parameters: MixtureParameters, log_noise: float) -> float:
    """log(π_0 V⁻¹) with π_0 = 1 − Σ_k π_k."""
    proportion = 1.0 - float(np.sum(parameters.weights))
    return math.log(proportion) + log_noise if proportion > 0 else -math.inf


def noise_rows(prepared: Any, log_term: float, output: str) -> Callable[[Any], Any]:
    """The row function of a mixture with a noise column.

    Parameters
    ----------
    prepared : PreparedParameters or MixtureParameters
        The Gaussians (weights summing to 1 − π_0).
    log_term : float
        log(π_0 V⁻¹).
    output : {"packed", "log_norm", "responsibilities", "labels"}
        ``"packed"``: (n, K + 2) columns [log p(x), γ_1 … γ_K, γ_0] (the E-step);
        ``"responsibilities"``: (n, K + 1), the noise last; ``"labels"``: −1 for noise.

    Returns
    -------
    callable
    """

    def function(rows: Any) -> Any:
        xp = array_namespace(rows)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            weighted = weighted_log_prob(rows, prepared)
            noise = xp.full((rows.shape[0], 1), log_term, dtype=weighted.dtype)
            if hasattr(weighted, "device"):
                noise = xp.asarray(noise, device=weighted.device)
            full = xp.concat([weighted, noise], axis=1)
            # Squares that overflowed far from a Gaussian: that row belongs to the noise.
            full = xp.where(xp.isnan(full), -xp.inf, full)
            log_norm, log_resp = log_responsibilities(full)
        if output == "log_norm":
            return log_norm
        responsibilities = xp.exp(log_resp)
        if output == "responsibilities":
            return responsibilities
        if output == "labels":
            labels = xp.argmax(responsibilities, axis=1)
            return xp.where(labels == weighted.shape[1], -1, labels)
        return xp.concat([xp.expand_dims(log_norm, axis=1), responsibilities], axis=1)

    return function


class NoiseExecutor:
    """An executor whose E-step has a noise component; everything else is the inner one's.

    Parameters
    ----------
    executor : Executor
        The executor over the fit's rows.
    log_noise : float
        log V⁻¹ in the units of the fit.
    """

    def __init__(self, executor: Any, log_noise: float):
        self.inner = executor
        self.log_noise = float(log_noise)
        self._host_X: np.ndarray | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def use_fused(self) -> bool:
        """False: the fused kernels have no noise column."""
        return False

    def map_rows(self, function: Callable[[Any], Any]) -> Any:
        """The inner executor's ``map_rows``."""
        return self.inner.map_rows(function)

    def statistics(self, parameters: MixtureParameters, kind: ScatterKind) -> NoiseStatistics:
        """E-step with the noise column: the Gaussians' statistics and the noise weight.

        Parameters
        ----------
        parameters : MixtureParameters
            The Gaussians (their weights sum to 1 − π_0); their means are the shift.
        kind : {"trace", "diagonal", "full"}

        Returns
        -------
        NoiseStatistics
        """
        prepared = self.inner.prepare(parameters)
        log_term = _log_noise_term(parameters, self.log_noise)
        packed = self.inner.map_rows(noise_rows(prepared, log_term, "packed"))
        X = self.inner.X
        if not (is_dask_collection(packed) or isinstance(packed, np.ndarray)):
            packed = np.asarray(to_numpy(packed))
            if self._host_X is None:
                self._host_X = np.asarray(to_numpy(X))
            X = self._host_X
        return _summed(packed, X, self.inner.sample_weight, parameters.means, kind)


def _summed(
    packed: Any, X: Any, sample_weight: Any, shift: np.ndarray, kind: ScatterKind
) -> NoiseStatistics:
    """Statistics of packed [log p, γ_1 … γ_K, γ_0] rows (NumPy or Dask, one compute)."""
    n_components = shift.shape[0]
    packed = packed.astype(np.float64)
    X = X.astype(np.float64)
    if sample_weight is None:
        weights = None
        total: Any = float(X.shape[0])
    else:
        weights = _numpy_style(sample_weight)
        if is_dask_collection(packed) and not is_dask_collection(weights):
            import dask.array as da

            weights = da.from_array(np.asarray(weights), chunks=(packed.chunks[0],))
        weights = weights.astype(np.float64)
        total = weights.sum()
    weighted = packed if weights is None else packed * weights[:, None]
    parts: list[Any] = [weighted[:, 1 : n_components + 1].sum(axis=0)]
    parts += [weighted[:, 0].sum(), weighted[:, n_components + 1].sum(), total]
    for k in range(n_components):
        difference = X - shift[k]
        column = weighted[:, 1 + k][:, None]
        parts.append((difference * column).sum(axis=0))
        if kind == "full":
            parts.append((difference * column).T @ difference)
        elif kind == "diagonal":
            parts.append((difference**2 * column).sum(axis=0))
        else:
            parts.append((difference**2 * column).sum())
    if is_dask_collection(packed):
        import dask

        parts = list(dask.compute(*parts))
    n_k, log_likelihood, noise_weight, total = parts[:4]
    sums, scatters = parts[4::2], parts[5::2]
    return NoiseStatistics(
        n_k=np.asarray(n_k, dtype=np.float64),
        weighted_sum=np.array(sums, dtype=np.float64),
        scatter=np.array(scatters, dtype=np.float64),
        shift=np.asarray(shift, dtype=np.float64),
        total_weight=float(total),
        log_likelihood=float(log_likelihood),
        noise_weight=float(noise_weight),
    )


_DEFAULT_NOISE_SHARE = 0.1
"""The starting π_0 when no row is marked as noise (``noise_init=None``)."""


def check_noise_init(noise_init: Any, n_samples: int) -> Any:
    """A checked ``noise_init``: None, a fraction in (0, 1), or a boolean mask of the rows.

    Parameters
    ----------
    noise_init : None, float or array-like of shape (n_samples,)
    n_samples : int

    Returns
    -------
    None, float or ndarray of bool

    Raises
    ------
    InvalidParameterError
    """
    if noise_init is None:
        return None
    if np.ndim(noise_init) == 0 and not isinstance(noise_init, (bool, np.bool_)):
        value = float(noise_init)
        if not 0.0 < value < 1.0:
            raise InvalidParameterError(
                f"noise_init as a fraction of the rows must lie in (0, 1); got {value!r}."
            )
        return value
    mask = np.asarray(noise_init)
    if mask.shape != (n_samples,) or not np.all((mask == 0) | (mask == 1)):
        raise InvalidParameterError(
            f"noise_init must be None, a fraction in (0, 1) or a boolean mask of shape "
            f"({n_samples},); got an array of shape {mask.shape} and dtype {mask.dtype}."
        )
    mask = mask.astype(bool)
    if mask.all():
        raise InvalidParameterError(
            "noise_init must leave rows for the Gaussian components; every row is marked "
            "as noise. Mark fewer rows."
        )
    return mask


def start_responsibilities(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    noise_init: Any,
    random_state: np.random.RandomState,
    draw: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
) -> np.ndarray:
    """The Gaussians' starting responsibilities (n, K), the noise's share left out.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray or None
    noise_init : None, float or ndarray of bool
        Checked by :func:`check_noise_init`. A fraction draws that many rows as noise with
        ``random_state``; None gives every row a noise share of 0.1.
    random_state : numpy.random.RandomState
    draw : callable
        ``draw(rows, weights)``: the starting responsibilities of the Gaussians on the
        non-noise rows (``init_params``).

    Returns
    -------
    ndarray of shape (n_samples, n_components)
        Rows sum to 1 − (their noise share); the first M-step then gives weights summing
        to 1 − π_0.
    """
    mask = noise_mask(noise_init, X.shape[0], random_state)
    kept = slice(None) if mask is None else ~mask
    inner = draw(X[kept], None if sample_weight is None else sample_weight[kept])
    return embed_start(inner, mask)


def noise_mask(
    noise_init: Any, n_samples: int, random_state: np.random.RandomState
) -> np.ndarray | None:
    """The rows that start as noise: the mask given, a draw of the fraction given, or None.

    Parameters
    ----------
    noise_init : None, float or ndarray of bool
        Checked by :func:`check_noise_init`.
    n_samples : int
    random_state : numpy.random.RandomState
        Draws the rows of a fraction.

    Returns
    -------
    ndarray of bool or None
    """
    if noise_init is None or not isinstance(noise_init, float):
        return noise_init
    count = max(1, min(n_samples - 1, round(noise_init * n_samples)))
    mask = np.zeros(n_samples, dtype=bool)
    mask[random_state.choice(n_samples, size=count, replace=False)] = True
    return mask


def embed_start(inner: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The Gaussians' starting responsibilities of all rows from those of the non-noise ones.

    Parameters
    ----------
    inner : ndarray of shape (n_kept, n_components)
        Responsibilities of the rows outside ``mask`` (of all rows when ``mask`` is None).
    mask : ndarray of bool of shape (n_samples,) or None
        The noise rows; None gives every row a noise share of 0.1.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    if mask is None:
        return (1.0 - _DEFAULT_NOISE_SHARE) * inner
    responsibilities = np.zeros((mask.shape[0], inner.shape[1]))
    responsibilities[~mask] = inner
    return responsibilities


def label_counts(labels: Any, n_components: int) -> np.ndarray:
    """Rows per component, with the noise rows (label −1), if any, counted last.

    Parameters
    ----------
    labels : array-like of int
        ``predict``'s labels (−1: noise).
    n_components : int

    Returns
    -------
    ndarray of int
        Length n_components, or n_components + 1 when some row is noise.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0], minlength=n_components)
    noise = int(np.count_nonzero(labels < 0))
    return np.append(counts, noise) if noise else counts
