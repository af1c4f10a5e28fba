"""Classifier files: MixtureDiscriminantAnalysis.save/load round trips and refused files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import gaussmix
from gaussmix import GaussianMixture, MixtureDiscriminantAnalysis
from gaussmix.exceptions import ModelFileError
from gaussmix.files.classifier_file import read_classifier_record, write_classifier_record


def _data(labels=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(3 * k, 1 + 0.3 * k, (30, 2)) for k in range(3)])
    return X, np.repeat(np.array(labels), 30)


@pytest.mark.parametrize("covariance_type", ["EII", "EEE", "VVV", "diag", "tied", "VEV"])
def test_edda_round_trip_predicts_the_same(tmp_path, covariance_type):
    X, y = _data()
    fitted = MixtureDiscriminantAnalysis(model_type="edda", covariance_type=covariance_type)
    fitted.fit(X, y)
    loaded = MixtureDiscriminantAnalysis.load(fitted.save(tmp_path / "c.gmc"))
    X_new = np.random.default_rng(1).normal(3, 4, (40, 2))
    np.testing.assert_array_equal(loaded.predict_log_proba(X_new), fitted.predict_log_proba(X_new))
    np.testing.assert_array_equal(loaded.predict(X_new), fitted.predict(X_new))
    for name in ("classes_", "priors_", "class_weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(fitted, name))
    for name in ("log_likelihood_", "bic_", "n_parameters_", "covariance_type_", "criteria_"):
        assert getattr(loaded, name) == getattr(fitted, name)
    assert loaded.get_params() == fitted.get_params()


@pytest.mark.parametrize("labels", [(0, 1, 2), ("x", "y", "z"), (-3, 5, 7)])
def test_mixture_round_trip_with_names_priors_and_label_types(tmp_path, labels):
    X, y = _data(labels)
    frame = pd.DataFrame(X, columns=["u", "v"])
    fitted = MixtureDiscriminantAnalysis(
        n_components=(1, 2), covariance_types=("VVV", "EII"), priors=[0.2, 0.3, 0.5]
    ).fit(frame, y)
    loaded = MixtureDiscriminantAnalysis.load(fitted.save(tmp_path / "c.gmc"))
    assert loaded.classes_.dtype == fitted.classes_.dtype
    assert loaded.feature_names_in_.tolist() == ["u", "v"]
    np.testing.assert_array_equal(loaded.predict_proba(frame), fitted.predict_proba(frame))
    np.testing.assert_array_equal(loaded.predict(frame), fitted.predict(frame))
    assert [e.n_components for e in loaded.estimators_] == [
        e.n_components for e in fitted.estimators_
    ]
    assert loaded.n_parameters_ == fitted.n_parameters_


def test_unfitted_classifier_cannot_be_saved(tmp_path):
    with pytest.raises(ModelFileError, match="fitted classifier"):
        MixtureDiscriminantAnalysis().save(tmp_path / "c.gmc")


def test_mixture_and_classifier_files_are_not_mistaken_for_each_other(tmp_path):
    X, y = _data()
    classifier = MixtureDiscriminantAnalysis(model_type="edda").fit(X, y)
    classifier_path = classifier.save(tmp_path / "c.gmc")
    mixture_path = GaussianMixture(2, random_state=0).fit(X).save(tmp_path / "m.gmm")
    with pytest.raises(ModelFileError, match="is a mixture model file"):
        MixtureDiscriminantAnalysis.load(mixture_path)
    with pytest.raises(ModelFileError, match="header of another format"):
        gaussmix.load(classifier_path)


def test_modified_file_is_refused(tmp_path):
    X, y = _data()
    path = MixtureDiscriminantAnalysis(model_type="edda").fit(X, y).save(tmp_path / "c.gmc")
    content = bytearray(path.read_bytes())
    content[-3] ^= 0xFF  # a byte of the last array
    path.write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match="checksum"):
        MixtureDiscriminantAnalysis.load(path)


def _rewritten(tmp_path, **changes):
    """A correctly signed file whose record was changed (what a careless writer makes)."""
    X, y = _data()
    path = MixtureDiscriminantAnalysis(n_components=(1, 2), covariance_types="VVV").fit(X, y)
    path = path.save(tmp_path / "c.gmc")
    record, _ = read_classifier_record(path)
    return write_classifier_record(dataclasses.replace(record, **changes), tmp_path / "bad.gmc")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arrays": {"priors_": np.full(3, 0.5), "class_weights_": np.full(3, 1 / 3)}}, "sum to 1"),
        ({"classes": np.array(["a", "b"])}, "for 2 classes"),
        ({"classes": np.array(["a", "a", "c"])}, "distinct"),
        ({"model_type": "edda"}, r"3 mixtures for 3 edda classes \(expected 1\)"),
        ({"model_type": "qda"}, "model_type 'qda'"),
    ],
)
def test_inconsistent_files_are_refused(tmp_path, changes, message):
    path = _rewritten(tmp_path, **changes)
    with pytest.raises(ModelFileError, match=message):
        MixtureDiscriminantAnalysis.load(path)


def test_class_model_that_is_no_valid_mixture_is_refused(tmp_path):
    X, y = _data()
    path = MixtureDiscriminantAnalysis(n_components=1, covariance_types="VVV").fit(X, y)
    record, _ = read_classifier_record(path.save(tmp_path / "c.gmc"))
    first = record.mixtures[0]
    broken = dict(first.arrays)
    broken["means_"] = np.full_like(broken["means_"], np.nan)
    mixtures = (dataclasses.replace(first, arrays=broken), *record.mixtures[1:])
    bad = write_classifier_record(dataclasses.replace(record, mixtures=mixtures), tmp_path / "b")
    with pytest.raises(ModelFileError, match=r"valid mixture|finite"):
        MixtureDiscriminantAnalysis.load(bad)
