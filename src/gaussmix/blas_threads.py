"""One BLAS thread while gaussmix's own threads use the cores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

__all__ = ["one_blas_thread"]

# Whether some thread holds the limit now: only one hold at a time sets and restores it.
_lock = threading.Lock()
_held = False


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

    OpenBLAS has one process-wide thread count, and threadpoolctl lets only one thread
    change it. So the first hold in the process sets the limit and restores it, in its
    own thread; holds that overlap it (other threads' fits, nested uses) change nothing.
    Limits restored out of order across threads would otherwise re-apply a count that
    one of them recorded while limited, leaving the process at one thread.

    Yields
    ------
    None
    """
    global _held
    with _lock:
        first = not _held
        _held = True
    if not first:
        yield
        return
    try:
        with _controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        with _lock:
            _held = False
