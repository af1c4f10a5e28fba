from __future__ import annotations

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
