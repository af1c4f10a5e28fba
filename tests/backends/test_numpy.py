"""The NumPy backend's row maps: results in row order, output held once."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gaussmix import GaussianMixture, fused
from gaussmix.backends.numpy import NumpyBackend, default_chunk_size


@pytest.mark.parametrize("n_threads", [1, 2])
def test_map_rows_keeps_row_order_across_chunks_and_threads(n_threads):
    X = np.arange(3 * 1001, dtype=np.float64).reshape(1001, 3)
    backend = NumpyBackend(X, None, 17, n_threads=n_threads)
    np.testing.assert_array_equal(backend.map_rows(lambda rows: rows * 2.0), X * 2.0)
    np.testing.assert_array_equal(backend.map_rows(lambda rows: rows[:, 0]), X[:, 0])


def test_predict_proba_holds_its_output_once():
    """Chunks are copied into one preallocated output, not concatenated at the end."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(500_000, 2)), rng.normal(5.0, size=(500_000, 2))])
    model = GaussianMixture(3, random_state=0).fit(X[:5000])
    model.predict_proba(X)  # per-thread scratch (O(chunk × K × D)) and compiled code in place
    tracemalloc.start()
    try:
        probabilities = model.predict_proba(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert probabilities.shape == (1_000_000, 3)
    # Concatenating per-chunk results would peak at twice the output; what remains beyond
    # it is the few chunk results in flight.
    assert peak < 1.5 * probabilities.nbytes


@pytest.mark.parametrize(
    ("n_components", "n_features"), [(1, 1), (3, 2), (8, 8), (32, 64), (200, 100), (1000, 200)]
)
def test_default_chunk_size_bounds_the_scratch(n_components, n_features):
    rows = default_chunk_size(n_components, n_features)
    assert 16 <= rows <= 32768
    width = n_components * n_features
    # Cache-sized for ordinary K·D; never more than 32 MiB of float64 per buffer otherwise.
    assert rows * width * 8 <= 32 * 2**20 or rows == 16
    if width <= 64:
        assert rows >= 1024 or not fused.available()


def test_omp_num_threads_caps_the_threads(monkeypatch):
    from gaussmix.backends.numpy import default_n_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = default_n_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_n_threads() == 1
    assert NumpyBackend(np.zeros((4, 2)), None, 2).n_threads == 1
    monkeypatch.setenv("OMP_NUM_THREADS", str(cores + 5))
    assert default_n_threads() == cores
    for ignored in ("", "0", "two", "-3"):
        monkeypatch.setenv("OMP_NUM_THREADS", ignored)
        assert default_n_threads() == cores


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize(("n_components", "n_features"), [(3, 2), (8, 8), (16, 16), (32, 64)])
def test_fused_chunks_keep_the_projection_output_in_half_a_mebibyte(
    n_components, n_features, itemsize
):
    # The (K·D × rows) output of the projection GEMM is meant to stay in a core's L2.
    rows = default_chunk_size(n_components, n_features, itemsize, fused_kernels=True)
    buffer = rows * n_components * n_features * itemsize
    assert buffer <= 2**19 or rows == 256
    assert buffer > 2**18 or rows in (256, 32768)
    # The array kernels (Dask workers) keep their own, element-counted size.
    array_rows = default_chunk_size(n_components, n_features, itemsize, fused_kernels=False)
    assert array_rows == min(32768, max(256, 2**18 // (n_components * n_features)))
