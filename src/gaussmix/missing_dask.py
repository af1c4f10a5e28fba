"""Missing values in Dask arrays: one task per chunk returns its expected statistics.

The in-memory path of :mod:`gaussmix.missing` groups the rows by pattern once; a Dask fit
groups each chunk's rows inside its task (complete rows with the array kernels, the
others by pattern) and sums the chunks' :class:`~gaussmix.statistics.SufficientStatistics`
by a fixed tree, so results do not depend on the scheduler.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from gaussmix.backends.base import Executor, PosteriorFunction
from gaussmix.covariance.base import ScatterKind
from gaussmix.covariance.forms import SecondMoment
from gaussmix.exceptions import InvalidInputError
from gaussmix.kernels import ChunkMoments, PreparedParameters, posterior
from gaussmix.missing import (
    check_missing_values,
    group_patterns,
    marginal_posterior,
    pattern_statistics,
)
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = ["DaskMissingValuesExecutor"]


def _block_statistics(
    block: np.ndarray,
    weights: np.ndarray | None,
    parameters: MixtureParameters,
    kind: ScatterKind,
    chunk_size: int,
) -> SufficientStatistics:
    """One Dask chunk's statistics: its complete rows as usual, the others by pattern."""
    from gaussmix.backends.numpy import NumpyBackend

    check_missing_values(block, whole=False)
    if weights is not None and (not np.isfinite(weights).all() or np.any(weights < 0)):
        raise InvalidInputError(
            "sample_weight must be finite and non-negative; got a chunk with a negative or "
            "non-finite weight. Fix those weights."
        )
    groups = group_patterns(block, weights)
    total = pattern_statistics(groups, parameters, kind)
    complete = np.flatnonzero(~np.isnan(block).any(axis=1))
    if complete.size:
        executor = NumpyBackend(
            block[complete],
            None if weights is None else weights[complete],
            chunk_size,
            n_threads=1,
            use_fused=False,
        )
        total = executor.statistics(parameters, kind) + total
    return total


def _sum_statistics(parts: list[SufficientStatistics]) -> SufficientStatistics:
    return functools.reduce(operator.add, parts)


def _apply_block(block: np.ndarray, function: Callable[[Any], Any], chunk_size: int) -> Any:
    from gaussmix.backends.numpy import NumpyBackend

    if block.shape[0] == 0:
        return function(block)
    return NumpyBackend(block, None, chunk_size, n_threads=1, use_fused=False).map_rows(function)


class DaskMissingValuesExecutor(Executor):
    """The E-step of a Dask array with missing entries: one task per chunk returns its
    :class:`SufficientStatistics` (complete rows with the array kernels, incomplete rows
    by pattern), summed by a tree of fan-in 8 in one ``dask.compute``.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk across all columns.
    sample_weight : dask.array.Array or None
        Chunked like the rows of X.
    chunk_size : int
        Rows per block inside a chunk.
    """

    def __init__(self, X: Any, sample_weight: Any | None, chunk_size: int):
        self.X = X
        self.sample_weight = sample_weight
        self.chunk_size = int(chunk_size)

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """Not available: see :meth:`MissingValuesExecutor.sum_moments`."""
        raise TypeError(
            "DaskMissingValuesExecutor sums SufficientStatistics; call statistics instead."
        )

    def statistics(self, parameters: MixtureParameters, kind: ScatterKind) -> SufficientStatistics:
        """Every chunk's statistics, summed in a fixed tree.

        Parameters
        ----------
        parameters : MixtureParameters
        kind : {"trace", "diagonal", "full"}

        Returns
        -------
        SufficientStatistics
        """
        import dask

        blocks = self.X.to_delayed().ravel()
        if self.sample_weight is None:
            weights = [None] * len(blocks)
        else:
            weights = list(self.sample_weight.to_delayed().ravel())
        shared = dask.delayed(parameters, name=f"gaussmix-missing-{uuid.uuid4().hex}")
        task = dask.delayed(_block_statistics, pure=True)
        parts = [
            task(block, block_weights, shared, kind, self.chunk_size)
            for block, block_weights in zip(blocks, weights, strict=True)
        ]
        add = dask.delayed(_sum_statistics, pure=True)
        while len(parts) > 1:
            parts = [add(parts[i : i + 8]) for i in range(0, len(parts), 8)]
        (total,) = dask.compute(parts[0])
        return total

    def posterior_function(self, prepared: PreparedParameters) -> PosteriorFunction:
        """Marginal log-densities and responsibilities (array kernels for complete rows)."""
        return partial(
            marginal_posterior,
            parameters=prepared.parameters,
            complete=partial(posterior, prepared=prepared),
        )

    def map_rows(self, function: Callable[[Any], Any]) -> Any:
        """A lazy Dask array of ``function`` over every chunk (NaN rows passed as they are)."""
        probe = np.asarray(function(np.zeros((1, self.X.shape[1]), dtype=self.X.dtype)))
        meta = np.empty((0,) * probe.ndim, dtype=probe.dtype)
        name = f"gaussmix-missing-rows-{uuid.uuid4().hex}"
        kwargs = {"function": function, "chunk_size": self.chunk_size}
        if probe.ndim == 1:
            return self.X.map_blocks(
                _apply_block, drop_axis=1, dtype=probe.dtype, meta=meta, name=name, **kwargs
            )
        return self.X.map_blocks(
            _apply_block,
            chunks=(self.X.chunks[0], probe.shape[1:]),
            dtype=probe.dtype,
            meta=meta,
            name=name,
            **kwargs,
        )
