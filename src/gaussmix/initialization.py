"""Starting points for EM: initial responsibilities from k-means, k-means++ or random draws."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from gaussmix.covariance.base import CovarianceModel
from gaussmix.kernels import accumulate_statistics
from gaussmix.mstep import maximize
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = ["InitMethod", "initial_responsibilities", "parameters_from_responsibilities"]

InitMethod = Literal["kmeans", "k-means++", "random", "random_from_data"]

# Rows per block when the starting parameters are computed from the responsibilities.
_INIT_BLOCK_ROWS = 65536


def _one_hot(labels: np.ndarray, n_samples: int, n_components: int) -> np.ndarray:
    responsibilities = np.zeros((n_samples, n_components))
    responsibilities[np.arange(labels.shape[0]), labels] = 1.0
    return responsibilities


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
    method : {"kmeans", "k-means++", "random", "random_from_data"}
        ``"kmeans"``: hard labels of one run of scikit-learn's KMeans;
        ``"k-means++"``: one seed point per component chosen by k-means++;
        ``"random"``: uniform random soft assignments;
        ``"random_from_data"``: one seed point per component drawn without replacement,
        uniformly, or with probability proportional to the sample weights.
    random_state : numpy.random.RandomState
        Source of randomness, advanced by the draw.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    n_samples = X.shape[0]
    if method == "kmeans":
        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(X, sample_weight=sample_weight)
            .labels_
        )
        return _one_hot(labels, n_samples, n_components)
    if method == "k-means++":
        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
        return _points_as_components(indices, n_samples)
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
    responsibilities: np.ndarray,
    model: CovarianceModel,
    reg_covar: float,
) -> MixtureParameters:
    """One M-step from given responsibilities: the starting parameters θ₀.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights.
    responsibilities : ndarray of shape (n_samples, n_components)
        Soft or one-hot assignments.
    model : CovarianceModel
        The covariance constraint.
    reg_covar : float
        Added once to every variance.

    Returns
    -------
    MixtureParameters
    """
    # --- memory (issue 8): both passes visit row blocks, so that the overhead is a few
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
    return maximize(statistics, model, reg_covar)
