"""Model files: exact round trips, and clear errors on every kind of damaged or foreign file."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save as save_safetensors

import gaussmix
import gaussmix.files.atomic
from gaussmix import GaussianMixture, ModelFileError
from gaussmix.covariance import MCLUST_MODELS
from gaussmix.datasets import load_old_faithful

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def faithful():
    return load_old_faithful(as_frame=True).frame


@pytest.fixture(scope="module")
def fitted(faithful):
    return {
        covariance: GaussianMixture(3, covariance_type=covariance, random_state=0).fit(faithful)
        for covariance in COVARIANCE_TYPES
    }


def _contents(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with safe_open(str(path), framework="numpy") as opened:
        header = json.loads(opened.metadata()["gaussmix"])
        arrays = {name: opened.get_tensor(name) for name in opened.keys()}
    return header, arrays


def _documented_checksum(header: dict, arrays: dict[str, np.ndarray]) -> str:
    """The checksum as docs/model-format.md defines it, written independently of gaussmix.io."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps({k: v for k, v in header.items() if k != "checksum"}, sort_keys=True).encode()
    )
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()


def _rewrite(path: Path, header: dict, arrays: dict[str, np.ndarray], *, resign: bool = True):
    """Write a file with edited contents, re-signed so that only the later checks can object."""
    if resign:
        header = {**header, "checksum": _documented_checksum(header, arrays)}
    path.write_bytes(
        save_safetensors(arrays, metadata={"gaussmix": json.dumps(header, sort_keys=True)})
    )


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_round_trip_gives_identical_predictions(tmp_path, faithful, fitted, covariance):
    model = fitted[covariance]
    path = gaussmix.save(model, tmp_path / "model.gmm")
    loaded = gaussmix.load(path)
    np.testing.assert_array_equal(loaded.predict(faithful), model.predict(faithful))
    np.testing.assert_array_equal(loaded.predict_proba(faithful), model.predict_proba(faithful))
    np.testing.assert_array_equal(loaded.score_samples(faithful), model.score_samples(faithful))
    assert loaded.score(faithful) == model.score(faithful)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.get_params() == model.get_params()
    assert list(loaded.feature_names_in_) == ["eruptions", "waiting"]
    assert (loaded.converged_, loaded.n_iter_) == (model.converged_, model.n_iter_)
    # Sampling depends only on parameters and random_state, both restored.
    np.testing.assert_array_equal(loaded.sample(50)[0], model.sample(50)[0])


def test_method_forms_and_header(tmp_path, faithful, fitted):
    model = fitted["diag"]
    model.save(tmp_path / "m.gmm", standardization=([1.0, 2.0], [3.0, 4.0]))
    stored = gaussmix.io.read_model_file(tmp_path / "m.gmm")
    np.testing.assert_array_equal(GaussianMixture.load(tmp_path / "m.gmm").means_, model.means_)
    header = stored.header
    assert header["format_version"] == gaussmix.io.FORMAT_VERSION
    assert header["gaussmix_version"] == gaussmix.__version__
    assert (header["covariance_model"], header["n_components"], header["n_features"]) == (
        "VVI",
        3,
        2,
    )
    assert header["feature_names"] == ["eruptions", "waiting"]
    assert header["dtype"] == "float64"
    assert header["fit"]["log_likelihood"] == model.log_likelihood_
    centre, scale = stored.standardization
    np.testing.assert_array_equal(centre, [1.0, 2.0])
    np.testing.assert_array_equal(scale, [3.0, 4.0])


def test_array_parameters_are_restored(tmp_path, faithful):
    means = np.array([[2.0, 55.0], [4.3, 80.0]])
    model = GaussianMixture(2, means_init=means, random_state=1).fit(faithful)
    loaded = gaussmix.load(gaussmix.save(model, tmp_path / "m.gmm"))
    np.testing.assert_array_equal(loaded.means_init, means)


def test_pickle_of_the_estimator_still_works(fitted, faithful):
    model = fitted["full"]
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(model)).predict(faithful), model.predict(faithful)
    )


