"""Volume, shape and orientation: the diagonal shortcut against the dense decomposition."""

from __future__ import annotations

import numpy as np
import pytest

from gaussmix.covariance.decomposition import decompose, decompose_variances, geometric_mean


@pytest.mark.parametrize("n_features", (1, 2, 5))
def test_diagonal_decomposition_equals_the_dense_one_bit_for_bit(n_features):
    variances = np.random.default_rng(n_features).uniform(0.1, 10.0, size=(4, n_features))
    dense = variances[:, :, None] * np.eye(n_features)
    shortcut = decompose_variances(variances)
    reference = decompose(dense, "identity")
    for part in ("volume", "shape", "orientation"):
        assert getattr(shortcut, part).tobytes() == getattr(reference, part).tobytes()
    # The definitions: λ = |Σ|^(1/D), A = diag(Σ) / λ with |A| = 1, D = I.
    np.testing.assert_allclose(
        shortcut.volume, np.prod(variances, axis=1) ** (1 / n_features), rtol=1e-13
    )
    np.testing.assert_allclose(np.prod(shortcut.shape, axis=1), 1.0, rtol=1e-13)
    np.testing.assert_array_equal(
        shortcut.orientation, np.broadcast_to(np.eye(n_features), dense.shape)
    )


def test_geometric_mean_is_the_exponential_of_numpys_mean_of_logs():
    values = np.random.default_rng(0).uniform(1e-3, 1e3, size=(6, 129))
    expected = np.exp(np.mean(np.log(values), axis=-1))
    assert geometric_mean(values).tobytes() == expected.tobytes()
    assert geometric_mean(values[0]) == expected[0]
