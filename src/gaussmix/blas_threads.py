"""One BLAS thread while gaussmix's own threads use the cores."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache
from typing import Any

__all__ = ["one_blas_thread"]


@cache
def _controller() -> Any:
    # Made once: scanning the loaded libraries costs about 4 ms, and NumPy's and SciPy's
    # BLAS are loaded with gaussmix.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[Any]:
    """Context in which BLAS (and LAPACK) run on one thread.

    The NumPy backend's thread pool already keeps every core busy, and BLAS threads on
    chunk-sized products only add synchronisation. A fit holds this across every
    iteration, not only the E-step: a small LAPACK call of the M-step (a Cholesky
    factor, a triangular solve) wakes OpenBLAS's threads, which then spin for a while
    and take cores from the next E-step (on 2 cores, 20 % of a P3 iteration of issue 3).

    Enter it from the thread that calls the public API, never from worker threads:
    OpenBLAS has one process-wide setting, threadpoolctl lets only one thread change it,
    and holds that end out of order across threads can leave it at one thread.

    Returns
    -------
    context manager
        Restores the previous thread counts on exit; nested uses cost nothing.
    """
    return _controller().limit(limits=1, user_api="blas")