def test_unfitted_model_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ModelFileError, match="fitted"):
        gaussmix.save(GaussianMixture(2), tmp_path / "m.gmm")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("keep", [0, 5, 8, 100, -1])
def test_truncated_file(tmp_path, fitted, keep):
    path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(ModelFileError, match="safetensors"):
        gaussmix.load(path)


def test_flipped_byte_in_the_arrays(tmp_path, fitted):
    path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        gaussmix.load(path)


def test_flipped_byte_in_the_header_text(tmp_path, fitted):
    path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    data = path.read_bytes()
    # Change a digit of the stored log-likelihood: still valid JSON, different content.
    position = data.index(b"log_likelihood") + 40
    digit = next(i for i in range(position, position + 60) if chr(data[i]).isdigit())
    edited = data[:digit] + (b"1" if data[digit : digit + 1] != b"1" else b"2") + data[digit + 1 :]
    path.write_bytes(edited)
    with pytest.raises(ModelFileError, match="checksum"):
        gaussmix.load(path)


def test_header_that_claims_other_shapes(tmp_path, fitted):
    path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    header, arrays = _contents(path)
    _rewrite(path, {**header, "n_components": 4}, arrays)
    with pytest.raises(ModelFileError, match="n_components = 4"):
        gaussmix.load(path)


def test_hostile_safetensors_shape_is_refused_without_allocating(tmp_path):
    path = tmp_path / "huge.gmm"
    data = save_safetensors({"weights_": np.ones(2)}, metadata={"gaussmix": "{}"})
    length = int.from_bytes(data[:8], "little")
    text = data[8 : 8 + length].replace(b'"shape":[2]', b'"shape":[2000000000000]')
    text += b" " * (length - len(text))
    path.write_bytes(data[:8] + text[:length] + data[8 + length :])
    with pytest.raises(ModelFileError, match="safetensors"):
        gaussmix.load(path)


def test_pickle_renamed_to_model_suffix_runs_nothing(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.gmm"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelFileError, match="pickle"):
        gaussmix.load(path)
    assert not marker.exists()
    # The payload is live: unpickling it does create the marker.
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_foreign_files(tmp_path):
    npz = tmp_path / "a.gmm"
    np.savez(npz, a=np.ones(3))
    (tmp_path / "a.gmm.npz").rename(npz)
    with pytest.raises(ModelFileError, match="zip"):
        gaussmix.load(npz)
    other = tmp_path / "b.gmm"
    other.write_bytes(save_safetensors({"w": np.ones(2)}))
    with pytest.raises(ModelFileError, match="no gaussmix header"):
        gaussmix.load(other)
    with pytest.raises(ModelFileError, match="must exist"):
        gaussmix.load(tmp_path / "missing.gmm")


def test_newer_format_version(tmp_path, fitted):
    path = gaussmix.save(fitted["tied"], tmp_path / "m.gmm")
    header, arrays = _contents(path)
    _rewrite(path, {**header, "format_version": gaussmix.io.FORMAT_VERSION + 1}, arrays)
    with pytest.raises(ModelFileError, match="Upgrade gaussmix"):
        gaussmix.load(path)


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("weights_", lambda w: w * 0.5, "probability vector"),
        (
            "means_",
            lambda m: np.where(np.arange(m.size).reshape(m.shape) == 0, np.nan, m),
            "non-finite",
        ),
        ("covariances_", lambda c: -c, "positive definite"),
    ],
)
def test_invalid_mixture_with_valid_checksum(tmp_path, fitted, name, damage, message):
    path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    header, arrays = _contents(path)
    arrays[name] = damage(arrays[name])
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match=message):
        gaussmix.load(path)


@pytest.mark.parametrize("covariance", COVARIANCE_TYPES)
def test_covariances_that_disagree_with_the_precision_factors(tmp_path, fitted, covariance):
    """A file whose covariances and precision factors describe different models is refused."""
    path = gaussmix.save(fitted[covariance], tmp_path / "m.gmm")
    header, arrays = _contents(path)
    _rewrite(path, header, arrays)
    gaussmix.load(path)  # re-signed but unchanged: loads
    arrays["covariances_"] = arrays["covariances_"] * 1.01
    _rewrite(path, header, arrays)
    with pytest.raises(ModelFileError, match="do not match its covariances"):
        gaussmix.load(path)


