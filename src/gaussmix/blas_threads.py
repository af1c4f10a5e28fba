"""One BLAS thread while gaussmix's own threads use the cores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

__all__ = ["one_blas_thread"]

# The holds open now, in every thread, and the limiter of the first of them: the first
# hold sets the limit, the last one to leave restores the count recorded by the first.
_lock = threading.Lock()
_holds = 0
_limiter: Any = None


@cache
def _controller() -> Any:
    # Made once: scanning the loaded libraries costs about 4 ms, and NumPy's and SciPy's
    # BLAS are loaded with gaussmix.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Context in which BLAS (and LAPACK) run on one thread.

    The NumPy backend's thread pool already keeps every core busy, and BLAS threads on
    chunk-sized products only add synchronisation. A fit holds this across every
    iteration, not only the E-step: a small LAPACK call of the M-step (a Cholesky
    factor, a triangular solve) wakes OpenBLAS's threads, which then spin for a while
    and take cores from the next E-step (on 2 cores, 20 % of a P3 iteration of issue 3).

    OpenBLAS has one process-wide thread count. Holds are counted across threads: the
    first sets the limit, the last to leave restores the count the first one recorded,
    whatever order they leave in; holds in between change nothing. Anything else that
    limits BLAS inside a hold restores the count it found, which is 1 while any hold is
    open: scikit-learn's KMeans does so in the k-means start of a fit. Had each hold
    restored its own record, a fit ending while another thread's KMeans held its limit
    would have been undone by that KMeans, leaving the process at one thread.

    Yields
    ------
    None
    """
    global _holds, _limiter
    with _lock:
        if _holds == 0:
            _limiter = _controller().limit(limits=1, user_api="blas")
        _holds += 1
    try:
        yield
    finally:
        with _lock:
            _holds -= 1
            if _holds == 0:
                limiter, _limiter = _limiter, None
                limiter.restore_original_limits()
