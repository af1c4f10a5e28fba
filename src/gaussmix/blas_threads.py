"""One BLAS (or OpenMP) thread while gaussmix's own threads use the cores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

__all__ = ["one_blas_thread", "one_openmp_thread"]

# The thread-pool APIs some thread holds at one thread now: only one hold of each at a
# time sets and restores it.
_lock = threading.Lock()
_held: set[tuple[str, int | None]] = set()


@cache
def _controller() -> Any:
    # Made once: scanning the loaded libraries costs about 4 ms, and NumPy's and SciPy's
    # BLAS (and scikit-learn's OpenMP runtime) are loaded with gaussmix.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@cache
def _libraries(user_api: str) -> tuple[Any, ...]:
    """threadpoolctl's controllers of the loaded libraries of one API ("blas", "openmp")."""
    return tuple(
        library for library in _controller().lib_controllers if library.user_api == user_api
    )


@contextmanager
def _one_thread(user_api: str, per_thread: bool) -> Iterator[None]:
    """Hold the libraries of ``user_api`` to one thread; only the first of overlapping holds.

    ``per_thread``: the thread count belongs to the calling thread (OpenMP), so holds
    overlap only within one thread; otherwise it is process-wide (OpenBLAS).
    """
    key = (user_api, threading.get_ident() if per_thread else None)
    with _lock:
        first = key not in _held
        _held.add(key)
    if not first:
        yield
        return
    try:
        # The library controllers directly: ``ThreadpoolController.limit`` describes
        # every library before and after (60 µs a hold against 6 µs here, on the shared
        # 2-core machine), and a small fit takes two holds.
        libraries = _libraries(user_api)
        previous = [library.num_threads for library in libraries]
        for library in libraries:
            library.set_num_threads(1)
        try:
            yield
        finally:
            for library, count in zip(libraries, previous, strict=True):
                library.set_num_threads(count)
    finally:
        with _lock:
            _held.discard(key)


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
    with _one_thread("blas", per_thread=False):
        yield


@contextmanager
def one_openmp_thread() -> Iterator[None]:
    """Context in which OpenMP parallel regions (scikit-learn's k-means) run on one thread.

    For data that fit in one task of the NumPy executor (its small-data path) k-means has
    too little work per parallel region to pay for waking a second thread; on the shared
    2-core machine, under load, one k-means of 300 rows took 1.9 ms on one OpenMP
    thread and 240 ms on two (``benchmarks/results_small.md``). OpenMP thread counts
    belong to the calling thread, so this changes nothing in other threads; within a
    thread, only the first of nested holds sets and restores.

    Yields
    ------
    None
    """
    with _one_thread("openmp", per_thread=True):
        yield
