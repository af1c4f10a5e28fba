"""Starting points for EM: initial responsibilities from k-means, k-means++, random draws,
model-based hierarchical clustering, or given by the user."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning

from gaussmix import one_pass, precompile
from gaussmix.covariance.base import CovarianceModel
from gaussmix.exceptions import InvalidParameterError
from gaussmix.hierarchical import build_tree
from gaussmix.kernels import accumulate_statistics
from gaussmix.kmeans import kmeans, kmeans_available, partition_statistics
from gaussmix.mstep import MStepRule, maximize
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = [
    "InitMethod",
    "Partition",
    "check_responsibilities_init",
    "dense_responsibilities",
    "draw_start",
    "initial_responsibilities",
    "parameters_from_responsibilities",
]

InitMethod = Literal["kmeans", "k-means++", "random", "random_from_data", "hierarchical"]

# Rows per block when the starting parameters are computed from the responsibilities.
_INIT_BLOCK_ROWS = 65536


def _one_hot(labels: np.ndarray, n_samples: int, n_components: int) -> np.ndarray:
    responsibilities = np.zeros((n_samples, n_components))
    responsibilities[np.arange(labels.shape[0]), labels] = 1.0
    return responsibilities


@dataclass(frozen=True)
class Partition:
    """A start drawn as hard labels (k-means), kept as labels: its first M-step takes the
    statistics of the labels in one pass (:func:`gaussmix.kmeans.partition_statistics`)
    instead of the products of an (n_samples, K) one-hot array with the data.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,), int64
        The component of every row.
    n_components : int
        K.
    """

    labels: np.ndarray
    n_components: int

    def responsibilities(self) -> np.ndarray:
        """The one-hot responsibilities of shape (n_samples, n_components)."""
        return _one_hot(self.labels, self.labels.shape[0], self.n_components)


def dense_responsibilities(start: np.ndarray | Partition) -> np.ndarray:
    """The responsibilities of a drawn start as an array, whichever way it was drawn.

    Parameters
    ----------
    start : ndarray of shape (n_samples, n_components) or Partition

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    return start.responsibilities() if isinstance(start, Partition) else start


def _points_as_components(indices: np.ndarray, n_samples: int) -> np.ndarray:
    """Responsibilities that give component k exactly the point ``indices[k]``."""
    responsibilities = np.zeros((n_samples, indices.shape[0]))
    responsibilities[indices, np.arange(indices.shape[0])] = 1.0
    return responsibilities


