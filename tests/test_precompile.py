"""Small-data kernels: compiled ahead in the background, NumPy kernels meanwhile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gaussmix import GaussianMixture, compiling, precompile
from gaussmix.arrays import ExecutorOptions, make_executor

numba = pytest.importorskip("numba")

X = np.random.default_rng(3).standard_normal((120, 2)) + np.repeat([[0, 0], [4, 1]], 60, axis=0)


@pytest.fixture
def kernels_not_compiled(monkeypatch):
    """precompile as on a fresh install: nothing compiled, nothing cached, no compiler."""
    started = []
    monkeypatch.setenv(precompile.MODE_VARIABLE, "background")
    monkeypatch.setattr(precompile, "_state", {"compiled": False, "started": False})
    monkeypatch.setattr(precompile, "_last_check", {"at": -math.inf})
    monkeypatch.setattr(compiling, "in_disk_cache", lambda dispatcher: False)
    monkeypatch.setattr(precompile, "_start_compiler", lambda: started.append(True))
    return started


def test_while_compiling_the_cache_is_read_again_after_a_second(kernels_not_compiled, monkeypatch):
    # Reading numba's index costs ~1 ms a kernel and every small fit asks: a miss is
    # remembered for a second (of a clock set by the test, not waited for).
    reads, clock = [], [100.0]
    monkeypatch.setattr(compiling, "in_disk_cache", lambda dispatcher: reads.append(1) or False)
    monkeypatch.setattr(precompile.time, "monotonic", lambda: clock[0])
    assert precompile.ready() is False
    first = len(reads)
    assert first >= 1
    clock[0] += 0.5
    assert precompile.ready() is False
    assert len(reads) == first
    clock[0] += 0.6
    monkeypatch.setattr(compiling, "in_disk_cache", lambda dispatcher: True)
    assert precompile.ready() is True
    assert kernels_not_compiled == [True]


def test_a_fresh_install_starts_one_compiler_and_uses_the_numpy_kernels(kernels_not_compiled):
    assert precompile.ready() is False
    assert precompile.ready() is False
    assert kernels_not_compiled == [True]
    executor = make_executor(X, None, ExecutorOptions(), 2)
    assert executor.use_fused is False


def test_the_fit_while_compiling_equals_the_compiled_fit(kernels_not_compiled, monkeypatch):
    options = {"covariance_type": "VVE", "init_params": "hierarchical", "tol": 1e-8}
    meanwhile = GaussianMixture(2, **options).fit(X)
    monkeypatch.setenv(precompile.MODE_VARIABLE, "wait")
    monkeypatch.setattr(precompile, "_state", {"compiled": True, "started": False})
    assert make_executor(X, None, ExecutorOptions(), 2).use_fused is True
    compiled = GaussianMixture(2, **options).fit(X)
    np.testing.assert_allclose(meanwhile.means_, compiled.means_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(meanwhile.covariances_, compiled.covariances_, rtol=1e-11)
    assert meanwhile.n_iter_ == compiled.n_iter_


def test_wait_mode_compiles_in_the_caller_and_starts_no_compiler(kernels_not_compiled, monkeypatch):
    compiled = []
    monkeypatch.setenv(precompile.MODE_VARIABLE, "wait")
    monkeypatch.setattr(precompile, "compile_kernels", lambda: compiled.append(True))
    assert precompile.ready() is True
    assert compiled == [True]
    assert kernels_not_compiled == []


def test_the_compiler_command_fills_the_state_it_reports(monkeypatch):
    # compile_kernels really compiles (or loads) every kernel; afterwards ready() holds
    # without a compiler or the disk cache.
    monkeypatch.setattr(precompile, "_state", {"compiled": False, "started": False})
    precompile.compile_kernels()
    monkeypatch.setattr(compiling, "in_disk_cache", lambda dispatcher: False)
    monkeypatch.setattr(precompile, "_start_compiler", lambda: pytest.fail("no compiler needed"))
    assert precompile.ready() is True
