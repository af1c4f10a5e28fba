"""ModelRecord: record → file → record is the identity, files of earlier versions load, and the
one list of fitted attributes is the estimator's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

import gaussmix
from gaussmix import GaussianMixture, ModelFileError
from gaussmix.datasets import load_old_faithful
from gaussmix.files.model_file import read_record, write_record
from gaussmix.files.record import FITTED_ARRAYS, FITTED_ATTRIBUTES, ModelRecord
from gaussmix.persistence import estimator_from_record, record_of

OLD_FILES = Path(__file__).parent / "data" / "model_files"


@pytest.fixture(scope="module")
def faithful():
    return load_old_faithful(as_frame=True).frame


def _record(faithful, **settings) -> ModelRecord:
    model = GaussianMixture(random_state=0, **settings).fit(faithful)
    return record_of(model, model.get_params(deep=False))


def _hand_made_record() -> ModelRecord:
    """A two-component diagonal mixture written down by hand, not by a fit."""
    variances = np.array([[1.0, 4.0], [0.25, 9.0]])
    return ModelRecord(
        covariance_model="VVI",
        settings={
            "n_components": 2,
            "covariance_type": "diag",
            "random_state": 3,
            "means_init": np.array([[0.0, 0.0], [5.0, 5.0]]),
        },
        arrays={
            "weights_": np.array([0.25, 0.75]),
            "means_": np.array([[0.0, 1.0], [5.0, 4.0]]),
            "covariances_": variances,
            "precisions_cholesky_": 1 / np.sqrt(variances),
            "precisions_": 1 / variances,
        },
        attributes={
            "n_iter_": 7,
            "converged_": True,
            "lower_bound_": -float("inf"),
            "feature_names_in_": ["a", "b"],
            "n_features_in_": 2,
        },
        dropped_settings=("callback",),
        standardization=(np.array([1.0, 2.0]), np.array([3.0, 4.0])),
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"n_components": 3, "covariance_type": "full"},
        {"n_components": 2, "covariance_type": "VEV", "means_init": [[2.0, 55.0], [4.3, 80.0]]},
        {"n_components": 2, "covariance_type": "spherical", "max_iter": 0},
    ],
)
def test_record_file_record_is_the_identity(tmp_path, faithful, settings):
    record = _record(faithful, **settings)
    read, header = read_record(write_record(record, tmp_path / "m.gmm"))
    assert read == record
    assert header["covariance_model"] == record.covariance_model
    # Equality looks at every value: a changed mean or a changed dtype is not equal.
    arrays = dict(record.arrays)
    arrays["means_"] = arrays["means_"] + np.array(
        [[0.0, 1e-12]] + [[0.0, 0.0]] * (arrays["means_"].shape[0] - 1)
    )
    assert ModelRecord(**{**vars(record), "arrays": arrays}) != record
    arrays["means_"] = record.arrays["means_"].astype(np.float32)
    assert ModelRecord(**{**vars(record), "arrays": arrays}) != record


def test_a_hand_made_record_round_trips_and_predicts_its_own_mixture(tmp_path):
    record = _hand_made_record()
    path = write_record(record, tmp_path / "hand.gmm")
    read, _ = read_record(path)
    assert read == record
    assert read.feature_names == ["a", "b"]
    model = gaussmix.load(path)
    # The density of a diagonal mixture, written here from its definition.
    X = np.array([[0.5, 1.5], [4.0, 6.0], [-2.0, 3.0]])
    weights, means = record.arrays["weights_"], record.arrays["means_"]
    variances = record.arrays["covariances_"]
    densities = np.exp(-0.5 * (((X[:, None, :] - means) ** 2) / variances).sum(-1)) / np.sqrt(
        np.prod(2 * np.pi * variances, axis=-1)
    )
    expected = np.log(densities @ weights)
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b"])
    np.testing.assert_allclose(model.score_samples(frame), expected, rtol=1e-12)
    assert model.get_params()["means_init"].tolist() == [[0.0, 0.0], [5.0, 5.0]]


def test_estimator_record_estimator_keeps_every_fitted_attribute(faithful):
    model = GaussianMixture(2, covariance_type="VVV", random_state=0).fit(faithful)
    rebuilt = estimator_from_record(
        record_of(model, model.get_params(deep=False)), GaussianMixture, "a record"
    )
    for name in FITTED_ATTRIBUTES:
        if hasattr(model, name):
            value, again = getattr(model, name), getattr(rebuilt, name)
            if name in FITTED_ARRAYS:
                assert again.dtype == value.dtype
            np.testing.assert_array_equal(again, value)


@pytest.mark.parametrize("covariance", ["full", "tied", "diag", "spherical", "EEV", "VII"])
def test_the_fitted_attribute_list_is_the_estimators(faithful, covariance):
    """Every public fitted attribute a fit sets is in FITTED_ATTRIBUTES (so files keep it)."""
    model = GaussianMixture(2, covariance_type=covariance, random_state=0).fit(faithful)
    fitted = {name for name in vars(model) if name.endswith("_") and not name.startswith("_")}
    assert fitted <= set(FITTED_ATTRIBUTES), sorted(fitted - set(FITTED_ATTRIBUTES))
    # A DataFrame fit with n_samples known sets every listed attribute (a noise fit adds
    # its two).
    assert fitted | {"Vinv_", "noise_proportion_"} == set(FITTED_ATTRIBUTES)


def test_an_unfitted_estimator_has_no_record():
    model = GaussianMixture(2)
    with pytest.raises(ModelFileError, match="fitted"):
        record_of(model, model.get_params(deep=False))


def test_a_wrong_standardization_is_refused_with_the_expected_shape(faithful):
    model = GaussianMixture(2, random_state=0).fit(faithful)
    with pytest.raises(ModelFileError, match="length n_features = 2"):
        record_of(model, model.get_params(deep=False), standardization=([1.0], [2.0]))


# ------------------------------------------------------------------- files of earlier gaussmix
EXPECTED = json.loads((OLD_FILES / "expected.json").read_text())


def _stored(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and arrays read with safetensors directly, not through gaussmix."""
    with safe_open(str(path), framework="numpy") as opened:
        header = json.loads(opened.metadata()["gaussmix"])
        arrays = {name: opened.get_tensor(name) for name in opened.keys()}
    return header, arrays


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_files_written_by_earlier_gaussmix_load_and_predict_as_they_did(faithful, name):
    """Files of format 1 written before the record existed (one before n_samples_fit_)."""
    path = OLD_FILES / name
    expected = EXPECTED[name]
    model = gaussmix.load(path)
    header, arrays = _stored(path)
    for array_name, array in arrays.items():
        if not array_name.startswith("param."):
            np.testing.assert_array_equal(getattr(model, array_name), array)
    fitted = sorted(k for k in vars(model) if k.endswith("_") and not k.startswith("_"))
    assert fitted == expected["attributes"]
    assert model.get_params()["covariance_type"] == header["parameters"]["covariance_type"]
    rows = faithful.iloc[::17]
    assert model.predict(rows).tolist() == expected["predict"]
    # The predictions were recorded by the gaussmix that wrote the file; kernels may round
    # the last bits differently since.
    np.testing.assert_allclose(model.predict_proba(rows), expected["predict_proba"], atol=1e-12)
    np.testing.assert_allclose(model.score_samples(rows), expected["score_samples"], rtol=1e-12)
    # And the current writer stores the same header and arrays back (version aside).
    record, _ = read_record(path)
    assert record.gaussmix_version == header["gaussmix_version"]
    assert (
        record.standardization is None
        or list(record.standardization[0]) == (header["standardization"]["centre"])
    )


def test_an_old_file_saves_back_to_the_same_record(tmp_path):
    path = OLD_FILES / "model_v1_VEV_means_init.gmm"
    model = gaussmix.load(path)
    again, _ = read_record(gaussmix.save(model, tmp_path / "again.gmm"))
    first, _ = read_record(path)
    assert again == first
