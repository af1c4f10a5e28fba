"""The in-memory executor: row blocks of a NumPy array, visited in a fixed order."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from gaussmix.covariance.base import ScatterKind
from gaussmix.kernels import chunk_statistics
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = ["NumpyBackend", "default_chunk_size"]

# Scratch per chunk is a few (rows × K × D) arrays; about 2 MiB each keeps them in cache.
_SCRATCH_ELEMENTS = 2**18


def default_chunk_size(n_components: int, n_features: int) -> int:
    """Rows per chunk so that a (rows × K × D) temporary stays cache-sized.

    Parameters
    ----------
    n_components, n_features : int
        K and D.

    Returns
    -------
    int
        Between 256 and 65,536.
    """
    return int(np.clip(_SCRATCH_ELEMENTS // max(1, n_components * n_features), 256, 65536))


class NumpyBackend:
    """Visits row blocks of an in-memory array and sums their statistics in float64.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, float32 or float64, already validated.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None means all ones.
    chunk_size : int
        Rows per chunk.
    """

    def __init__(self, X: np.ndarray, sample_weight: np.ndarray | None, chunk_size: int):
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = int(chunk_size)

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(rows, weights)`` blocks in order.

        Yields
        ------
        rows : ndarray of shape (chunk, n_features)
        weights : ndarray of shape (chunk,) or None
        """
        for start in range(0, self.X.shape[0], self.chunk_size):
            stop = start + self.chunk_size
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            yield self.X[start:stop], weights

    def statistics(self, parameters: MixtureParameters, kind: ScatterKind) -> SufficientStatistics:
        """E-step over all rows: the summed sufficient statistics under ``parameters``.

        Parameters
        ----------
        parameters : MixtureParameters
            The current mixture.
        kind : {"trace", "diagonal", "full"}
            The scatter kind of the covariance model.

        Returns
        -------
        SufficientStatistics
        """
        total = SufficientStatistics.zeros(parameters.means, kind)
        for rows, weights in self.chunks():
            total = total + chunk_statistics(rows, weights, parameters, kind)
        return total

    def map_rows(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Apply a row-wise function chunk by chunk and concatenate the results.

        Parameters
        ----------
        function : callable
            Maps a (chunk, n_features) block to an array with one leading entry per row.

        Returns
        -------
        ndarray
        """
        return np.concatenate([function(rows) for rows, _ in self.chunks()], axis=0)
