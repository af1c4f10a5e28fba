"""Small-data kernels: compiled ahead in the background, NumPy kernels meanwhile."""

from __future__ import annotations

import numpy as np
import pytest

from gaussmix import GaussianMixture, compiling, precompile
from gaussmix.arrays import ExecutorOptions, make_executor

numba = pytest.importorskip("numba")

X = np.random.default_rng(3).standard_normal((120, 2)) + np.repeat([[0, 0], [4, 1]], 60, axis=0)


def test_ready_starts_a_compilation_and_reports_it_once_it_has_ended(monkeypatch):
    monkeypatch.setenv(compiling.MODE_VARIABLE, "background")

    @numba.njit
    def twice(value):
        return 2.0 * value

    first = compiling.ready(twice, 1.0)
    running = compiling.compilation(twice, 1.0)
    if running is not None:
        assert running.wait(timeout=600)
    assert first is False  # nothing was compiled before: it cannot have been ready
    assert compiling.ready(twice, 1.0) is True
    assert twice(2.0) == 4.0


def test_wait_mode_compiles_in_the_caller(monkeypatch):
    monkeypatch.setenv(compiling.MODE_VARIABLE, "wait")

    @numba.njit
    def thrice(value):
        return 3.0 * value

    assert compiling.ready(thrice, 1.0) is True
    assert compiling.compilation(thrice, 1.0) is None


@pytest.fixture
def kernels_not_compiled(monkeypatch):
    """precompile as on a fresh install: nothing compiled, nothing cached, no compiler."""
    started = []
    monkeypatch.setenv(compiling.MODE_VARIABLE, "background")
    monkeypatch.setattr(precompile, "_state", {"compiled": False, "started": False})
    monkeypatch.setattr(compiling, "in_disk_cache", lambda dispatcher: False)
    monkeypatch.setattr(precompile, "_start_compiler", lambda: started.append(True))
    return started


def test_a_fresh_install_starts_one_compiler_and_uses_the_numpy_kernels(kernels_not_compiled):
    assert precompile.ready() is False
    assert precompile.ready() is False
    assert kernels_not_compiled == [True]
    executor = make_executor(X, None, ExecutorOptions(), 2)
    assert executor.use_fused is False


def test_the_fit_while_compiling_equals_the_compiled_fit(kernels_not_compiled, monkeypatch):
    options = {"covariance_type": "VVE", "init_params": "hierarchical", "tol": 1e-8}
    meanwhile = GaussianMixture(2, **options).fit(X)
    monkeypatch.setenv(compiling.MODE_VARIABLE, "wait")
    monkeypatch.setattr(precompile, "_state", {"compiled": True, "started": False})
    assert make_executor(X, None, ExecutorOptions(), 2).use_fused is True
    compiled = GaussianMixture(2, **options).fit(X)
    np.testing.assert_allclose(meanwhile.means_, compiled.means_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(meanwhile.covariances_, compiled.covariances_, rtol=1e-11)
    assert meanwhile.n_iter_ == compiled.n_iter_
