from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from gaussmix import GaussianMixture


def _blas_threads() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_blas_runs_on_one_thread_through_a_fit_and_is_restored():
    # M-steps included: a LAPACK call there would otherwise wake OpenBLAS's threads,
    # which spin into the next E-step.
    X = np.random.default_rng(0).normal(size=(300, 3))
    seen: list[set[int]] = []
    model = GaussianMixture(
        2, max_iter=3, tol=0.0, random_state=0, callback=lambda _: seen.append(_blas_threads())
    )
    with threadpool_limits(limits=2, user_api="blas"):
        model.fit(X)
        after = _blas_threads()
    assert len(seen) == 3 and all(threads == {1} for threads in seen)
    assert after == {2}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_dask_fit_leaves_the_blas_thread_count_as_it_was():
    # The Dask tasks run the NumPy backend in worker threads; were those to set and
    # restore the limit themselves, out of order, the process could be left at one thread.
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.random.default_rng(1).normal(size=(4000, 2)), chunks=250)
    model = GaussianMixture(2, max_iter=5, random_state=0)
    before = _blas_threads()
    with dask.config.set(scheduler="threads", num_workers=4):
        model.fit(X)
        model.score_samples(X).compute()
    assert _blas_threads() == before


# In a fresh interpreter: there no thread has taken control of OpenBLAS through
# threadpoolctl yet, as in a user's process.
_OVERLAPPING_HOLDS = """
import json, threading, time
import numpy, scipy.linalg
from threadpoolctl import threadpool_info
from gaussmix.blas_threads import one_blas_thread

def blas_threads():
    return sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})

before = blas_threads()
both_inside = threading.Barrier(2, timeout=30)
inside = []

def first():
    with one_blas_thread():
        both_inside.wait()
        inside.append(blas_threads())

def second():
    both_inside.wait()
    with one_blas_thread():
        time.sleep(0.05)  # leaves after the first, which entered before it
    time.sleep(0.05)

threads = [threading.Thread(target=first), threading.Thread(target=second)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps([before, inside, blas_threads()]))
"""


def test_holds_from_two_threads_ending_out_of_order_restore_the_count():
    # Two fits in two threads (joblib's threading backend, a web server) overlap and end
    # in another order than they began.
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    environment.pop("OMP_NUM_THREADS", None)
    result = subprocess.run(
        [sys.executable, "-c", _OVERLAPPING_HOLDS],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        timeout=120,
    )
    before, inside, after = json.loads(result.stdout)
    assert before == [2]
    assert inside == [[1]]
    assert after == [2]
