"""Model files from strangers: random, truncated, damaged and hostile files fail cleanly.

Every case either loads a model whose predictions equal the saved one's (possible only when
the damage left the meaning of the file intact, e.g. a flipped padding space) or raises
``gaussmix.ModelFileError`` naming the file. Memory is bounded structurally: hostile loads
run under ``tracemalloc`` and, once, in a subprocess under an address-space limit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as save_safetensors

import gaussmix
from gaussmix import GaussianMixture, ModelFileError
from gaussmix.datasets import load_old_faithful

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A hostile load may hold the file itself and small copies of it, nothing near this.
PEAK_BYTES = 50 * 2**20


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data():
    return load_old_faithful(as_frame=False).data


@pytest.fixture(scope="module")
def original(data):
    return GaussianMixture(2, covariance_type="full", random_state=0).fit(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def valid_bytes(original, folder):
    return gaussmix.save(original, folder / "valid.gmm").read_bytes()


@pytest.fixture(scope="module")
def contents(valid_bytes):
    """The valid file's gaussmix header and arrays, parsed here without gaussmix.io."""
    length = int.from_bytes(valid_bytes[:8], "little")
    table = json.loads(valid_bytes[8 : 8 + length])
    header = json.loads(table.pop("__metadata__")["gaussmix"])
    data_start = 8 + length
    dtypes = {"F64": "<f8", "F32": "<f4", "I64": "<i8"}
    arrays = {}
    for name, spec in table.items():
        begin, end = spec["data_offsets"]
        raw = valid_bytes[data_start + begin : data_start + end]
        arrays[name] = np.frombuffer(raw, dtype=dtypes[spec["dtype"]]).reshape(spec["shape"])
    return header, arrays


