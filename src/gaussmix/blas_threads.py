"""One BLAS (or OpenMP) thread while gaussmix's own threads use the cores."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cache
from typing import Any

__all__ = ["one_blas_thread", "one_openmp_thread"]

# Open holds per key (an API, and for OpenMP the thread) with what restores the first
# hold's counts: the first hold sets one thread, the last to leave restores.
_lock = threading.Lock()
_holds: dict[tuple[str, int | None], tuple[int, Callable[[], None]]] = {}


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


@cache
def _pool_owners(libraries: tuple[Any, ...]) -> tuple[Any, ...]:
    """The controller classes among ``libraries`` that keep a controlling thread."""
    return tuple(
        {
            type(library): None
            for library in libraries
            if hasattr(library, "clear_controlling_thread")
        }
    )


def _set_all(libraries: tuple[Any, ...], counts: list[int], take_control: bool) -> None:
    if take_control:
        # threadpoolctl (3.8) lets only the thread that last took control of a process-wide
        # pool (OpenBLAS) change it, and the last hold may leave in another thread than the
        # first: a count restored from a second thread stayed at one
        # (tests/test_blas_threads.py, two threads ending out of order). The controlling
        # thread is shared by the class's controllers: one reset each.
        for owner in _pool_owners(libraries):
            owner.clear_controlling_thread(force=True)
    for library, count in zip(libraries, counts, strict=True):
        library.set_num_threads(count)


def _set_one_thread(user_api: str, per_thread: bool) -> Callable[[], None]:
    """Set the libraries of ``user_api`` to one thread; return what restores them.

    The library controllers directly: ``ThreadpoolController.limit`` describes every
    library before and after (60 µs a hold against 6 µs here, on the shared 2-core
    machine), and a small fit takes two holds.
    """
    libraries = _libraries(user_api)
    previous = [library.num_threads for library in libraries]
    take_control = not per_thread
    _set_all(libraries, [1] * len(libraries), take_control)
    return lambda: _set_all(libraries, previous, take_control)


class _Hold:
    """Hold the libraries of ``user_api`` to one thread, counting overlapping holds.

    ``per_thread``: the thread count belongs to the calling thread (OpenMP), so holds
    overlap only within one thread; otherwise it is process-wide (OpenBLAS), and the last
    hold to leave restores the count whatever thread it runs in. A class rather than a
    generator context, which sets up two generator frames per hold: every fit enters one.
    """

    __slots__ = ("key", "per_thread", "user_api")

    def __init__(self, user_api: str, per_thread: bool) -> None:
        self.user_api = user_api
        self.per_thread = per_thread
        self.key: tuple[str, int | None] = (user_api, None)

    def __enter__(self) -> None:
        # The thread that enters owns a per-thread count (and leaves: `with` is one thread).
        self.key = (self.user_api, threading.get_ident() if self.per_thread else None)
        with _lock:
            count, restore = _holds.get(self.key, (0, None))
            if count == 0:
                restore = _set_one_thread(self.user_api, self.per_thread)
            _holds[self.key] = (count + 1, restore)

    def __exit__(self, *exception: object) -> None:
        with _lock:
            count, restore = _holds.pop(self.key)
            if count > 1:
                _holds[self.key] = (count - 1, restore)
            else:
                restore()


def one_blas_thread() -> AbstractContextManager[None]:
    """Context in which BLAS (and LAPACK) run on one thread.

    The NumPy backend's thread pool already keeps every core busy, and BLAS threads on
    chunk-sized products only add synchronisation. A fit holds this across every
    iteration, not only the E-step: a small LAPACK call of the M-step (a Cholesky
    factor, a triangular solve) wakes OpenBLAS's threads, which then spin for a while
    and take cores from the next E-step (on 2 cores, 20 % of a P3 iteration, ``bench_em.py``).

    OpenBLAS has one process-wide thread count. Holds are counted across threads: the
    first sets the limit, the last to leave restores the count the first one recorded,
    whatever order they leave in; holds in between change nothing. Anything else that
    limits BLAS inside a hold restores the count it found, which is 1 while any hold is
    open: scikit-learn's KMeans does so in the k-means start of a fit. Had each hold
    restored its own record, a fit ending while another thread's KMeans held its limit
    would have been undone by that KMeans, leaving the process at one thread.

    Returns
    -------
    context manager
        Entered with ``with``; it yields None.
    """
    return _Hold("blas", per_thread=False)


def one_openmp_thread() -> AbstractContextManager[None]:
    """Context in which OpenMP parallel regions (scikit-learn's k-means) run on one thread.

    For data that fit in one task of the NumPy executor (its small-data path) k-means has
    too little work per parallel region to pay for waking a second thread; on the shared
    2-core machine, under load, one k-means of 300 rows took 1.9 ms on one OpenMP
    thread and 240 ms on two (``benchmarks/results_small.md``). OpenMP thread counts
    belong to the calling thread, so this changes nothing in other threads; within a
    thread, the first of nested holds sets and the last restores.

    Returns
    -------
    context manager
        Entered with ``with``; it yields None.
    """
    return _Hold("openmp", per_thread=True)
