"""Bundled loaders follow scikit-learn's ``as_frame`` convention exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from gaussmix.datasets import _as_bunch, load_old_faithful


def test_old_faithful_as_arrays():
    bunch = load_old_faithful()
    assert isinstance(bunch.data, np.ndarray)
    assert bunch.data.shape == (272, 2)
    assert bunch.feature_names == ["eruptions", "waiting"]
    assert bunch.frame is None
    # The first and last eruptions of R's datasets::faithful.
    np.testing.assert_array_equal(bunch.data[[0, -1]], [[3.6, 79.0], [4.467, 74.0]])


def test_old_faithful_as_frame_is_a_dataframe():
    arrays = load_old_faithful()
    bunch = load_old_faithful(as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame)
    assert list(bunch.data.columns) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(bunch.data.to_numpy(), arrays.data)
    # No target: the whole frame is the data.
    pd.testing.assert_frame_equal(bunch.frame, bunch.data)
    assert "target" not in bunch
    assert bunch.DESCR == arrays.DESCR


@pytest.mark.parametrize("as_frame", [False, True])
def test_the_shared_helper_lays_a_target_out_as_scikit_learn_does(as_frame):
    reference = load_iris(as_frame=as_frame)
    arrays = load_iris()
    bunch = _as_bunch(
        arrays.data,
        arrays.feature_names,
        as_frame=as_frame,
        descr="iris",
        target=arrays.target,
        target_names=arrays.target_names,
    )
    assert set(bunch) >= {"data", "target", "frame", "feature_names", "target_names", "DESCR"}
    if as_frame:
        pd.testing.assert_frame_equal(bunch.data, reference.data)
        pd.testing.assert_series_equal(bunch.target, reference.target)
        pd.testing.assert_frame_equal(bunch.frame, reference.frame)
    else:
        np.testing.assert_array_equal(bunch.data, reference.data)
        np.testing.assert_array_equal(bunch.target, reference.target)
        assert bunch.frame is None and reference.frame is None
    assert bunch.feature_names == list(reference.feature_names)
