"""What keeps Dask fits and in-memory fits beside them fast: thread counts and task shapes."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from gaussmix.backends import base  # noqa: E402
from gaussmix.backends.numpy import NumpyBackend, default_n_threads  # noqa: E402

RUNNING = distributed.core.Status.running
CLOSED = distributed.core.Status.closed
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

    live = SimpleNamespace(pre_spawn_env={"OMP_NUM_THREADS": 1}, status=RUNNING)
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
    # A closed Nanny (still in the weak set until collected) or none: a limit.
    Nanny._instances = [SimpleNamespace(pre_spawn_env={"OMP_NUM_THREADS": 1}, status=CLOSED)]
    clean_environment.setenv("OMP_NUM_THREADS", "1")
    assert default_n_threads() == 1
    Nanny._instances = []
    clean_environment.setenv("OMP_NUM_THREADS", "1")
    assert default_n_threads() == 1


# ------------------------------------------------ one task per worker over its chunks
da = pytest.importorskip("dask.array")

import gaussmix.backends.dask as dask_backend  # noqa: E402
from gaussmix import GaussianMixture  # noqa: E402

UNEVEN_CHUNKS = (100, 37, 1, 212, 150, 250, 150, 3, 90, 60)


def fan_in_8_total(values: list[np.ndarray]) -> np.ndarray:
    """The per-chunk tree's total, written out: left-to-right sums of 8, level by level."""
    level = list(values)
    while len(level) > 1:
        sums = []
        for first in range(0, len(level), 8):
            total = level[first]
            for value in level[first + 1 : first + 8]:
                total = total + value
            sums.append(total)
        level = sums
    return level[0]


@pytest.mark.parametrize("seed", range(6))
def test_worker_groups_add_in_the_order_of_the_chunk_tree(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n_chunks = int(rng.integers(1, 40))
    # Magnitudes from 1e-8 to 1e8: any other order of the additions changes the last bits.
    values = [rng.normal(size=5) * 10.0 ** rng.integers(-8, 9, size=5) for _ in range(n_chunks)]
    monkeypatch.setattr(dask_backend, "_block_moments", lambda block, *rest: values[block])
    holders = rng.integers(0, int(rng.integers(1, 4)), size=n_chunks)
    if seed % 2:  # contiguous runs, as persist_rows places them
        holders = np.sort(holders)
    groups = []
    for worker in np.unique(holders):
        indices = [int(i) for i in np.flatnonzero(holders == worker)]
        pieces = dask_backend._group_moments(
            indices, indices, [None] * len(indices), None, ("full", 8, True), [None] * len(indices)
        )
        groups.append(pieces)
    np.testing.assert_array_equal(dask_backend._finish_tree(groups), fan_in_8_total(values))


@pytest.fixture(scope="module")
def threaded_cluster():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


def weighted_rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n_rows = sum(UNEVEN_CHUNKS)
    labels = rng.integers(0, 3, size=n_rows)
    X = 2.0 * np.eye(3)[labels] + rng.standard_normal((n_rows, 3))
    return X, rng.uniform(0.0, 2.0, size=n_rows)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_persisted_chunks_are_one_task_per_worker_with_the_chunk_trees_sums(
    threaded_cluster, covariance_type, monkeypatch
):
    X, weights = weighted_rows()
    lazy_X = da.from_array(X, chunks=(UNEVEN_CHUNKS, 3))
    lazy_weights = da.from_array(weights, chunks=(UNEVEN_CHUNKS,))
    start = GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=3)
    parameters = start.fit(X, sample_weight=weights)._fitted_parameters()
    kind = start._fitted_covariance_model().scatter
    rows_by_thread: dict[int, list[int]] = {}
    original = dask_backend._block_moments

    def recording(block, *arguments):
        # Looked up when a task runs, in the worker's thread of this process.
        rows_by_thread.setdefault(threading.get_ident(), []).append(block.shape[0])
        return original(block, *arguments)

    with threaded_cluster.as_current():
        held_X, held_weights = dask_backend.persist_rows(lazy_X, lazy_weights, threaded_cluster)
        distributed.wait(list(held_X.__dask_graph__().values()), timeout=60)
        grouped = dask_backend.dask_backend(held_X, held_weights, None, 3)
        monkeypatch.setattr(dask_backend, "_block_moments", recording)
        with distributed.get_task_stream(client=threaded_cluster) as tasks:
            statistics = grouped.statistics(parameters, kind)
        monkeypatch.setattr(dask_backend, "_block_moments", original)
        # The same chunks, one task each and the tree of sums on the workers.
        per_chunk = dask_backend.dask_backend(lazy_X, lazy_weights, None, 3)
        reference = per_chunk.statistics(parameters, kind)
    # Two workers, each one task over its contiguous run of chunks, in order.
    ran = [task for task in tasks.data if "_group_moments" in str(task["key"])]
    assert len({task["key"] for task in ran}) == 2
    assert len({task["worker"] for task in ran}) == 2
    assert sorted(rows_by_thread.values()) == [list(UNEVEN_CHUNKS[:5]), list(UNEVEN_CHUNKS[5:])]
    for name in ("n_k", "weighted_sum", "scatter"):
        np.testing.assert_array_equal(getattr(statistics, name), getattr(reference, name))
    assert statistics.log_likelihood == reference.log_likelihood
    assert statistics.total_weight == reference.total_weight
