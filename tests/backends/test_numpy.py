"""The NumPy backend's row maps: results in row order, output held once."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gaussmix import GaussianMixture
from gaussmix.backends.numpy import NumpyBackend


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
