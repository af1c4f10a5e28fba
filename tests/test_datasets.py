"""Bundled data sets: shapes, classes, frames, and the numbers of the CSV files."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from gaussmix import datasets

# (loader, file, rows, features, label column or None, class sizes in order of first row)
TABLES = [
    (datasets.load_old_faithful, "faithful.csv", 272, 2, None, None),
    (datasets.load_iris, "iris.csv", 150, 4, 4, [50, 50, 50]),
    (datasets.load_diabetes, "diabetes.csv", 145, 3, 0, [76, 36, 33]),
    (datasets.load_banknote, "banknote.csv", 200, 6, 0, [100, 100]),
    (datasets.load_thyroid, "thyroid.csv", 215, 5, 0, [150, 35, 30]),
]


@pytest.mark.parametrize(("loader", "file_name", "rows", "features", "label", "sizes"), TABLES)
def test_loader_returns_the_csv_numbers_and_classes(
    loader, file_name, rows, features, label, sizes
):
    bunch = loader()
    assert bunch.data.shape == (rows, features)
    assert len(bunch.feature_names) == features
    with resources.files("gaussmix").joinpath("data", file_name).open() as handle:
        table = np.genfromtxt(handle, delimiter=",", skip_header=1, dtype=str)
    numeric = np.delete(table, label, axis=1) if label is not None else table
    np.testing.assert_array_equal(bunch.data, numeric.astype(float))
    if label is None:
        assert "target" not in bunch
    else:
        np.testing.assert_array_equal(np.bincount(bunch.target), sizes)
        np.testing.assert_array_equal(np.array(bunch.target_names)[bunch.target], table[:, label])
    assert bunch.DESCR


def test_frame_has_the_features_and_the_class():
    pytest.importorskip("pandas")
    frame = datasets.load_iris(as_frame=True).frame
    assert list(frame.columns) == [*datasets.load_iris().feature_names, "Species"]
    np.testing.assert_array_equal(frame["Species"].to_numpy(), datasets.load_iris().target)
    assert datasets.load_iris().frame is None
