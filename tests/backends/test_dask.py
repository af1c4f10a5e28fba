"""The Dask executor gives the NumPy path's answers, one Dask computation per EM iteration."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import gaussmix.backends.dask as dask_backend  # noqa: E402
from gaussmix import GaussianMixture, InvalidInputError  # noqa: E402
from gaussmix.backends.dask import prepare_dask_fit, require_dask  # noqa: E402
from gaussmix.covariance import MCLUST_MODELS  # noqa: E402
from gaussmix.em import IterationInfo  # noqa: E402

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
# Seven uneven chunks, one of them a single row.
UNEVEN_CHUNKS = (100, 37, 1, 212, 150, 250, 150)
N_ROWS = sum(UNEVEN_CHUNKS)


def overlapping_clusters(n_rows: int = N_ROWS, seed: int = 0) -> np.ndarray:
    """Three overlapping, correlated clusters: EM needs 4 to 20 iterations, not two."""
    rng = np.random.default_rng(seed)
    centres = 1.5 * np.array([[0.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.5, 2.5, 1.0]])
    mixing = np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.6]])
    labels = rng.integers(0, 3, size=n_rows)
    return centres[labels] + rng.standard_normal((n_rows, 3)) @ mixing


def estimator(covariance_type: str, **options) -> GaussianMixture:
    return GaussianMixture(
        3, covariance_type=covariance_type, random_state=0, tol=1e-4, max_iter=100, **options
    )


def assert_same_fit(fitted: GaussianMixture, reference: GaussianMixture) -> None:
    assert fitted.n_iter_ == reference.n_iter_
    assert fitted.converged_ == reference.converged_
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name), rtol=1e-10)
    np.testing.assert_allclose(fitted.lower_bound_, reference.lower_bound_, rtol=1e-10)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return overlapping_clusters()


@pytest.fixture(scope="module")
def numpy_fits(data) -> dict[str, GaussianMixture]:
    fits = {kind: estimator(kind).fit(data) for kind in COVARIANCE_TYPES}
    # The data must make EM work: a test that passes after two iterations proves little.
    assert min(fit.n_iter_ for fit in fits.values()) >= 4
    assert all(fit.converged_ for fit in fits.values())
    return fits


@pytest.fixture(scope="module")
def threaded_cluster():
    """Two in-process workers: distributed scheduling without process start-up costs."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


def chunked(data: np.ndarray, layout: str):
    rows = (data.shape[0],) if layout == "one chunk" else UNEVEN_CHUNKS
    return da.from_array(data, chunks=(rows, data.shape[1]))


