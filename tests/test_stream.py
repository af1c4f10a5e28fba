"""Exact EM over a chunked source: the same fit as in memory, chunk sizes and formats aside."""

from __future__ import annotations

import itertools
import json
import threading

import numpy as np
import pytest

from gaussmix import GaussianMixture, load
from gaussmix.backends import stream
from gaussmix.backends.stream import _reblocked, _Reservoir
from gaussmix.exceptions import InvalidInputError
from gaussmix.kernels import accumulate_statistics

MCLUST_MODELS = [
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
]  # fmt: skip
SKLEARN_TYPES = ["full", "tied", "diag", "spherical"]
# Uneven chunk boundaries, a one-row chunk among them; more rows than one task of the
# in-memory executor at chunk_size=32 (8 chunks of 32 rows), so that its thread pool runs.
BOUNDS = [0, 1, 2, 50, 51, 333, 700, 701, 1200]


def _data(n_rows: int = 1200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.3, 0], [0, 0.8, 0.2], [0, 0, 0.5]])
    first = rng.normal(size=(n_rows // 2, 3)) @ mixing
    second = rng.normal(size=(n_rows - n_rows // 2, 3)) * [0.6, 1.2, 0.9] + [4.0, -1.0, 2.0]
    X = np.concatenate([first, second])
    return X[rng.permutation(n_rows)]


def _chunks(X: np.ndarray, weights: np.ndarray | None = None, bounds=BOUNDS):
    def read():
        for start, stop in itertools.pairwise(bounds):
            yield X[start:stop] if weights is None else (X[start:stop], weights[start:stop])

    return read


def _fit(X, covariance_type="full", sample_weight=None, **settings):
    settings = {"random_state": 0, "tol": 1e-6, "chunk_size": 32, **settings}
    model = GaussianMixture(2, covariance_type=covariance_type, **settings)
    return model.fit(X, sample_weight=sample_weight)


def _assert_same_fit(streamed, in_memory, tol=1e-10):
    assert streamed.n_iter_ == in_memory.n_iter_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(
            getattr(streamed, name), getattr(in_memory, name), rtol=0, atol=tol, err_msg=name
        )
    assert streamed.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, abs=tol)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES + MCLUST_MODELS)
def test_streamed_fit_equals_the_in_memory_fit_for_every_covariance_type(covariance_type):
    X = _data()
    _assert_same_fit(_fit(_chunks(X), covariance_type), _fit(X, covariance_type))


def test_one_row_chunks_give_the_in_memory_fit():
    X = _data(400)
    one_row = _chunks(X, bounds=list(range(401)))
    _assert_same_fit(_fit(one_row, "VVV"), _fit(X, "VVV"))


def test_weights_as_pairs_and_as_a_column_give_the_weighted_fit():
    pd = pytest.importorskip("pandas")
    X = _data()
    weights = np.random.default_rng(1).integers(0, 4, X.shape[0]).astype(float)
    in_memory = _fit(X, "VEV", sample_weight=weights)
    _assert_same_fit(_fit(_chunks(X, weights), "VEV"), in_memory)

    def frames():
        frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(w=weights)
        for start, stop in itertools.pairwise(BOUNDS):
            yield frame.iloc[start:stop]

    by_column = _fit(frames, "VEV", sample_weight="w")
    _assert_same_fit(by_column, in_memory)
    assert list(by_column.feature_names_in_) == ["a", "b", "c"]


def test_integer_weights_equal_repeated_rows():
    # An independent check of the weights: a row of weight 2 is that row given twice.
    X = _data(600)
    weights = np.where(np.arange(600) % 3 == 0, 2.0, 1.0)
    repeated = np.concatenate([X, X[weights == 2]])
    start = dict(
        weights_init=[0.5, 0.5], means_init=[[0.0, 0.0, 0.0], [4.0, -1.0, 2.0]],
        precisions_init=np.stack([np.eye(3), np.eye(3)]), tol=0.0, max_iter=15,
    )  # fmt: skip
    streamed = _fit(_chunks(X, weights, bounds=[0, 7, 300, 600]), **start)
    on_repeated = _fit(repeated, **start)
    np.testing.assert_allclose(streamed.means_, on_repeated.means_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(streamed.covariances_, on_repeated.covariances_, atol=1e-10)


def test_parquet_and_csv_files_folders_and_globs_give_the_in_memory_fit(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X = _data()
    frame = pd.DataFrame(X, columns=["x", "y", "z"])
    folder = tmp_path / "parts"
    folder.mkdir()
    # Two Parquet files of several (uneven) row groups, then a CSV file.
    frame.iloc[:500].to_parquet(folder / "a.parquet", row_group_size=123)
    frame.iloc[500:900].to_parquet(folder / "b.parquet", row_group_size=1)
    frame.iloc[900:].to_csv(folder / "c.csv", index=False, float_format="%.17g")
    in_memory = _fit(frame)
    for source in (folder, str(folder / "*"), [folder / "a.parquet", str(folder / "[bc].*")]):
        streamed = _fit(source)
        _assert_same_fit(streamed, in_memory)
        assert list(streamed.feature_names_in_) == ["x", "y", "z"]
        assert streamed.n_samples_fit_ == 1200


def test_a_zarr_array_is_read_by_row_slices():
    zarr = pytest.importorskip("zarr")
    X = _data()
    store = zarr.create_array(store={}, shape=X.shape, chunks=(100, 3), dtype="f8")
    store[:] = X
    _assert_same_fit(_fit(store), _fit(X))


def test_an_h5py_dataset_and_a_zarr_store_path_are_sources(tmp_path):
    X = _data()
    zarr = pytest.importorskip("zarr")
    store = zarr.open_array(tmp_path / "rows.zarr", mode="w", shape=X.shape, chunks=(64, 3))
    store[:] = X
    _assert_same_fit(_fit(str(tmp_path / "rows.zarr")), _fit(X))
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "rows.h5", "w") as file:
        file.create_dataset("rows", data=X, chunks=(100, 3))
    with h5py.File(tmp_path / "rows.h5", "r") as file:
        _assert_same_fit(_fit(file["rows"]), _fit(X))
    with pytest.raises(InvalidInputError, match="pass the dataset itself"):
        _fit(tmp_path / "rows.h5")


def test_a_callable_source_is_read_in_the_calling_thread():
    # A database cursor may be bound to the thread that opened it.
    X = _data(300)
    threads = set()

    def cursor():
        threads.add(threading.get_ident())
        for start in range(0, 300, 100):
            threads.add(threading.get_ident())
            yield X[start : start + 100]

    _fit(cursor)
    assert threads == {threading.get_ident()}


def test_fit_predict_on_a_source_gives_the_labels_of_every_row():
    X = _data()
    np.testing.assert_array_equal(
        GaussianMixture(2, random_state=0, chunk_size=32).fit_predict(_chunks(X)),
        GaussianMixture(2, random_state=0, chunk_size=32).fit_predict(X),
    )


def test_float32_chunks_are_fitted_in_float32_like_the_array():
    X = _data().astype(np.float32)
    _assert_same_fit(_fit(_chunks(X)), _fit(X), tol=1e-6)


def test_the_estimators_dtype_casts_every_chunk():
    X = _data()

    def mixed():
        yield X[:600].astype(np.float32)
        yield X[600:]

    cast = X.copy()
    cast[:600] = cast[:600].astype(np.float32)
    _assert_same_fit(_fit(mixed, dtype="float64"), _fit(cast, dtype="float64"))


def test_the_start_of_a_large_source_is_a_reproducible_reservoir_sample(monkeypatch):
    monkeypatch.setattr(stream, "sample_capacity", lambda *args: 300)
    X = _data()
    first = _fit(_chunks(X), max_iter=0)
    again = _fit(_chunks(X), max_iter=0)
    np.testing.assert_array_equal(first.means_, again.means_)
    # Not the first 300 rows: the start differs from that of the prefix.
    prefix = _fit(X[:300], max_iter=0)
    assert np.max(np.abs(np.sort(first.means_, 0) - np.sort(prefix.means_, 0))) > 1e-6
    # EM itself visits every row: converged from that start, it is the in-memory optimum.
    converged = _fit(_chunks(X), tol=1e-10, max_iter=500)
    full = _fit(X, tol=1e-10, max_iter=500)
    order = np.argsort(converged.means_[:, 0]), np.argsort(full.means_[:, 0])
    np.testing.assert_allclose(converged.means_[order[0]], full.means_[order[1]], atol=1e-6)


def test_the_reservoir_draws_every_row_with_the_same_probability():
    # Algorithm R: each of 40 rows is in a sample of 10 with probability 1/4.
    n_rows, capacity, draws = 40, 10, 2000
    counts = np.zeros(n_rows)
    for seed in range(draws):
        reservoir = _Reservoir(capacity, 1, np.dtype(float), np.random.RandomState(seed))
        for start in (0, 3, 4, 17, 33):
            stop = {0: 3, 3: 4, 4: 17, 17: 33, 33: 40}[start]
            reservoir.add(np.arange(start, stop, dtype=float)[:, None], None)
        sample, _ = reservoir.result(False)
        assert np.unique(sample).shape[0] == capacity
        counts[sample[:, 0].astype(int)] += 1
    expected = draws * capacity / n_rows
    # Binomial standard deviation sqrt(2000 · 0.25 · 0.75) ≈ 19; 5 of them over 40 rows.
    assert np.max(np.abs(counts - expected)) < 5 * np.sqrt(draws * 0.25 * 0.75)


def test_reblocking_keeps_every_row_in_order():
    rows = np.arange(20.0)[:, None]
    chunks = [(rows[a:b], None) for a, b in [(0, 1), (1, 2), (2, 9), (9, 20)]]
    blocks = [block for block, _ in _reblocked(iter(chunks), 4)]
    assert [block.shape[0] for block in blocks] == [4, 4, 4, 4, 4]
    np.testing.assert_array_equal(np.concatenate(blocks), rows)


@pytest.mark.parametrize("kind", ["full", "diagonal", "trace"])
def test_statistics_moved_to_another_shift_equal_those_taken_about_it(kind):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3)) + 100.0
    responsibilities = rng.dirichlet(np.ones(2), size=50)
    weights = rng.uniform(size=50)
    old, new = rng.normal(size=(2, 3)) + 100.0, rng.normal(size=(2, 3)) + 99.0
    about_old = accumulate_statistics(X, responsibilities, weights, old, kind)
    about_new = accumulate_statistics(X, responsibilities, weights, new, kind)
    moved = about_old.shifted(new)
    np.testing.assert_allclose(moved.weighted_sum, about_new.weighted_sum, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(moved.scatter, about_new.scatter, rtol=1e-10)
    np.testing.assert_array_equal(moved.shift, new)
    doubled = accumulate_statistics(X, responsibilities, 2.5 * weights, old, kind)
    scaled = about_old.scaled(2.5)
    np.testing.assert_allclose(scaled.scatter, doubled.scatter, rtol=1e-12)
    np.testing.assert_allclose(scaled.n_k, doubled.n_k, rtol=1e-12)
    assert scaled.total_weight == pytest.approx(doubled.total_weight, rel=1e-12)


def test_chunks_that_change_columns_or_dtype_or_hold_nan_are_named():
    X = _data(100)

    def wider():
        yield X[:50]
        yield np.hstack([X[50:], X[50:, :1]])

    with pytest.raises(InvalidInputError, match=r"chunk 1 .* has 4"):
        GaussianMixture(2).fit(wider)

    def mixed():
        yield X[:50]
        yield X[50:].astype(np.float32)

    with pytest.raises(InvalidInputError, match=r"dtype of the first .*float32"):
        GaussianMixture(2).fit(mixed)
    bad = X.copy()
    bad[70, 1] = np.nan
    with pytest.raises(InvalidInputError, match="row 70, column 1"):
        GaussianMixture(2).fit(_chunks(bad, bounds=[0, 50, 100]))
    with pytest.raises(InvalidInputError, match="non-negative"):
        GaussianMixture(2).fit(_chunks(X, -np.ones(100), bounds=[0, 50, 100]))


def test_a_source_must_yield_the_same_rows_on_every_pass():
    X = _data(200)
    passes = []

    def shrinking():
        passes.append(1)
        return iter([X[: 200 - 10 * len(passes)]])

    with pytest.raises(InvalidInputError, match="same rows on every pass"):
        GaussianMixture(2).fit(shrinking)
    with pytest.raises(InvalidInputError, match="at least one row"):
        GaussianMixture(2).fit(lambda: iter([]))
    with pytest.raises(InvalidInputError, match="iterable of chunks"):
        GaussianMixture(2).fit(lambda: 3)


def test_sources_are_for_fit_and_weights_must_name_a_column(tmp_path):
    X = _data(200)
    with pytest.raises(InvalidInputError, match="name of a weight column"):
        GaussianMixture(2).fit(_chunks(X, bounds=[0, 200]), sample_weight=np.ones(200))
    model = GaussianMixture(2, random_state=0).fit(_chunks(X, bounds=[0, 200]))
    with pytest.raises(InvalidInputError, match="only fit and fit_predict"):
        model.predict(_chunks(X, bounds=[0, 200]))
    with pytest.raises(InvalidInputError, match="matches none"):
        GaussianMixture(2).fit(str(tmp_path / "nothing*.parquet"))
    (tmp_path / "rows.json").write_text("[]")
    with pytest.raises(InvalidInputError, match=r"Parquet .* or CSV"):
        GaussianMixture(2).fit([tmp_path / "rows.json"])


def test_the_command_line_streams_a_glob_and_runs_online_em(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from click.testing import CliRunner

    from gaussmix.cli import cli

    frame = pd.DataFrame(_data(), columns=["x", "y", "z"])
    frame.iloc[:700].to_parquet(tmp_path / "a.parquet", row_group_size=200)
    frame.iloc[700:].to_csv(tmp_path / "b.csv", index=False, float_format="%.17g")
    common = ["-k", "2", "--seed", "0", "--json"]
    streamed = CliRunner().invoke(
        cli, ["fit", str(tmp_path / "*"), "-o", str(tmp_path / "s.gmm"), *common]
    )
    assert streamed.exit_code == 0, streamed.output
    document = json.loads(streamed.stdout)
    expected = GaussianMixture(2, random_state=0, tol=1e-5, convergence="relative", max_iter=1000)
    expected.fit(frame)
    np.testing.assert_allclose(document["means"], expected.means_, atol=1e-9)
    assert document["n_samples"] == 1200 and document["feature_names"] == ["x", "y", "z"]
    assert document["bic"] == pytest.approx(expected.bic(frame), rel=1e-9)

    online = CliRunner().invoke(
        cli,
        ["fit", str(tmp_path), "--online", "--batch-size", "100", "-o", str(tmp_path / "o.gmm"),
         *common],
    )  # fmt: skip
    assert online.exit_code == 0, online.output
    document = json.loads(online.stdout)
    assert document["online"] and document["n_iter"] == 12 and document["n_samples"] == 1200
    # The report's log-likelihood is that of all rows under the final parameters.
    fitted = load(tmp_path / "o.gmm")
    assert document["log_likelihood"] == pytest.approx(fitted.score(frame), rel=1e-12)
    # So does the file's record, from which `info` computes the BIC.
    assert fitted.log_likelihood_ == pytest.approx(fitted.score(frame), rel=1e-12)
    info = json.loads(CliRunner().invoke(cli, ["info", str(tmp_path / "o.gmm"), "--json"]).output)
    assert info["bic"] == pytest.approx(fitted.bic(frame), rel=1e-9)


def test_the_command_line_streams_a_folder_of_csv_files_without_dask(tmp_path):
    pd = pytest.importorskip("pandas")
    from click.testing import CliRunner

    from gaussmix.cli import cli

    frame = pd.DataFrame(_data(), columns=["x", "y", "z"])
    (tmp_path / "parts").mkdir()
    for number, start in enumerate(range(0, 1200, 500)):
        part = frame.iloc[start : start + 500]
        part.to_csv(tmp_path / "parts" / f"p{number}.csv", index=False, float_format="%.17g")
    result = CliRunner().invoke(
        cli, ["fit", str(tmp_path / "parts"), "-k", "2", "--seed", "0", "--json",
              "-o", str(tmp_path / "f.gmm")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = GaussianMixture(2, random_state=0, tol=1e-5, convergence="relative", max_iter=1000)
    expected.fit(frame)
    np.testing.assert_allclose(json.loads(result.stdout)["means"], expected.means_, atol=1e-9)


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_the_executor_sums_what_the_in_memory_executor_sums(use_fused, covariance_type):
    # The pure-NumPy path (no numba) and the fused one, each against its in-memory twin.
    from gaussmix.backends.numpy import NumpyBackend
    from gaussmix.backends.stream import StreamExecutor, as_source, scan_source

    if use_fused:
        pytest.importorskip("numba")
    X = _data()
    weights = np.random.default_rng(2).uniform(size=X.shape[0])
    scanned = scan_source(
        as_source(_chunks(X, weights)), n_components=2, dtype=None,
        random_state=np.random.RandomState(0),
    )  # fmt: skip
    streamed = StreamExecutor(scanned.source, 32, n_threads=2, use_fused=use_fused)
    in_memory = NumpyBackend(X, weights, 32, n_threads=2, use_fused=use_fused)
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    parameters = model._fitted_parameters()
    kind = model._fitted_covariance_model().scatter
    ours, theirs = streamed.statistics(parameters, kind), in_memory.statistics(parameters, kind)
    for name in ("n_k", "weighted_sum", "scatter", "shift"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
    assert ours.log_likelihood == theirs.log_likelihood
    assert ours.total_weight == pytest.approx(theirs.total_weight, rel=1e-15)
    posterior = streamed.posterior_function(streamed.prepare(parameters))
    np.testing.assert_allclose(
        streamed.map_rows(lambda rows: posterior(rows)[0]), model.score_samples(X), rtol=1e-12
    )