def initial_responsibilities(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    n_components: int,
    method: InitMethod,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """Initial responsibilities γ⁰ of shape (n_samples, n_components).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; rows of weight zero are never chosen as seeds.
    n_components : int
        K.
    method : {"kmeans", "k-means++", "random", "random_from_data", "hierarchical"}
        ``"kmeans"``: hard labels of one run of k-means as scikit-learn's
        ``KMeans(n_init=1)`` runs it (:func:`gaussmix.kmeans.kmeans`; scikit-learn's own
        for float32 rows or over 65,536 rows);
        ``"k-means++"``: one seed point per component chosen by k-means++;
        ``"random"``: uniform random soft assignments;
        ``"random_from_data"``: one seed point per component drawn without replacement,
        uniformly, or with probability proportional to the sample weights;
        ``"hierarchical"``: the partition into n_components groups of model-based
        agglomerative clustering (:func:`gaussmix.hierarchical.build_tree`), deterministic,
        on a fixed subsample of 2000 rows for larger data (other rows get zero rows).
    random_state : numpy.random.RandomState
        Source of randomness, advanced by the draw.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    return dense_responsibilities(draw_start(X, sample_weight, n_components, method, random_state))


def draw_start(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    n_components: int,
    method: InitMethod,
    random_state: np.random.RandomState,
) -> np.ndarray | Partition:
    """A start as :func:`initial_responsibilities` draws it, the k-means labels of float64
    rows kept as a :class:`Partition`.

    Parameters
    ----------
    X, sample_weight, n_components, method, random_state
        As for :func:`initial_responsibilities`.

    Returns
    -------
    ndarray of shape (n_samples, n_components) or Partition
    """
    n_samples = X.shape[0]
    if method == "kmeans":
        if kmeans_available(X, sample_weight):
            # scikit-learn's KMeans(n_init=1) run without its per-call overhead, with the
            # same draws (gaussmix.kmeans); float32 and large data stay with scikit-learn's.
            labels = kmeans(
                X, sample_weight, n_components, random_state, compiled=precompile.ready()
            ).labels
        else:
            with warnings.catch_warnings():
                # KMeans reports fewer distinct points than clusters as a ConvergenceWarning
                # (gaussmix.kmeans says nothing): the empty component it leaves is re-seeded
                # and reported by the collapse policy, and a fit warns about convergence
                # once, for EM itself.
                warnings.simplefilter("ignore", ConvergenceWarning)
                labels = (
                    KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
                    .fit(X, sample_weight=sample_weight)
                    .labels_
                )
        if X.dtype == np.float64:
            return Partition(np.asarray(labels, dtype=np.int64), n_components)
        return _one_hot(labels, n_samples, n_components)
    if method == "k-means++":
        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
        return _points_as_components(indices, n_samples)
    if method == "hierarchical":
        # The NumPy agglomeration while the kernels compile in the background (same merges).
        tree = build_tree(X, sample_weight, compiled=None if precompile.ready() else False)
        return tree.responsibilities(n_samples, n_components)
    if method == "random":
        responsibilities = random_state.uniform(size=(n_samples, n_components))
        return responsibilities / responsibilities.sum(axis=1, keepdims=True)
    if sample_weight is None:
        indices = random_state.choice(n_samples, size=n_components, replace=False)
    else:
        # A row of weight w is as likely to be drawn as w repeated rows would be (for the
        # first seed); rows of weight zero are never drawn.
        indices = random_state.choice(
            n_samples, size=n_components, replace=False, p=sample_weight / sample_weight.sum()
        )
    return _points_as_components(indices, n_samples)


def parameters_from_responsibilities(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    responsibilities: np.ndarray | Partition,
    model: CovarianceModel,
    reg_covar: float,
    rule: MStepRule | None = None,
) -> MixtureParameters:
    """One M-step from given responsibilities: the starting parameters θ₀.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights.
    responsibilities : ndarray of shape (n_samples, n_components) or Partition
        Soft or one-hot assignments, or hard labels.
    model : CovarianceModel
        The covariance constraint.
    reg_covar : float
        Added once to every variance.
    rule : MStepRule, optional
        The fit's M-step (a prior, fixed proportions) in place of the ML one.

    Returns
    -------
    MixtureParameters
    """
    if isinstance(responsibilities, Partition):
        statistics = partition_statistics(
            X,
            sample_weight,
            responsibilities.labels,
            responsibilities.n_components,
            model.scatter,
            compiled=precompile.ready(),
        )
    else:
        statistics = _start_statistics(X, sample_weight, responsibilities, model)
    if rule is not None:
        return rule.maximize(statistics)
    # The ML M-step in one compiled call where numba's kernels are ready (gaussmix.one_pass).
    # The statistics of soft and hierarchical starts stay NumPy's products: select_model's
    # cells with components of a few rows are that sensitive to rounding (banknote, G = 9:
    # VVV fits or collapses on the last bits).
    parameters = one_pass.first_m_step(statistics, model, reg_covar)
    return parameters if parameters is not None else maximize(statistics, model, reg_covar)


def _start_statistics(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    responsibilities: np.ndarray,
    model: CovarianceModel,
) -> SufficientStatistics:
    """The statistics of given responsibilities about their provisional means (NumPy)."""
    # Both passes visit row blocks, so that the memory overhead is a few
    # block-sized temporaries rather than float64 and difference copies of all of X.
    blocks = [
        slice(start, start + _INIT_BLOCK_ROWS) for start in range(0, X.shape[0], _INIT_BLOCK_ROWS)
    ]
    n_k = np.zeros(responsibilities.shape[1])
    weighted_sum = np.zeros((responsibilities.shape[1], X.shape[1]))
    for block in blocks:
        weighted = responsibilities[block]
        if sample_weight is not None:
            weighted = weighted * sample_weight[block, None]
        n_k += weighted.sum(axis=0)
        weighted_sum += weighted.T @ X[block].astype(np.float64)
    # Statistics are taken about provisional means (DESIGN.md §1): a first pass finds
    # them, a second accumulates the scatter about them without cancellation.
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = weighted_sum / n_k[:, None]
    shift = np.where(np.isfinite(shift), shift, 0.0)
    statistics = SufficientStatistics.zeros(shift, model.scatter)
    for block in blocks:
        statistics = statistics + accumulate_statistics(
            X[block],
            responsibilities[block],
            None if sample_weight is None else sample_weight[block],
            shift,
            model.scatter,
        )
    # --- end memory
    return statistics


def check_responsibilities_init(
    responsibilities_init: object, n_samples: int, n_components: int
) -> np.ndarray:
    """Validate user-given starting responsibilities or labels.

    Parameters
    ----------
    responsibilities_init : array-like
        Either integer labels of shape (n_samples,) in 0 … n_components − 1, or
        non-negative responsibilities of shape (n_samples, n_components) whose rows sum to
        one (one-hot or soft) or are all zero (the row is left out of the first M-step).
    n_samples, n_components : int
        Expected sizes.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
        Float64 responsibilities.

    Raises
    ------
    InvalidParameterError
    """
    array = np.asarray(responsibilities_init)
    if array.ndim == 1:
        if array.shape[0] != n_samples or not np.issubdtype(array.dtype, np.integer):
            raise InvalidParameterError(
                f"responsibilities_init given as labels must be integers of shape ({n_samples},); "
                f"got dtype {array.dtype} and shape {array.shape}. Pass one label per row."
            )
        if array.size and (array.min() < 0 or array.max() >= n_components):
            raise InvalidParameterError(
                f"responsibilities_init labels must lie in 0 … {n_components - 1}; got labels "
                f"from {array.min()} to {array.max()}. Relabel them or change n_components."
            )
        return _one_hot(array, n_samples, n_components)
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"responsibilities_init must be numeric; converting it failed: {error}."
        ) from error
    if array.shape != (n_samples, n_components):
        raise InvalidParameterError(
            f"responsibilities_init must have shape ({n_samples}, {n_components}) or "
            f"({n_samples},) for labels; got shape {array.shape}. Check n_components."
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InvalidParameterError(
            "responsibilities_init must be finite and non-negative; got negative, NaN or "
            "inf entries."
        )
    sums = array.sum(axis=1)
    # An all-zero row leaves that row out of the first M-step (as the hierarchical start
    # does for rows outside its subsample).
    bad = ~(np.isclose(sums, 1.0, rtol=0, atol=1e-6) | (sums == 0))
    if np.any(bad):
        worst = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            "responsibilities_init rows must sum to one (or be all zero to leave a row out "
            f"of the first M-step); row {worst} sums to {sums[worst]:.8g}. Divide each row by "
            "its sum."
        )
    return array