def test_checksum_is_the_documented_one(tmp_path, fitted):
    path = gaussmix.save(fitted["spherical"], tmp_path / "m.gmm")
    header, arrays = _contents(path)
    assert header["checksum"] == _documented_checksum(header, arrays)


def test_interrupted_save_keeps_the_existing_file(tmp_path, faithful, fitted, monkeypatch):
    path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    before = path.read_bytes()

    def fail(descriptor):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(gaussmix.files.atomic.os, "fsync", fail)
    with pytest.raises(ModelFileError, match="simulated"):
        gaussmix.save(fitted["diag"], path)
    assert path.read_bytes() == before
    assert [entry.name for entry in tmp_path.iterdir()] == ["m.gmm"]
    np.testing.assert_array_equal(
        gaussmix.load(path).predict(faithful), fitted["full"].predict(faithful)
    )


def test_saved_file_gets_the_usual_permissions(tmp_path, fitted):
    import os

    mask = os.umask(0o022)
    try:
        path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_missing_safetensors_names_the_extra(tmp_path, fitted, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'gaussmix\[io\]'"):
        gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda header: {**header, "arrays": ["weights_"]},
        lambda header: {**header, "attributes": {**header["attributes"], "predict": "x"}},
        lambda header: {**header, "parameters": {**header["parameters"], "n_components": "two"}},
        lambda header: {**header, "covariance_model": "XYZ"},
    ],
)
def test_handwritten_headers_with_valid_checksum(tmp_path, fitted, edit):
    path = gaussmix.save(fitted["full"], tmp_path / "m.gmm")
    header, arrays = _contents(path)
    _rewrite(path, edit(header), arrays)
    with pytest.raises(ModelFileError):
        gaussmix.load(path)


def test_a_header_length_whose_low_byte_is_the_pickle_opcode_still_loads(tmp_path):
    # safetensors files begin with the header length; when its low byte is 0x80 the file
    # starts like a pickle byte, and it must still load (found when a header hit 0x..80).
    import pandas as pd

    X = np.random.default_rng(3).normal(size=(60, 2))
    path = tmp_path / "m.gmm"
    for length in range(1, 300):
        # Longer feature names lengthen the JSON header byte by byte.
        frame = pd.DataFrame(X, columns=["a" * length, "b"])
        model = GaussianMixture(2, random_state=0).fit(frame)
        gaussmix.save(model, path)
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    loaded = gaussmix.load(path)
    np.testing.assert_array_equal(loaded.means_, model.means_)
    assert list(loaded.feature_names_in_) == ["a" * length, "b"]


@pytest.mark.parametrize("covariance", MCLUST_MODELS)
def test_round_trip_of_every_mclust_model(tmp_path, faithful, covariance):
    model = GaussianMixture(2, covariance_type=covariance, random_state=0).fit(faithful)
    loaded = gaussmix.load(gaussmix.save(model, tmp_path / "model.gmm"))
    assert loaded.covariance_type == covariance
    np.testing.assert_array_equal(loaded.predict(faithful), model.predict(faithful))
    np.testing.assert_array_equal(loaded.predict_proba(faithful), model.predict_proba(faithful))
    np.testing.assert_array_equal(loaded.score_samples(faithful), model.score_samples(faithful))
    assert loaded.score(faithful) == model.score(faithful)
    assert loaded.icl(faithful) == model.icl(faithful)
    for name in (
        "weights_",
        "means_",
        "covariances_",
        "precisions_",
        "precisions_cholesky_",
        "volume_",
        "shape_",
        "orientation_",
    ):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    # Dense (K, D, D) arrays for every code, as fitted.
    assert loaded.covariances_.shape == (2, 2, 2)
    np.testing.assert_array_equal(loaded.sample(20)[0], model.sample(20)[0])
