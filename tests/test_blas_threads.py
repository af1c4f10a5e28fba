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


def _in_fresh_interpreter(script: str) -> list:
    """Run ``script`` in a new Python with two BLAS threads; return the JSON it prints.

    In a fresh interpreter no thread has taken control of OpenBLAS through threadpoolctl
    yet, as in a user's process.
    """
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    environment.pop("OMP_NUM_THREADS", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


# Every wait has a timeout, so a broken hand-over fails instead of hanging.
_PRELUDE = """
import json, threading, warnings
import numpy, scipy.linalg
from threadpoolctl import threadpool_info

TIMEOUT = 60
warnings.simplefilter("ignore")

def blas_threads():
    return sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})

def wait(event):
    if not event.wait(TIMEOUT):
        raise RuntimeError("a thread did not get there in time")

errors = []

def guarded(target):
    def run():
        try:
            target()
        except BaseException as error:
            errors.append(repr(error))
    return threading.Thread(target=run)

def run_all(*targets):
    threads = [guarded(target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    return [thread.is_alive() for thread in threads]
"""

_OVERLAPPING_HOLDS = (
    _PRELUDE
    + """
from gaussmix.blas_threads import one_blas_thread

before = blas_threads()
first_inside, second_inside, first_left = (threading.Event() for _ in range(3))
inside = []

def first():
    with one_blas_thread():
        first_inside.set()
        wait(second_inside)
        inside.append(blas_threads())
    first_left.set()

def second():
    wait(first_inside)
    with one_blas_thread():
        second_inside.set()
        wait(first_left)
        inside.append(blas_threads())  # the first hold has ended, this one has not

stuck = run_all(first, second)
print(json.dumps([before, inside, blas_threads(), errors, stuck]))
"""
)


def test_holds_from_two_threads_ending_out_of_order_restore_the_count():
    # Two fits in two threads (joblib's threading backend, a web server) overlap and end
    # in another order than they began.
    before, inside, after, errors, stuck = _in_fresh_interpreter(_OVERLAPPING_HOLDS)
    assert errors == [] and stuck == [False, False]
    assert before == [2]
    assert inside == [[1], [1]]
    assert after == [2]


# Four fits with the default k-means start: the first fit ends while the three others
# are inside scikit-learn's KMeans, which holds its own BLAS limit (recorded while ours
# was in force) and restores it after ours has ended. The k-means loop is held at its
# first iteration until the first fit has returned, so the order is fixed. The data are
# float32: float64 rows this small are clustered by gaussmix.kmeans, not scikit-learn.
_FITS_DURING_KMEANS = (
    _PRELUDE
    + """
import sklearn.cluster._kmeans as kmeans_module
from gaussmix import GaussianMixture

X = numpy.random.default_rng(0).normal(size=(400, 2)).astype(numpy.float32)
before = blas_threads()
first_in_em, first_done = threading.Event(), threading.Event()
all_in_kmeans = threading.Barrier(4, timeout=TIMEOUT)
held = threading.local()
in_kmeans = []
lloyd_iteration = kmeans_module.lloyd_iter_chunked_dense

def held_lloyd_iteration(*arguments, **options):
    if getattr(held, "at_kmeans", False):
        held.at_kmeans = False
        in_kmeans.append(blas_threads())
        all_in_kmeans.wait()
        wait(first_done)
    return lloyd_iteration(*arguments, **options)

kmeans_module.lloyd_iter_chunked_dense = held_lloyd_iteration

def first():
    def callback(info):
        if info.iteration == 1:
            first_in_em.set()
            all_in_kmeans.wait()
    try:
        GaussianMixture(2, random_state=0, callback=callback).fit(X)
    finally:
        first_done.set()

def other(seed):
    def fit():
        wait(first_in_em)
        held.at_kmeans = True
        GaussianMixture(2, random_state=seed).fit(X)
    return fit

stuck = run_all(first, other(1), other(2), other(3))
print(json.dumps([before, in_kmeans, blas_threads(), errors, stuck]))
"""
)


def test_fits_in_four_threads_ending_during_kmeans_starts_restore_the_count():
    before, in_kmeans, after, errors, stuck = _in_fresh_interpreter(_FITS_DURING_KMEANS)
    assert errors == [] and stuck == [False] * 4
    assert before == [2]
    assert in_kmeans == [[1]] * 3
    assert after == [2]
