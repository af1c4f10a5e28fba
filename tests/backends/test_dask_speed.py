"""What keeps Dask fits and in-memory fits beside them fast: thread counts and task shapes."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from gaussmix.backends import base  # noqa: E402
from gaussmix.backends.numpy import NumpyBackend, default_n_threads  # noqa: E402

# What a Nanny writes into the environment of the process that starts it.
LEAKED = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")


@pytest.fixture
def clean_environment(monkeypatch):
    """No thread limits in os.environ now, and whatever a Nanny leaks undone afterwards."""
    for name in (*LEAKED, "PYTHONHASHSEED"):
        # setenv records the original state (absent or not), which teardown restores.
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs at least 2 cores to tell one thread from all of them")
    return monkeypatch


def test_a_process_cluster_leaves_in_memory_fits_every_core(clean_environment):
    if base._initial_environment().get("OMP_NUM_THREADS"):
        pytest.skip("this process was started with OMP_NUM_THREADS set")
    cores = default_n_threads()
    assert cores >= 2
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        # The Nanny's leak that the executor must see through (distributed's defaults).
        assert os.environ.get("OMP_NUM_THREADS") == "1"
        assert default_n_threads() == cores
        assert NumpyBackend(np.zeros((4, 2)), None, 2).n_threads == cores
        # The worker process was started with the limit, and keeps it.
        assert list(client.run(default_n_threads).values()) == [1]


def test_a_limit_the_process_was_started_with_is_kept(clean_environment):
    clean_environment.setattr(base, "_initial_environment", lambda: {"OMP_NUM_THREADS": "1"})

    live = SimpleNamespace(pre_spawn_env={"OMP_NUM_THREADS": 1})
    Nanny = SimpleNamespace(_instances=[live])
    clean_environment.setattr(distributed, "Nanny", Nanny)
    clean_environment.setenv("OMP_NUM_THREADS", "1")
    assert default_n_threads() == 1
    # The same value not in the initial environment: the Nanny's, not a limit.
    clean_environment.setattr(base, "_initial_environment", lambda: {})
    assert default_n_threads() == len(os.sched_getaffinity(0))
    # A value other than the Nanny's is a limit whatever its origin.
    clean_environment.setenv("OMP_NUM_THREADS", "2")
    assert default_n_threads() == min(2, len(os.sched_getaffinity(0)))
    # No live Nanny: OMP_NUM_THREADS is a limit.
    Nanny._instances = []
    clean_environment.setenv("OMP_NUM_THREADS", "1")
    assert default_n_threads() == 1
