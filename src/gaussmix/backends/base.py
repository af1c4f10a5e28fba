"""The executor contract: what the EM loop, the collapse policy and the estimator ask of a backend.

An executor owns the rows of one fit or prediction (``X``, ``sample_weight``) and knows
how to visit them: in a thread pool (:mod:`gaussmix.backends.numpy`), on a torch device
(:mod:`gaussmix.backends.torch`) or as a Dask graph (:mod:`gaussmix.backends.dask`).
The mathematics is not its business. :class:`Executor` writes the E-step once:

``statistics(parameters, kind)``
    :meth:`~Executor.prepare` lays the parameters out in the data's namespace, the form
    says which whitened second moment the chunks accumulate
    (:meth:`~gaussmix.covariance.forms.CovarianceForm.second_moment`), the executor sums
    the chunks' :class:`~gaussmix.kernels.ChunkMoments` (:meth:`~Executor.sum_moments`,
    the one method that differs), and :func:`gaussmix.kernels.unwhiten` turns the sum
    into :class:`~gaussmix.statistics.SufficientStatistics` on the host.

``posterior_function(prepared)`` and ``map_rows(function)``
    The per-row path of predictions and of the collapse policy: a function of a block of
    rows giving ``(log p(x_n), responsibilities)``, and the visit of all rows with any
    such function.
"""

from __future__ import annotations

import abc
import os
import sys
from collections.abc import Callable
from functools import cache, partial
from typing import Any

import numpy as np

from gaussmix.covariance.base import ScatterKind
from gaussmix.covariance.forms import SecondMoment
from gaussmix.kernels import (
    ChunkMoments,
    PreparedParameters,
    posterior,
    prepare_parameters,
    unwhiten,
)
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = ["Executor", "PosteriorFunction", "default_n_threads"]

PosteriorFunction = Callable[[Any], tuple[Any, Any]]
"""Rows → ``(log p(x_n), responsibilities)`` in the rows' namespace."""


def default_n_threads() -> int:
    """Number of threads the NumPy backend uses: the cores this process may run on.

    ``OMP_NUM_THREADS``, when set to a positive integer, caps it, as it caps OpenMP and
    BLAS threads: job schedulers and joblib's worker processes set it so that parallel
    processes do not oversubscribe the machine. The value that a ``distributed`` Nanny
    leaks into the process that starts it is not such a cap (see
    :func:`_leaked_by_a_nanny`).

    Returns
    -------
    int
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) > 0 and not _leaked_by_a_nanny(limit):
        return min(cores, int(limit))
    return cores


def _leaked_by_a_nanny(limit: str) -> bool:
    """Whether ``OMP_NUM_THREADS=limit`` was written here by a live ``distributed`` Nanny.

    A Nanny writes its ``pre-spawn-environ`` (``OMP_NUM_THREADS=1`` by default) into the
    environment of the process that starts it, so that its worker processes inherit it,
    and never takes it back: a ``LocalCluster`` of worker processes left every later
    in-memory fit of that process on one thread, 3.4 instead of 1.3 s per iteration at
    4,000,000 × 8 float32, K = 8 (``benchmarks/results_dask.md``). The worker processes
    themselves hold no Nanny and keep their limit; a limit that the process was started
    with (its initial environment, where the platform shows it) is kept too.
    """
    distributed = sys.modules.get("distributed")
    nanny = getattr(distributed, "Nanny", None)
    # Closed nannies stay in the weak set until they are collected.
    nannies = [
        one
        for one in list(getattr(nanny, "_instances", ()))
        if getattr(getattr(one, "status", None), "name", "") in ("starting", "running")
    ]
    if not any(
        str(getattr(one, "pre_spawn_env", {}).get("OMP_NUM_THREADS", "")).strip() == limit
        for one in nannies
    ):
        return False
    return _initial_environment().get("OMP_NUM_THREADS") != limit


@cache
def _initial_environment() -> dict[str, str]:
    """The environment this process was started with (Linux), else an empty mapping."""
    try:
        with open("/proc/self/environ", "rb") as file:
            entries = file.read().split(b"\0")
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in entries if entry)
    return {name: value.strip() for name, _, value in pairs}


class Executor(abc.ABC):
    """Visits the rows of the data in chunks: the E-step and row-wise maps over them.

    Attributes
    ----------
    X : array of shape (n_samples, n_features)
        The validated data the executor visits (NumPy array, torch tensor or Dask array).
    sample_weight : array of shape (n_samples,) or None
        Non-negative weights in the dtype of X; None means all ones.
    chunk_size : int
        Rows per chunk of the kernels.

    Notes
    -----
    Subclasses implement :meth:`sum_moments` and :meth:`map_rows`; they may replace
    :meth:`statistics` by a shortcut that returns the same statistics (the small-data
    executor's one compiled call) and :meth:`posterior_function` by the compiled kernels.
    """

    X: Any
    sample_weight: Any | None
    chunk_size: int

    @property
    def n_threads(self) -> int:
        """Threads of this process that may visit chunks at once (1: the calling thread).

        The estimator runs a fit's k-means start on one OpenMP thread when this is 1.
        Executors whose chunks run in a library's own threads (torch's, Dask's local
        scheduler) report the cores, :func:`default_n_threads`.
        """
        return default_n_threads()

    @property
    def use_fused(self) -> bool:
        """Whether the compiled kernels of :mod:`gaussmix.fused` evaluate the chunks."""
        return False

    def prepare(self, parameters: MixtureParameters) -> PreparedParameters:
        """Parameters laid out for the kernels, in the data's namespace and dtype.

        Parameters
        ----------
        parameters : MixtureParameters

        Returns
        -------
        PreparedParameters
        """
        return prepare_parameters(parameters, np, self.X.dtype)

    @abc.abstractmethod
    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """The chunks' whitened moments under ``prepared``, summed in a fixed order.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`.
        moment : {"diagonal", "full"}
            The second moment to accumulate.

        Returns
        -------
        ChunkMoments
            NumPy float64 arrays on the host.
        """

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
            On the host, float64.
        """
        prepared = self.prepare(parameters)
        moments = self.sum_moments(prepared, parameters.form.second_moment(kind))
        return unwhiten(moments, parameters, kind)

    def posterior_function(self, prepared: PreparedParameters) -> PosteriorFunction:
        """The function that :meth:`map_rows` tasks call for log-densities and responsibilities.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`.

        Returns
        -------
        callable
            ``rows -> (log_norm, responsibilities)``; it holds no reference to the
            executor (Dask ships it to the workers).
        """
        return partial(_array_posterior, prepared=prepared)

    @abc.abstractmethod
    def map_rows(self, function: Callable[[Any], Any]) -> Any:
        """Apply a row-wise function to every row, task by task, results in row order.

        Parameters
        ----------
        function : callable
            Maps a (rows, n_features) block to an array with one leading entry per row.

        Returns
        -------
        array
            One entry per row of X, in the executor's kind of array (NumPy, a tensor on
            the device, a lazy Dask array).
        """


def _array_posterior(rows: Any, prepared: PreparedParameters) -> tuple[Any, Any]:
    return posterior(rows, prepared)