@pytest.mark.parametrize("layout", ["one chunk", "seven uneven chunks"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_scheduler_gives_numpy_parameters(data, numpy_fits, covariance_type, layout):
    fitted = estimator(covariance_type).fit(chunked(data, layout))
    assert_same_fit(fitted, numpy_fits[covariance_type])


@pytest.mark.parametrize("layout", ["one chunk", "seven uneven chunks"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_local_cluster_gives_numpy_parameters(
    data, numpy_fits, threaded_cluster, covariance_type, layout
):
    with threaded_cluster.as_current():
        fitted = estimator(covariance_type).fit(chunked(data, layout))
    assert_same_fit(fitted, numpy_fits[covariance_type])


def test_one_dask_computation_per_iteration(data):
    from dask.callbacks import Callback

    computations: list[int] = []
    at_iteration: list[int] = []

    def record(info: IterationInfo) -> None:
        at_iteration.append(len(computations))

    with Callback(start=lambda graph: computations.append(1)):
        fitted = estimator("diag", callback=record, persist=False).fit(
            chunked(data, "seven uneven chunks")
        )
    assert fitted.n_iter_ >= 10
    # Each iteration's E-step is exactly one computation ...
    assert np.diff(at_iteration).tolist() == [1] * (fitted.n_iter_ - 1)
    # ... and the whole fit adds only the initial sample and the final E-step.
    assert at_iteration[0] == 2
    assert len(computations) == fitted.n_iter_ + 2


def test_float32_stays_float32_and_matches_numpy(data):
    single = data.astype(np.float32)
    reference = estimator("full").fit(single)
    fitted = estimator("full").fit(chunked(single, "seven uneven chunks"))
    assert fitted.n_iter_ == reference.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name), rtol=1e-4)
    assert fitted.predict_proba(chunked(single, "one chunk")).dtype == np.float32


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_continues_like_numpy(data):
    def model() -> GaussianMixture:
        return GaussianMixture(
            3, covariance_type="diag", random_state=0, warm_start=True, max_iter=3
        )

    reference, fitted = model(), model()
    X = chunked(data, "seven uneven chunks")
    for _ in range(2):
        reference.fit(data)
        fitted.fit(X)
    assert_same_fit(fitted, reference)


def test_sample_weight_as_dask_array(data):
    weights = np.random.default_rng(1).integers(0, 4, size=data.shape[0]).astype(float)
    reference = estimator("diag").fit(data, sample_weight=weights)
    fitted = estimator("diag").fit(
        chunked(data, "seven uneven chunks"), sample_weight=da.from_array(weights, chunks=50)
    )
    assert_same_fit(fitted, reference)
    assert fitted.score(chunked(data, "one chunk"), sample_weight=da.from_array(weights)) == (
        pytest.approx(reference.score(data, sample_weight=weights), rel=1e-12)
    )


def test_predictions_are_lazy_and_aligned_with_chunks(data, numpy_fits):
    reference = numpy_fits["full"]
    fitted = estimator("full").fit(data)
    X = chunked(data, "seven uneven chunks")
    labels, probabilities, log_density = (
        fitted.predict(X),
        fitted.predict_proba(X),
        fitted.score_samples(X),
    )
    for lazy in (labels, probabilities, log_density):
        assert dask.is_dask_collection(lazy)
        assert lazy.chunks[0] == UNEVEN_CHUNKS
    np.testing.assert_array_equal(labels.compute(), reference.predict(data))
    np.testing.assert_allclose(probabilities.compute(), reference.predict_proba(data), rtol=1e-10)
    np.testing.assert_allclose(log_density.compute(), reference.score_samples(data), rtol=1e-12)
    assert fitted.score(X) == pytest.approx(reference.score(data), rel=1e-12)
    assert fitted.bic(X) == pytest.approx(reference.bic(data), rel=1e-12)
    assert fitted.aic(X) == pytest.approx(reference.aic(data), rel=1e-12)
    np.testing.assert_array_equal(
        estimator("full").fit_predict(X).compute(), reference.predict(data)
    )


def test_dask_dataframe_input(data, numpy_fits):
    dd = pytest.importorskip("dask.dataframe")
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(data, columns=["a", "b", "c"])
    fitted = estimator("tied").fit(dd.from_pandas(frame, npartitions=5))
    assert_same_fit(fitted, numpy_fits["tied"])
    assert fitted.feature_names_in_.tolist() == ["a", "b", "c"]


def test_nan_is_found_by_the_first_pass(data):
    corrupted = data.copy()
    corrupted[400, 2] = np.nan
    with pytest.raises(InvalidInputError, match="row 400, column 2"):
        estimator("full").fit(chunked(corrupted, "seven uneven chunks"))
    fitted = estimator("full").fit(data)
    with pytest.raises(InvalidInputError, match="row 400, column 2"):
        fitted.predict(chunked(corrupted, "seven uneven chunks")).compute()


def test_nan_outside_the_initial_sample_is_found_by_the_first_e_step(data, monkeypatch):
    monkeypatch.setattr(dask_backend, "INIT_SAMPLE_SIZE", 10)
    corrupted = data.copy()
    corrupted[:, 1] = np.nan
    corrupted[: data.shape[0] - 1, 1] = data[:-1, 1]
    # The last row is drawn into a 10-row sample with probability 10/900; seed 0 misses it.
    with pytest.raises(InvalidInputError, match=f"row {data.shape[0] - 1}, column 1"):
        estimator("spherical").fit(chunked(corrupted, "seven uneven chunks"))


def test_wrong_shapes_raise_before_computing(data):
    with pytest.raises(InvalidInputError, match="2-D"):
        estimator("full").fit(da.from_array(data[:, 0]))
    with pytest.raises(InvalidInputError, match="one weight per row"):
        estimator("full").fit(chunked(data, "one chunk"), sample_weight=da.ones(5))
    fitted = estimator("full").fit(data)
    with pytest.raises(InvalidInputError, match="3 features"):
        fitted.predict(da.from_array(data[:, :2]))


def test_initialisation_from_a_sample_reaches_the_same_optimum(data, numpy_fits, monkeypatch):
    monkeypatch.setattr(dask_backend, "INIT_SAMPLE_SIZE", 300)
    fitted = estimator("full").fit(chunked(data, "seven uneven chunks"))
    reference = numpy_fits["full"]
    order = np.argsort(fitted.means_[:, 0])
    reference_order = np.argsort(reference.means_[:, 0])
    # Another start: the same maximum to the precision that tol allows, not to 1e-10.
    np.testing.assert_allclose(
        fitted.means_[order], reference.means_[reference_order], rtol=1e-2, atol=1e-2
    )
    # Within ten times tol (1e-4); another local maximum would differ by ~0.05 or more.
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, abs=1e-3)


def test_a_collapsing_component_reseeds_from_the_sample_of_large_dask_data(data, monkeypatch):
    from scipy.stats import multivariate_normal
    from sklearn.exceptions import ConvergenceWarning

    from gaussmix import CollapsedComponentWarning

    # 300 of the 900 rows are drawn: the seed must be a row of that sample, found by its
    # index within the sample, not among all 900 rows (out of range, or the wrong row).
    monkeypatch.setattr(dask_backend, "INIT_SAMPLE_SIZE", 300)
    means = np.stack([data.mean(axis=0), data.mean(axis=0) + 1.0, np.full(3, 1e3)])
    model = GaussianMixture(
        3,
        means_init=means,
        weights_init=[0.4, 0.4, 0.2],
        precisions_init=np.ones((3, 3)),
        covariance_type="diag",
        max_iter=1,
        tol=0.0,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1, on purpose
        with pytest.warns(CollapsedComponentWarning):
            fitted = model.fit(chunked(data, "seven uneven chunks"))
    seed = fitted.means_[2]
    matches = np.flatnonzero((data == seed).all(axis=1))
    assert matches.size == 1
    # The worst explained row of a third of the rows is among the worst of all of them.
    log_density = np.log(
        sum(
            w * multivariate_normal(m, np.eye(3)).pdf(data)
            for w, m in zip([0.4, 0.4, 0.2], means, strict=True)
        )
    )
    assert np.argsort(log_density).tolist().index(int(matches[0])) < 15


def test_persist_policy(data, monkeypatch):
    X = chunked(data, "seven uneven chunks")
    gm = estimator("full")
    state = np.random.RandomState(0)
    assert prepare_dask_fit(gm, X, None, reset=True, persist="auto", random_state=state).persisted
    assert not prepare_dask_fit(
        gm, X, None, reset=True, persist=False, random_state=state
    ).persisted
    monkeypatch.setattr(dask_backend, "PERSIST_MEMORY_FRACTION", X.nbytes / 1e15)
    assert not prepare_dask_fit(
        gm, X, None, reset=True, persist="auto", random_state=state
    ).persisted
    with pytest.raises(ValueError, match='persist must be "auto", True or False'):
        estimator("full", persist="yes").fit(X)


def test_dashboard_link_and_progress_with_a_client(data, threaded_cluster, capsys):
    with threaded_cluster.as_current():
        estimator("full", verbose=2, verbose_interval=1).fit(chunked(data, "one chunk"))
    printed = capsys.readouterr().out
    assert f"Dask dashboard: {threaded_cluster.dashboard_link}" in printed
    assert "Iteration 1\t" in printed


def test_missing_dask_says_which_extra_to_install(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r"pip install 'gaussmix\[dask\]'"):
        require_dask()
    # NumPy input never needs dask.
    assert estimator("spherical").fit(data).converged_


# ------------------------------------------------------------ real worker processes
WORKER_MEMORY_CAP = 500e6
# A worker process holds 200-250 MB once numpy, scipy, scikit-learn, pandas, zarr and
# gaussmix.backends.dask are loaded (more from a fresh clone, whose first imports compile
# the bytecode), and its nanny kills it at 95 % of the cap: the cap leaves ~220 MB to
# work in. Every function a test runs on these workers is defined inside the test, so that
# cloudpickle sends it by value: a module-level one makes each worker import this test
# module and, through it, numba (+85-145 MB), which alone pushed a 400 MB worker over.
# Each repeat is 4 MiB: 300 repeats are 1.26 GB, 2.5 times one worker's cap and more than
# both together. Lower it for a quick run with GAUSSMIX_DASK_OUT_OF_CORE_REPEATS=130
# (still more than one worker's cap).
OUT_OF_CORE_REPEATS = int(os.environ.get("GAUSSMIX_DASK_OUT_OF_CORE_REPEATS", "300"))


@pytest.fixture(scope="module")
def process_cluster():
    """Two worker processes (each under a nanny that restarts it), memory capped."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=WORKER_MEMORY_CAP,
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


def worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_fit_survives_a_killed_worker(process_cluster, tmp_path):
    pytest.importorskip("zarr")
    data = overlapping_clusters(30_000, seed=2)
    path = str(tmp_path / "rows.zarr")
    da.from_array(data, chunks=(2_500, 3)).to_zarr(path)
    reference = estimator("full").fit(data)

    with process_cluster.as_current():
        undisturbed = estimator("full", persist=False).fit(da.from_zarr(path))
        victim = next(iter(worker_pids(process_cluster).values()))
        killers: list[threading.Timer] = []

        def kill_during_next_iteration(info: IterationInfo) -> None:
            if info.iteration == 2:
                killers.append(threading.Timer(0.05, os.kill, (victim, signal.SIGKILL)))
                killers[0].start()

        disturbed = estimator("full", persist=False, callback=kill_during_next_iteration).fit(
            da.from_zarr(path)
        )
        killers[0].join()
        process_cluster.wait_for_workers(2, timeout=60)
        assert victim not in worker_pids(process_cluster).values()

    assert reference.n_iter_ >= 4
    assert_same_fit(undisturbed, reference)
    assert_same_fit(disturbed, undisturbed)
    # The nanny restarts the killed worker; the next test gets the cluster whole.
    process_cluster.wait_for_workers(2, timeout=300)


@pytest.fixture
def scratch_zarr_path(tmp_path):
    """A path for a large Zarr store, removed afterwards even if the test fails.

    Pytest keeps the temporary directories of recent runs; a gigabyte is too much to keep.
    """
    path = tmp_path / "big.zarr"
    yield str(path)
    shutil.rmtree(path, ignore_errors=True)


def test_out_of_core_fit_stays_under_the_worker_memory_cap(
    process_cluster, scratch_zarr_path, record_property
):
    zarr = pytest.importorskip("zarr")
    # A worker killed by an earlier test may still be restarting: both must hold data.
    process_cluster.wait_for_workers(2, timeout=300)
    from sklearn.exceptions import ConvergenceWarning

    # One random block of float32 rows (1 KiB each), written OUT_OF_CORE_REPEATS times:
    # the data exceed a worker's cap several times, and EM on them equals EM on the block.
    n_features, block_rows = 256, 4_096
    rng = np.random.default_rng(0)
    block = rng.standard_normal((block_rows, n_features)).astype(np.float32)
    block[: block_rows // 2] += 4.0
    path = scratch_zarr_path
    store = zarr.open_array(
        path,
        mode="w",
        shape=(block_rows * OUT_OF_CORE_REPEATS, n_features),
        chunks=(block_rows, n_features),
        dtype="float32",
    )
    for repeat in range(OUT_OF_CORE_REPEATS):
        store[repeat * block_rows : (repeat + 1) * block_rows] = block
    X = da.from_zarr(path)
    assert X.nbytes > WORKER_MEMORY_CAP
    assert not dask_backend.should_persist("auto", X.nbytes, process_cluster)

    peak: dict[str, int] = {}
    done = threading.Event()

    def resident_memory() -> int:
        """Resident set size of the calling process, in bytes (run on each worker)."""
        import psutil

        return psutil.Process().memory_info().rss

    def sample_memory() -> None:
        for worker, rss in process_cluster.run(resident_memory).items():
            peak[worker] = max(peak.get(worker, 0), rss)

    def watch_memory() -> None:
        while not done.is_set():
            try:
                sample_memory()
            except OSError:
                # A busy machine can drop one of these side requests (CommClosedError is
                # an OSError); the next sample, and the one after the fit, still count.
                pass
            done.wait(0.2)

    def model() -> GaussianMixture:
        return GaussianMixture(
            2,
            covariance_type="spherical",
            weights_init=[0.5, 0.5],
            means_init=np.stack([np.full(n_features, 4.0), np.zeros(n_features)]),
            precisions_init=[0.5, 0.5],
            max_iter=1,
            tol=0.0,
        )

    pids = worker_pids(process_cluster)
    watcher = threading.Thread(target=watch_memory)
    watcher.start()
    try:
        with process_cluster.as_current(), pytest.warns(ConvergenceWarning):
            fitted = model().fit(X)
    finally:
        done.set()
        watcher.join()
    sample_memory()
    highest = max(peak.values())
    record_property("peak_worker_memory_bytes", highest)
    print(f"peak worker memory: {highest / 1e6:.0f} MB (cap {WORKER_MEMORY_CAP / 1e6:.0f} MB)")
    assert worker_pids(process_cluster) == pids, "a worker was restarted during the fit"
    assert highest < WORKER_MEMORY_CAP
    with pytest.warns(ConvergenceWarning):
        reference = model().fit(block)
    for name in ("weights_", "means_", "covariances_"):
        expected = getattr(reference, name)
        # float32 rows: the in-memory fit sums within a chunk in float64 (compiled
        # kernels), the workers in float32, so entries near zero differ at the float32
        # rounding of the largest ones.
        np.testing.assert_allclose(
            getattr(fitted, name), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max()
        )


# --------------------------------------------------- every covariance model on Dask
# Inner iterations of VEI, VEE, EVE, VVE and VEV stop at 1e-10 of the largest entry
# (gaussmix.covariance.iterative); over EM iterations that leaves differences of that order
# relative to the largest entry, not to every entry.
ITERATIVE_MODELS = {"VEI", "VEE", "EVE", "VVE", "VEV"}


def explicit_start(data: np.ndarray) -> dict:
    """One start shared by every path: three data rows as means, precisions I/2."""
    return {
        "weights_init": np.full(3, 1 / 3),
        "means_init": data[[0, 1, 2]],
        "precisions_init": np.broadcast_to(np.eye(3) / 2, (3, 3, 3)).copy(),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", MCLUST_MODELS)
def test_every_mclust_model_with_weights_gives_numpy_parameters(data, covariance_type):
    weights = np.random.default_rng(2).integers(0, 4, size=data.shape[0]).astype(float)

    def model() -> GaussianMixture:
        return GaussianMixture(
            3, covariance_type=covariance_type, tol=0.0, max_iter=8, **explicit_start(data)
        )

    reference = model().fit(data, sample_weight=weights)
    fitted = model().fit(
        chunked(data, "seven uneven chunks"), sample_weight=da.from_array(weights, chunks=300)
    )
    iterative = covariance_type in ITERATIVE_MODELS
    for name in ("weights_", "means_", "covariances_", "volume_", "shape_"):
        expected = getattr(reference, name)
        np.testing.assert_allclose(
            getattr(fitted, name),
            expected,
            rtol=1e-10,
            atol=1e-8 * np.max(np.abs(expected)) if iterative else 0,
        )
    np.testing.assert_allclose(fitted.log_likelihood_, reference.log_likelihood_, rtol=1e-10)


def test_fit_predict_and_icl_on_dask_input(data, numpy_fits):
    reference = numpy_fits["full"]
    X = chunked(data, "seven uneven chunks")
    model = estimator("full", means_init=reference.means_)
    labels = model.fit_predict(X)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), model.predict(data))
    assert model.icl(X) == pytest.approx(model.icl(data), rel=1e-12)
    assert model.icl(X) > model.bic(X)


# ------------------------------------------------ the compiled kernels on the workers
fused = pytest.importorskip("gaussmix.fused")
needs_numba = pytest.mark.skipif(not fused.available(), reason="the compiled kernels need numba")


def count_fused_calls(monkeypatch) -> list[int]:
    """The rows of each compiled block call made by Dask tasks (this process's worker threads).

    The loads of the kernels before a fit (two rows of one feature) are left out.
    """
    calls: list[int] = []
    original = fused.block_moments

    def counting(X, *arguments, **options):
        if X.shape != (2, 1):
            calls.append(X.shape[0])
        return original(X, *arguments, **options)

    monkeypatch.setattr(fused, "block_moments", counting)
    return calls


@needs_numba
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fused_workers_with_weights_give_numpy_parameters(
    data, threaded_cluster, covariance_type, monkeypatch
):
    weights = np.random.default_rng(5).uniform(0.0, 3.0, size=data.shape[0])
    reference = estimator(covariance_type).fit(data, sample_weight=weights)
    X = chunked(data, "seven uneven chunks")
    calls = count_fused_calls(monkeypatch)
    with threaded_cluster.as_current():
        fitted = estimator(covariance_type).fit(X, sample_weight=da.from_array(weights, chunks=90))
    assert reference.n_iter_ >= 4
    assert_same_fit(fitted, reference)
    # One compiled call per Dask chunk and E-step: the fit's iterations plus the final one.
    assert sorted(calls) == sorted(UNEVEN_CHUNKS * (fitted.n_iter_ + 1))


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_without_numba_the_workers_run_the_array_kernels(
    data, threaded_cluster, covariance_type, monkeypatch
):
    weights = np.random.default_rng(4).integers(0, 3, size=data.shape[0]).astype(float)
    reference = estimator(covariance_type).fit(data, sample_weight=weights)
    monkeypatch.setattr(fused, "load_block_kernels", lambda dtype: False)
    calls = count_fused_calls(monkeypatch)
    X = chunked(data, "seven uneven chunks")
    with threaded_cluster.as_current():
        executor = dask_backend.dask_backend(X, None, None, 3)
        fitted = estimator(covariance_type).fit(X, sample_weight=weights)
        probabilities = fitted.predict_proba(X).compute()
    assert not executor.use_fused
    assert calls == []
    assert_same_fit(fitted, reference)
    np.testing.assert_allclose(probabilities, reference.predict_proba(data), rtol=1e-10)


@needs_numba
def test_predictions_on_the_workers_are_lazy_and_equal_numpy(data, threaded_cluster):
    reference = estimator("full").fit(data)
    X = chunked(data, "seven uneven chunks")
    with threaded_cluster.as_current():
        assert dask_backend.dask_backend(X, None, None, 3).use_fused
        lazy = (reference.predict(X), reference.predict_proba(X), reference.score_samples(X))
        assert all(isinstance(result, da.Array) for result in lazy)
        labels, probabilities, log_density = dask.compute(*lazy)
    np.testing.assert_array_equal(labels, reference.predict(data))
    np.testing.assert_allclose(probabilities, reference.predict_proba(data), rtol=1e-10)
    np.testing.assert_allclose(log_density, reference.score_samples(data), rtol=1e-12)


class GraphCounter(distributed.diagnostics.plugin.SchedulerPlugin):
    """Counts the graphs the scheduler receives (computations and persists alike)."""

    def __init__(self) -> None:
        self.graphs = 0

    def update_graph(self, scheduler, **kwargs) -> None:
        self.graphs += 1


def test_one_graph_per_iteration_on_a_cluster(data, threaded_cluster):
    counter = GraphCounter()
    scheduler = threaded_cluster.cluster.scheduler
    scheduler.add_plugin(counter, name="gaussmix-graph-counter")
    graphs_at: list[int] = []

    def record(info: IterationInfo) -> None:
        graphs_at.append(counter.graphs)

    try:
        with threaded_cluster.as_current():
            fitted = estimator("full", callback=record, persist=True).fit(
                chunked(data, "seven uneven chunks")
            )
    finally:
        scheduler.remove_plugin(name="gaussmix-graph-counter")
    assert fitted.n_iter_ >= 4
    # Each iteration is one graph, the E-step (the persisted data are not sent again) ...
    assert np.diff(graphs_at).tolist() == [1] * (fitted.n_iter_ - 1)
    # ... and before the first iteration came the persist, the initial sample, the first
    # E-step; after the last, the final E-step.
    assert graphs_at[0] == 3
    assert counter.graphs == fitted.n_iter_ + 3


def test_persisted_chunks_are_spread_evenly_over_the_workers(data, threaded_cluster):
    X = chunked(data, "seven uneven chunks")
    weights = da.from_array(np.arange(data.shape[0], dtype=float), chunks=(X.chunks[0],))
    held, held_weights = dask_backend.persist_rows(X, weights, threaded_cluster)
    with threaded_cluster.as_current():
        for array in (held, held_weights):
            distributed.wait(list(array.__dask_graph__().values()), timeout=60)
    workers = sorted(threaded_cluster.scheduler_info()["workers"])

    def holders(array) -> list[str]:
        where = threaded_cluster.who_has(array)
        return [where[key][0] for key in dask.core.flatten(array.__dask_keys__())]

    # Contiguous runs of 4 and 3 chunks; every weight chunk beside its rows.
    assert holders(held) == [workers[0]] * 4 + [workers[1]] * 3
    assert holders(held_weights) == holders(held)
    assert held.chunks == X.chunks and held_weights.chunks == weights.chunks
    with threaded_cluster.as_current():
        rows, row_weights = dask.compute(held, held_weights)
    np.testing.assert_array_equal(rows, data)
    np.testing.assert_array_equal(row_weights, np.arange(data.shape[0]))


def test_lean_workers_keep_the_array_kernels(process_cluster):
    # 500 MB workers: numba and its kernels would take a quarter of them, so neither is
    # loaded there.
    process_cluster.wait_for_workers(2, timeout=300)
    with process_cluster.as_current():
        assert not dask_backend.fused_on_workers(np.float64)
    loaded = process_cluster.run(lambda: sorted({"numba", "gaussmix._compiled"} & set(sys.modules)))
    assert list(loaded.values()) == [[], []]


@needs_numba
def test_workers_load_the_compiled_kernels_before_the_first_e_step(threaded_cluster):
    with threaded_cluster.as_current():
        assert dask_backend.fused_on_workers(np.float32)
        assert dask_backend.fused_on_workers(np.float64)
