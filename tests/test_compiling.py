"""compiling.call: compiled off the caller's thread, once per argument types, errors passed on."""

from __future__ import annotations

import threading

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from numba.core import event  # noqa: E402

from gaussmix import compiling  # noqa: E402


class _CompilingThreads(event.Listener):
    def __init__(self):
        self.threads: list[tuple[str, str]] = []

    def on_start(self, compilation):
        function = compilation.data["dispatcher"].py_func.__name__
        self.threads.append((function, threading.current_thread().name))

    def on_end(self, compilation):
        pass


def test_compiles_in_another_thread_once_per_argument_types():
    @numba.njit
    def total(values):
        return values.sum()

    listener = _CompilingThreads()
    event.register("numba:compile", listener)
    try:
        assert compiling.call(total, np.arange(4.0)) == 6.0
        assert compiling.call(total, np.arange(5.0)) == 10.0  # same types: compiled already
        assert compiling.call(total, np.arange(4, dtype=np.int32)) == 6  # new types
    finally:
        event.unregister("numba:compile", listener)
    # numba's own helpers are compiled along, in the same thread.
    assert {thread for _, thread in listener.threads} == {"gaussmix-compile"}
    assert [function for function, _ in listener.threads].count("total") == 2
    assert len(total.signatures) == 2


def test_threads_asking_at_once_share_one_compilation():
    @numba.njit
    def doubled(values, out):
        out[:] = 2 * values

    start = threading.Barrier(4, timeout=60)
    results = {}

    def run(index):
        start.wait()
        out = np.empty(3)
        compiling.call(doubled, np.full(3, float(index)), out)
        results[index] = out

    threads = [threading.Thread(target=run, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert {index: list(out) for index, out in results.items()} == {
        index: [2.0 * index] * 3 for index in range(4)
    }
    assert len(doubled.signatures) == 1


def test_a_compilation_error_reaches_every_caller():
    @numba.njit
    def broken(values):
        return values.no_such_attribute

    for _ in range(2):  # the failure is not remembered as compiled, nor left pending
        with pytest.raises(numba.core.errors.TypingError):
            compiling.call(broken, np.arange(3.0))
    assert not compiling._compiling
