"""Model files: a :class:`ModelRecord` as arrays plus a JSON header, with no code execution.

A model file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: an
8-byte header length, a JSON header describing every array (dtype, shape, byte range)
and the raw little-endian array bytes. gaussmix keeps its own JSON header, described in
``docs/model-format.md``, in the safetensors metadata under the key ``"gaussmix"``.
Reading parses JSON and copies bytes; it never unpickles, so an untrusted file cannot
run code. This module knows records, not estimators: :mod:`gaussmix.persistence` turns a
``GaussianMixture`` into a record and back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.exceptions import InvalidParameterError, ModelFileError
from gaussmix.files.atomic import atomic_write
from gaussmix.files.record import (
    FITTED_ARRAYS,
    FITTED_VALUES,
    FORMAT_NAME,
    FORMAT_VERSION,
    ModelRecord,
)

__all__ = ["checksum", "corrupt", "decode", "encode", "read_record", "reading", "write_record"]

_METADATA_KEY = "gaussmix"
_PARAMETER_PREFIX = "param."
# Tolerance on Σ π_k = 1: float32 fits round the weights at about 1e-7.
_WEIGHT_SUM_TOLERANCE = 1e-5
# Tolerance on Lᵀ Σ L = I for the stored precision factors L: a factor computed from its
# covariance is off by about cond(Σ)·ε, so this admits condition numbers up to ~1e11 (after
# the diagonal scaling, which the check is invariant to) and still rejects any factor that
# belongs to other covariances.
_FACTOR_TOLERANCE = 1e-4
# A pickle starts with the PROTO opcode 0x80; zip archives (.npz, some joblib dumps) with PK.
_PICKLE_MAGIC = b"\x80"
_ZIP_MAGIC = b"PK\x03\x04"
_CORE_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


# --------------------------------------------------------------------------- writing
def checksum(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the header (without its checksum) and of every array's name, type and bytes.

    Parameters
    ----------
    header : dict
        The gaussmix header; its ``"checksum"`` key, if any, is left out.
    arrays : dict of str to ndarray
        Every array of the file.

    Returns
    -------
    str
        ``"sha256:"`` and the hex digest, as ``docs/model-format.md`` defines it.
    """
    digest = hashlib.sha256()
    unsigned = {key: value for key, value in header.items() if key != "checksum"}
    digest.update(json.dumps(unsigned, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()


def _split_settings(
    settings: dict[str, Any],
) -> tuple[dict[str, Any], list[str], dict[str, np.ndarray]]:
    """JSON parameters, the names of array parameters, and those arrays (``param.<name>``)."""
    parameters: dict[str, Any] = {}
    array_parameters: list[str] = []
    arrays: dict[str, np.ndarray] = {}
    for name, value in sorted(settings.items()):
        if isinstance(value, np.ndarray):
            arrays[_PARAMETER_PREFIX + name] = np.ascontiguousarray(value, dtype=np.float64)
            array_parameters.append(name)
        else:
            parameters[name] = value
    return parameters, array_parameters, arrays


def encode(record: ModelRecord) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The gaussmix header and the arrays of the file that stores ``record``.

    Parameters
    ----------
    record : ModelRecord

    Returns
    -------
    header : dict
        The JSON header, checksum included.
    arrays : dict of str to ndarray
        The fitted arrays and the ``param.`` arrays, C-contiguous.
    """
    parameters, array_parameters, arrays = _split_settings(dict(record.settings))
    arrays.update({name: np.ascontiguousarray(a) for name, a in record.arrays.items()})
    attributes = dict(record.attributes)
    means = np.asarray(record.arrays["means_"])
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": record.format_version,
        "gaussmix_version": record.gaussmix_version,
        "estimator": record.estimator,
        "covariance_model": record.covariance_model,
        "n_components": int(means.shape[0]),
        "n_features": int(means.shape[1]),
        "feature_names": attributes.get("feature_names_in_"),
        "dtype": str(means.dtype),
        "fit": {
            "log_likelihood": attributes.get("log_likelihood_"),
            "lower_bound": attributes.get("lower_bound_"),
            "n_iter": attributes.get("n_iter_"),
            "converged": attributes.get("converged_"),
        },
        "parameters": parameters,
        "array_parameters": array_parameters,
        "dropped_parameters": list(record.dropped_settings),
        "attributes": attributes,
        "arrays": {
            name: {"dtype": array.dtype.str, "shape": list(array.shape)}
            for name, array in sorted(arrays.items())
        },
        "standardization": None,
    }
    if record.standardization is not None:
        centre, scale = record.standardization
        header["standardization"] = {"centre": centre.tolist(), "scale": scale.tolist()}
    header["checksum"] = checksum(header, arrays)
    return header, arrays


def write_record(record: ModelRecord, path: str | os.PathLike[str]) -> Path:
    """Write ``record`` to a model file, atomically.

    Parameters
    ----------
    record : ModelRecord
    path : str or path-like
        Destination; an existing file is replaced only once the new one is complete.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ModelFileError
        If the file cannot be written (the OS error is the ``__cause__``); nothing is
        written then, and an existing file is kept.
    ImportError
        If safetensors (the extra ``io``) is missing.
    """
    header, arrays = encode(record)
    safetensors = import_optional("safetensors.numpy", "io", "Saving and loading models")
    payload = safetensors.save(arrays, metadata={_METADATA_KEY: json.dumps(header, sort_keys=True)})
    destination = Path(path)
    atomic_write(destination, payload, what="model file", error=ModelFileError)
    return destination


# --------------------------------------------------------------------------- reading
def _foreign(path: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"a gaussmix model file must be a safetensors file with a gaussmix header; "
        f"{str(path)!r} {what}. Write models with gaussmix.save (gaussmix never unpickles "
        "files, so pickles and joblib dumps cannot be loaded this way)."
    )


def corrupt(path: Path, what: str) -> ModelFileError:
    """The error for a readable file that does not describe a valid mixture.

    Parameters
    ----------
    path : Path
        The file.
    what : str
        What is wrong, as a clause after the path ("has ...").

    Returns
    -------
    ModelFileError
    """
    return ModelFileError(
        f"a model file must describe a valid mixture; {str(path)!r} {what}. "
        "The file is inconsistent: save the model again."
    )


def _refuse_foreign_layouts(path: Path) -> None:
    """Refuse a missing file, a pickle or a zip archive by their first bytes."""
    if not path.is_file():
        raise ModelFileError(
            f"the model file must exist; got {str(path)!r}, which is not a file. "
            "Check the path, or create the model with `gaussmix fit`."
        )
    with path.open("rb") as handle:
        start = handle.read(9)
    # A safetensors file opens with the 8-byte little-endian length of its JSON header and
    # then "{"; the low byte of that length may itself be 0x80, the pickle opcode, so the
    # pickle test applies only to files that do not have this layout.
    declared = int.from_bytes(start[:8], "little") if len(start) == 9 else -1
    safetensors_layout = start[8:9] == b"{" and 0 < declared < path.stat().st_size
    if not safetensors_layout and start.startswith(_PICKLE_MAGIC):
        raise _foreign(path, "is a Python pickle (it starts with the pickle protocol byte)")
    if start.startswith(_ZIP_MAGIC):
        raise _foreign(path, "is a zip archive (an .npz or joblib file?)")


def _open_safetensors(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The safetensors metadata and arrays of ``path``."""
    safetensors = import_optional("safetensors", "io", "Loading models")
    try:
        # safe_open checks that the declared shapes, dtypes and byte ranges tile the file
        # exactly before any array is created, so a hostile header cannot make us allocate
        # more than the file's own size.
        with safetensors.safe_open(str(path), framework="numpy") as opened:
            metadata = opened.metadata() or {}
            arrays = {name: np.array(opened.get_tensor(name)) for name in opened.keys()}
    except safetensors.SafetensorError as error:
        raise _foreign(
            path, f"is not readable as safetensors ({error}); it may be truncated"
        ) from None
    except (OSError, ValueError, TypeError) as error:
        # TypeError: a dtype safetensors knows but NumPy has not (bfloat16, float8).
        raise _foreign(path, f"could not be read ({type(error).__name__}: {error})") from None
    return metadata, arrays


def _parse_header(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The gaussmix header of the metadata, of this format and of a version this reads."""
    text = metadata.get(_METADATA_KEY)
    if text is None:
        raise _foreign(path, "has no gaussmix header")
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as error:
        # ValueError covers malformed JSON and integers longer than Python's digit limit;
        # RecursionError deeply nested arrays or objects.
        raise ModelFileError(
            f"the gaussmix header must be valid JSON; in {str(path)!r} it is not ({error}). "
            "The file is corrupted: save the model again."
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _foreign(path, "has a header of another format")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(
            f"format_version must be a positive integer; got {version!r} in {str(path)!r}. "
            "The file is corrupted: save the model again."
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"this gaussmix reads model files up to format version {FORMAT_VERSION}; "
            f"{str(path)!r} has format version {version} (written by gaussmix "
            f"{header.get('gaussmix_version')}). Upgrade gaussmix: pip install -U gaussmix."
        )
    return header


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays of a file, checked for layout, format, version and checksum."""
    _refuse_foreign_layouts(path)
    metadata, arrays = _open_safetensors(path)
    header = _parse_header(path, metadata)
    if header.get("checksum") != checksum(header, arrays):
        raise ModelFileError(
            f"the checksum stored in a model file must match its contents; in {str(path)!r} "
            "it does not, so the file was modified or corrupted after it was written. "
            "Save the model again from its source."
        )
    return header, arrays


def _check_declared(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The arrays are those the header lists, finite, known, with the four core ones."""
    declared = header.get("arrays", {})
    if sorted(declared) != sorted(arrays):
        raise corrupt(
            path, f"holds arrays {sorted(arrays)} but its header lists {sorted(declared)}"
        )
    for name, array in arrays.items():
        spec = declared[name]
        if list(array.shape) != spec.get("shape") or array.dtype.str != spec.get("dtype"):
            raise corrupt(
                path,
                f"has {name} of shape {array.shape} and dtype {array.dtype.str}, but its header "
                f"says {spec}",
            )
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise corrupt(path, f"has non-finite values (NaN or inf) in {name}")
    unknown = sorted(
        name for name in arrays if name not in FITTED_ARRAYS and not _is_parameter(name)
    )
    if unknown:
        raise corrupt(path, f"has arrays {unknown}, which are not GaussianMixture attributes")
    for required in _CORE_ARRAYS:
        if required not in arrays:
            raise corrupt(path, f"lacks the array {required}")
        if arrays[required].dtype.str not in ("<f4", "<f8"):
            raise corrupt(
                path, f"has {required} of dtype {arrays[required].dtype.str}, not float32/64"
            )


def _check_weights_and_means(
    path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]
) -> tuple[int, int]:
    """``(n_components, n_features)`` of the header, which the weights and means must have."""
    n_components, n_features = header.get("n_components"), header.get("n_features")
    for name, value in (("n_components", n_components), ("n_features", n_features)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise corrupt(path, f"has {name} = {value!r}, not a positive integer")
    weights, means = arrays["weights_"], arrays["means_"]
    if weights.shape != (n_components,) or means.shape != (n_components, n_features):
        raise corrupt(
            path,
            f"has weights of shape {weights.shape} and means of shape {means.shape} for "
            f"n_components = {n_components}, n_features = {n_features}",
        )
    total = float(weights.sum(dtype=np.float64))
    # With a noise component the Gaussians' weights and its proportion sum to one.
    noise = header.get("attributes", {}).get("noise_proportion_", 0.0)
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or not 0 <= noise <= 1:
        raise corrupt(path, f"has noise_proportion_ = {noise!r}, not a number in [0, 1]")
    total += noise
    if np.any(weights < 0) or abs(total - 1.0) > _WEIGHT_SUM_TOLERANCE:
        raise corrupt(path, f"has weights that are not a probability vector (sum {weights.sum()})")
    return n_components, n_features


def _check_covariances(
    path: Path,
    header: dict[str, Any],
    arrays: dict[str, np.ndarray],
    n_components: int,
    n_features: int,
) -> None:
    """Covariances of the stored shape, positive definite, and matching their factors."""
    from gaussmix.covariance import get_covariance_model
    from gaussmix.covariance.attributes import reports_dense
    from gaussmix.covariance.forms import compact_shape, dense_covariances

    model = get_covariance_model(header.get("covariance_model"))
    # mclust codes report dense (K, D, D) arrays, scikit-learn names their compact form.
    covariance_type = header.get("parameters", {}).get("covariance_type", model.name)
    dense = (n_components, n_features, n_features)
    expected = (
        dense
        if reports_dense(covariance_type, model)
        else compact_shape(model.form, n_components, n_features)
    )
    covariances, factors = arrays["covariances_"], arrays["precisions_cholesky_"]
    for name in ("covariances_", "precisions_cholesky_"):
        if arrays[name].shape != expected:
            raise corrupt(
                path,
                f"has {name} of shape {arrays[name].shape}; expected {expected} for "
                f"covariance_type {covariance_type!r}",
            )
    if not _positive_definite(covariances, model.form, dense):
        raise corrupt(path, "has covariances that are not positive definite")
    if not np.all(_cholesky_diagonal(model.form, factors) > 0):
        raise corrupt(path, "has precision Cholesky factors with non-positive diagonals")
    # Predictions read the factors, the M-step and users the covariances: they must agree.
    layout = "full" if covariances.shape == dense else model.form
    sigma = dense_covariances(covariances, layout, n_components, n_features)
    factor = dense_covariances(factors, layout, n_components, n_features)
    with np.errstate(all="ignore"):
        whitened = np.swapaxes(factor, -1, -2) @ sigma @ factor
        error = np.max(np.abs(whitened - np.eye(n_features)))
    if not error <= _FACTOR_TOLERANCE:  # also catches NaN from overflowing products
        raise corrupt(
            path,
            f"has precision Cholesky factors that do not match its covariances "
            f"(max |Lᵀ Σ L − I| = {error:.3g})",
        )


def _positive_definite(covariances: np.ndarray, form: str, dense: tuple[int, ...]) -> bool:
    """Symmetric with positive eigenvalues (matrices), or positive (variances)."""
    if covariances.shape == dense or form == "tied":
        n_features = dense[-1]
        matrices = covariances.reshape(-1, n_features, n_features)
        symmetric = np.allclose(matrices, np.swapaxes(matrices, -1, -2), rtol=1e-10, atol=0)
        return bool(symmetric and np.all(np.linalg.eigvalsh(matrices) > 0))
    return bool(np.all(covariances > 0))


def _is_parameter(name: str) -> bool:
    return name.startswith(_PARAMETER_PREFIX)


def _cholesky_diagonal(form: str, factors: np.ndarray) -> np.ndarray:
    """Diagonal entries of precision Cholesky factors; all positive in a valid model.

    Models named by an mclust code store dense (K, D, D) factors whatever their form.
    """
    if form in ("tied", "full") or factors.ndim == 3:
        return np.diagonal(factors, axis1=-2, axis2=-1)
    return factors


def _check_attributes(path: Path, header: dict[str, Any]) -> None:
    """Only known fitted attributes, each of its JSON type and consistent with the header."""
    attributes = header.get("attributes", {})
    if not isinstance(attributes, dict):
        raise corrupt(path, f"has attributes of type {type(attributes).__name__}, not an object")
    unknown = sorted(name for name in attributes if name not in FITTED_VALUES)
    if unknown:
        raise corrupt(
            path, f"names attributes {unknown} that are not GaussianMixture fitted attributes"
        )
    for name, value in attributes.items():
        expected = FITTED_VALUES[name]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise corrupt(path, f"has {name} of type {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value) and name != "lower_bound_":
            raise corrupt(path, f"has a non-finite {name}")
    n_features = header["n_features"]
    if attributes.get("n_features_in_", n_features) != n_features:
        raise corrupt(
            path,
            f"has n_features_in_ = {attributes['n_features_in_']} but n_features = {n_features}",
        )
    names = attributes.get("feature_names_in_")
    if names is not None and (
        len(names) != n_features or not all(isinstance(name, str) for name in names)
    ):
        raise corrupt(path, f"has feature_names_in_ that are not {n_features} strings")


def _standardization(path: Path, header: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The header's standardisation: two finite vectors of length n_features, or None."""
    stored = header.get("standardization")
    if stored is None:
        return None
    n_features = header["n_features"]
    centre = np.asarray(stored["centre"], dtype=np.float64)
    scale = np.asarray(stored["scale"], dtype=np.float64)
    if (
        centre.shape != (n_features,)
        or scale.shape != (n_features,)
        or not np.all(np.isfinite(centre))
        or not np.all(np.isfinite(scale) & (scale > 0))
    ):
        raise corrupt(
            path,
            f"has a standardization that is not two finite vectors of length {n_features} "
            "with positive scales",
        )
    return centre, scale


def decode(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> ModelRecord:
    """The record a checksummed header and its arrays describe, after every check of the file.

    Parameters
    ----------
    path : Path
        The file, named in errors.
    header : dict
        Its gaussmix header.
    arrays : dict of str to ndarray
        Its arrays.

    Returns
    -------
    ModelRecord

    Raises
    ------
    ModelFileError
        If the arrays, the attributes or the standardisation do not describe a valid mixture.
    """
    _check_declared(path, header, arrays)
    n_components, n_features = _check_weights_and_means(path, header, arrays)
    _check_covariances(path, header, arrays, n_components, n_features)
    _check_attributes(path, header)
    settings = dict(header.get("parameters", {}))
    fitted = dict(arrays)
    for name in header.get("array_parameters", []):
        settings[name] = fitted.pop(_PARAMETER_PREFIX + name)
    stray = sorted(set(fitted) - FITTED_ARRAYS)
    if stray:
        raise corrupt(path, f"has arrays {stray} that are neither attributes nor parameters")
    version = header.get("gaussmix_version")
    return ModelRecord(
        covariance_model=header["covariance_model"],
        settings=settings,
        arrays=fitted,
        attributes=dict(header.get("attributes", {})),
        dropped_settings=tuple(str(name) for name in header.get("dropped_parameters", [])),
        standardization=_standardization(path, header),
        estimator=str(header.get("estimator", "GaussianMixture")),
        gaussmix_version=version if isinstance(version, str) else None,
        format_version=header["format_version"],
    )


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn every failure of reading ``path`` into a ModelFileError naming it.

    A header with the right checksum can still have been written by hand: missing keys,
    values of the wrong type, settings the estimator refuses.

    Parameters
    ----------
    path : Path
        The model file being read.

    Yields
    ------
    None
    """
    try:
        yield
    except ModelFileError:
        raise
    except InvalidParameterError as error:
        raise ModelFileError(
            f"a model file must hold valid GaussianMixture settings; {str(path)!r} does not: "
            f"{error}"
        ) from None
    except (
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        ValueError,
        ArithmeticError,
        RecursionError,
        np.linalg.LinAlgError,
    ) as error:
        raise corrupt(path, f"has a malformed header ({type(error).__name__}: {error})") from None


def read_record(path: str | os.PathLike[str]) -> tuple[ModelRecord, dict[str, Any]]:
    """Read and validate a model file.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`write_record` (or :func:`gaussmix.save`).

    Returns
    -------
    record : ModelRecord
    header : dict
        The file's gaussmix header, as stored.

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, modified (checksum), of another format (a pickle,
        an archive), of a newer format version, or describes an invalid mixture (see
        ``docs/model-format.md``, *What load checks*).
    """
    source = Path(path)
    header, arrays = _read(source)
    with reading(source):
        record = decode(source, header, arrays)
    return record, header