# --------------------------------------------------------------------------- helpers
def _signed(header: dict, arrays: dict[str, np.ndarray]) -> dict:
    """``header`` with the checksum docs/model-format.md defines, so only later checks object."""
    digest = hashlib.sha256()
    unsigned = {key: value for key, value in header.items() if key != "checksum"}
    digest.update(json.dumps(unsigned, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return {**header, "checksum": "sha256:" + digest.hexdigest()}


def _file(header: dict, arrays: dict[str, np.ndarray], *, resign: bool = True) -> bytes:
    if resign:
        header = _signed(header, arrays)
    return save_safetensors(arrays, metadata={"gaussmix": json.dumps(header, sort_keys=True)})


def _raw_safetensors(table: object, data: bytes, *, declared: int | None = None) -> bytes:
    """A safetensors layout with an arbitrary JSON table and header length field."""
    text = table if isinstance(table, bytes) else json.dumps(table).encode()
    length = len(text) if declared is None else declared
    return struct.pack("<Q", length % 2**64) + text + data


def _check_outcome(path: Path, payload: bytes, original, data) -> str:
    """Load ``payload``: a model predicting exactly like ``original``, or a ModelFileError."""
    path.write_bytes(payload)
    try:
        loaded = gaussmix.load(path)
    except ModelFileError as error:
        message = str(error)
        assert isinstance(error, ValueError)
        assert str(path) in message, message
        return "refused"
    np.testing.assert_array_equal(loaded.score_samples(data), original.score_samples(data))
    np.testing.assert_array_equal(loaded.predict(data), original.predict(data))
    return "loaded"


# --------------------------------------------------------------------------- byte-level fuzz
@FUZZ
@given(payload=st.binary(max_size=300))
def test_random_bytes_are_refused(folder, original, data, payload):
    assert _check_outcome(folder / "random.gmm", payload, original, data) == "refused"


@FUZZ
@given(
    declared=st.one_of(st.integers(0, 400), st.integers(0, 2**64 - 1), st.just(2**63)),
    body=st.binary(max_size=300),
)
def test_random_bytes_with_a_safetensors_prefix_are_refused(folder, original, data, declared, body):
    payload = struct.pack("<Q", declared) + b"{" + body
    assert _check_outcome(folder / "prefixed.gmm", payload, original, data) == "refused"


@FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_truncated_files_are_refused(folder, original, data, valid_bytes, fraction):
    keep = int(fraction * len(valid_bytes))
    payload = valid_bytes[:keep]
    assert _check_outcome(folder / "truncated.gmm", payload, original, data) == "refused"


@FUZZ
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.floats(0, 1, exclude_max=True),
            st.binary(min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_damaged_files_load_unchanged_or_are_refused(folder, original, data, valid_bytes, edits):
    payload = bytearray(valid_bytes)
    for kind, where, chunk in edits:
        at = int(where * len(payload))
        if kind == "flip":
            payload[at] ^= chunk[0] or 0xFF
        elif kind == "insert":
            payload[at:at] = chunk
        else:
            del payload[at : at + len(chunk)]
    # A change that keeps the meaning (a padding space turned into a tab) may load.
    _check_outcome(folder / "damaged.gmm", bytes(payload), original, data)


# --------------------------------------------------------------------------- hostile tables
HOSTILE_NUMBERS = st.one_of(
    st.integers(-(2**64), 2**64),
    st.sampled_from([2**40, 2**63, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)


@FUZZ
@given(
    dtype=st.sampled_from(
        ["F64", "F32", "F16", "BF16", "F8_E4M3", "I64", "U8", "BOOL", "C64", "X"]
    ),
    shape=st.one_of(
        st.lists(st.sampled_from([0, 1, 2, 3, 2**40, 2**62, -1, -(2**40)]), max_size=4),
        st.lists(HOSTILE_NUMBERS, max_size=3),
        HOSTILE_NUMBERS,
    ),
    offsets=st.one_of(
        st.tuples(st.integers(-10, 60), st.integers(-10, 60)).map(list),
        st.lists(HOSTILE_NUMBERS, max_size=3),
    ),
    second_offsets=st.tuples(st.integers(0, 60), st.integers(0, 60)).map(list),
    declared=st.one_of(st.none(), st.integers(0, 2**64 - 1), st.just(2**63)),
)
def test_hostile_safetensors_tables_are_refused(
    folder, original, data, contents, dtype, shape, offsets, second_offsets, declared
):
    header, _ = contents
    table = {
        "__metadata__": {"gaussmix": json.dumps(header)},
        "weights_": {"dtype": dtype, "shape": shape, "data_offsets": offsets},
        "means_": {"dtype": "F64", "shape": [2], "data_offsets": second_offsets},
    }
    payload = _raw_safetensors(table, bytes(48), declared=declared)
    tracemalloc.start()
    try:
        outcome = _check_outcome(folder / "table.gmm", payload, original, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome == "refused"
    assert peak < PEAK_BYTES


# Paths into the gaussmix header, and values no valid file has there.
HEADER_PATHS = [
    ("format",),
    ("format_version",),
    ("covariance_model",),
    ("n_components",),
    ("n_features",),
    ("parameters",),
    ("parameters", "n_components"),
    ("parameters", "covariance_type"),
    ("parameters", "tol"),
    ("parameters", "max_iter"),
    ("parameters", "reg_covar"),
    ("parameters", "callback"),
    ("array_parameters",),
    ("attributes",),
    ("attributes", "n_features_in_"),
    ("attributes", "feature_names_in_"),
    ("attributes", "converged_"),
    ("attributes", "n_iter_"),
    ("attributes", "lower_bounds_"),
    ("attributes", "log_likelihood_"),
    ("attributes", "__class__"),
    ("attributes", "fit"),
    ("attributes", "predict"),
    ("attributes", "__dict__"),
    ("attributes", "weights_"),
    ("attributes", "unknown_"),
    ("arrays",),
    ("arrays", "weights_"),
    ("arrays", "weights_", "shape"),
    ("standardization",),
]
JSON_VALUES = st.recursive(
    st.one_of(HOSTILE_NUMBERS, st.sampled_from(["VVV", "XYZ", "full", "__init__"])),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


def _set(header: dict, path: tuple[str, ...], value: object) -> dict:
    edited = json.loads(json.dumps(header))
    target = edited
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    return edited


@FUZZ
@given(path=st.sampled_from(HEADER_PATHS), value=JSON_VALUES)
def test_resigned_hostile_headers_load_unchanged_or_are_refused(
    folder, original, data, contents, path, value
):
    header, arrays = contents
    payload = _file(_set(header, path, value), arrays)
    # Fields load does not use (n_iter_, tol...) may hold any valid value and still load.
    _check_outcome(folder / "header.gmm", payload, original, data)


@FUZZ
@given(
    name=st.sampled_from(["weights_", "means_", "covariances_", "precisions_cholesky_"]),
    index=st.integers(0, 7),
    value=st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e308, -1e-300, 7.0]),
)
def test_resigned_hostile_parameters_are_refused(
    folder, original, data, contents, name, index, value
):
    header, arrays = contents
    edited = {key: array.copy() for key, array in arrays.items()}
    flat = edited[name].reshape(-1)
    index %= flat.size
    flat[index] = value
    # In the (2, 2, 2) covariance and Cholesky factor arrays, flat 0, 3, 4, 7 are diagonals.
    diagonal = index in (0, 3, 4, 7)
    invalid = (
        not math.isfinite(value)
        or (name == "weights_" and value != arrays["weights_"][index])
        or (name == "covariances_" and (value <= 0 if diagonal else index in (1, 5)))
        or (name == "precisions_cholesky_" and diagonal and value <= 0)
    )
    path = folder / "params.gmm"
    path.write_bytes(_file(header, edited))
    if invalid:
        with pytest.raises(ModelFileError, match="must describe a valid mixture"):
            gaussmix.load(path)
        return
    # A valid change (a finite mean, a larger variance) loads exactly what was written.
    try:
        loaded = gaussmix.load(path)
    except ModelFileError as error:
        assert str(path) in str(error)
        return
    np.testing.assert_array_equal(getattr(loaded, name), edited[name])


# --------------------------------------------------------------------------- named hostile files
def _listed(header: dict, name: str) -> dict:
    """``header`` whose table of arrays also lists ``name`` as two float64 numbers."""
    return _set(header, ("arrays", name), {"dtype": "<f8", "shape": [2]})


def _hostile_files(header: dict, arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Hand-made attacks, each one thing a stranger's file could do."""
    deep = "[" * 100_000 + "]" * 100_000
    swapped = {key: array.copy() for key, array in arrays.items()}
    swapped["covariances_"][0] = -swapped["covariances_"][0]
    heavy = {key: array.copy() for key, array in arrays.items()}
    heavy["weights_"] = heavy["weights_"] * 3
    metadata = {"gaussmix": json.dumps(header)}
    return {
        "huge shape": _raw_safetensors(
            {
                "__metadata__": metadata,
                "weights_": {"dtype": "F64", "shape": [2**40, 2**40], "data_offsets": [0, 16]},
            },
            bytes(16),
        ),
        "huge shape with a zero": _raw_safetensors(
            {"weights_": {"dtype": "F64", "shape": [2**62, 0], "data_offsets": [0, 0]}}, b""
        ),
        "negative shape": _raw_safetensors(
            {"weights_": {"dtype": "F64", "shape": [-2], "data_offsets": [0, 16]}}, bytes(16)
        ),
        "overlapping offsets": _raw_safetensors(
            {
                "weights_": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
                "means_": {"dtype": "F64", "shape": [2], "data_offsets": [8, 24]},
            },
            bytes(24),
        ),
        "offsets past the end": _raw_safetensors(
            {"weights_": {"dtype": "F64", "shape": [2**30], "data_offsets": [0, 2**33]}},
            bytes(16),
        ),
        "header length 2**63": _raw_safetensors({"__metadata__": metadata}, b"", declared=2**63),
        "header length past the end": _raw_safetensors(
            {"__metadata__": metadata}, b"", declared=10**6
        ),
        "deeply nested table": _raw_safetensors(b'{"x": ' + deep.encode() + b"}", b""),
        "non-UTF-8 table": _raw_safetensors(b'{"\xff\xfe": 1}', b""),
        "deeply nested gaussmix header": save_safetensors(arrays, metadata={"gaussmix": deep}),
        "integer of 100000 digits": save_safetensors(
            arrays,
            metadata={"gaussmix": '{"format": "gaussmix-model", "n": ' + "9" * 100_000 + "}"},
        ),
        "newer format version": _file({**header, "format_version": 99}, arrays),
        "unknown covariance model": _file({**header, "covariance_model": "QQQ"}, arrays),
        "claims other shapes": _file({**header, "n_components": 5, "n_features": 7}, arrays),
        "huge n_components": _file(
            _set({**header, "n_components": 2**40}, ("parameters", "n_components"), 2**40),
            arrays,
        ),
        "NaN tolerance": _file(_set(header, ("parameters", "tol"), math.nan), arrays),
        "weights sum to three": _file(header, heavy),
        "not positive definite": _file(header, swapped),
        "attribute __class__": _file(_set(header, ("attributes", "__class__"), "x"), arrays),
        "attribute fit": _file(_set(header, ("attributes", "fit"), 1), arrays),
        "unknown attribute": _file(_set(header, ("attributes", "planted_"), 1), arrays),
        "unknown array": _file(_listed(header, "planted_"), {**arrays, "planted_": np.ones(2)}),
        "stray parameter array": _file(
            _listed(header, "param.tol"), {**arrays, "param.tol": np.ones(2)}
        ),
        "checksum not re-signed": _file({**header, "n_iter_": 3}, arrays, resign=False),
    }


@pytest.fixture(scope="module")
def hostile(contents):
    return _hostile_files(*contents)


# The case names only; the fixture builds the files from the real model.
HOSTILE_NAMES = list(_hostile_files({}, {"weights_": np.ones(2), "covariances_": np.ones((2, 2))}))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_named_hostile_files_are_refused_within_bounded_memory(
    folder, original, data, hostile, name
):
    path = folder / "hostile.gmm"
    tracemalloc.start()
    try:
        outcome = _check_outcome(path, hostile[name], original, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome == "refused"
    assert peak < PEAK_BYTES + 2 * len(hostile[name])


LIMITED_LOADER = """
import json, resource, sys
import gaussmix

gaussmix.load(sys.argv[1])  # imports and thread pools before the limit
with open("/proc/self/statm") as handle:
    in_use = int(handle.read().split()[0]) * resource.getpagesize()
limit = in_use + 256 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
outcomes = {}
for path in sys.argv[2:]:
    try:
        gaussmix.load(path)
        outcomes[path] = "loaded"
    except Exception as error:
        outcomes[path] = type(error).__name__
print(json.dumps(outcomes))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
def test_hostile_files_are_refused_under_an_address_space_limit(folder, hostile):
    """Native code (the safetensors parser) is invisible to tracemalloc; RLIMIT_AS is not."""
    paths = []
    for index, payload in enumerate(hostile.values()):
        path = folder / f"limited-{index}.gmm"
        path.write_bytes(payload)
        paths.append(str(path))
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", LIMITED_LOADER, str(folder / "valid.gmm"), *paths],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=True,
    )
    outcomes = json.loads(completed.stdout)
    assert outcomes == dict.fromkeys(paths, "ModelFileError")
