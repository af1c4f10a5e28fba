"""The Parquet and Zarr readers return lazy Dask collections that fit like the NumPy data."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pandas = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("zarr")

from gaussmix import GaussianMixture  # noqa: E402
from gaussmix.dataio import read_parquet, read_zarr  # noqa: E402


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0.0, 1.0, (300, 3)), rng.normal(3.0, 0.5, (200, 3))])


def test_read_parquet_selects_columns_lazily(rows, tmp_path):
    path = tmp_path / "rows.parquet"
    pandas.DataFrame(rows, columns=["x", "y", "z"]).to_parquet(path)
    frame = read_parquet(path, columns=["x", "z"])
    assert list(frame.columns) == ["x", "z"]
    fitted = GaussianMixture(2, random_state=0).fit(frame)
    reference = GaussianMixture(2, random_state=0).fit(rows[:, [0, 2]])
    np.testing.assert_allclose(fitted.means_, reference.means_, rtol=1e-10)
    assert fitted.feature_names_in_.tolist() == ["x", "z"]
    assert fitted.bic(frame) == pytest.approx(reference.bic(rows[:, [0, 2]]), rel=1e-12)


def test_read_zarr_keeps_the_store_chunks(rows, tmp_path):
    path = tmp_path / "rows.zarr"
    da.from_array(rows, chunks=(128, 3)).to_zarr(str(path))
    array = read_zarr(path)
    assert array.chunks[0] == (128, 128, 128, 116)
    np.testing.assert_array_equal(array.compute(), rows)
