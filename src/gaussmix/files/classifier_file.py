"""Classifier files: a fitted MixtureDiscriminantAnalysis as arrays plus a JSON header.

The layout is that of model files (``docs/model-format.md``): a safetensors file whose
metadata key ``"gaussmix"`` holds a JSON header, with ``"format": "gaussmix-classifier"``.
The class models are mixtures, each stored as a model file's header and arrays would be
(:func:`gaussmix.files.model_file.encode`), its arrays named ``mixture<i>.<name>``:

- EDDA: one mixture whose component c is class c's Gaussian (weights: the training class
  frequencies);
- MclustDA: one mixture per class.

Reading checks the checksum, every mixture as a model file is checked
(:func:`gaussmix.files.model_file.decode`), and that classes, priors, class weights and
mixtures agree. Nothing is unpickled. This module knows records, not estimators:
:mod:`gaussmix.classifier_files` turns a classifier into a :class:`ClassifierRecord`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.exceptions import ModelFileError
from gaussmix.files.atomic import atomic_write
from gaussmix.files.model_file import (
    _open_safetensors,
    _refuse_foreign_layouts,
    checksum,
    decode,
    encode,
    reading,
)
from gaussmix.files.record import FORMAT_NAME, ModelRecord, _gaussmix_version

__all__ = [
    "CLASSIFIER_FORMAT",
    "CLASSIFIER_FORMAT_VERSION",
    "ClassifierRecord",
    "read_classifier_record",
    "write_classifier_record",
]

CLASSIFIER_FORMAT = "gaussmix-classifier"
CLASSIFIER_FORMAT_VERSION = 1
"""Bumped whenever a reader of the previous version could misread a new file."""

_METADATA_KEY = "gaussmix"
_MODEL_TYPES = ("edda", "mixture")
_CLASS_ARRAYS = ("priors_", "class_weights_")
# Σ priors = 1 as the estimator checks it.
_SUM_TOLERANCE = 1e-8


@dataclass(frozen=True)
class ClassifierRecord:
    """A fitted classifier as plain values.

    Parameters
    ----------
    model_type : {"edda", "mixture"}
        EDDA (one mixture, a component per class) or MclustDA (a mixture per class).
    settings : mapping
        The classifier's constructor parameters, as JSON values.
    classes : ndarray of shape (n_classes,)
        The class labels (numbers, strings or booleans).
    arrays : mapping of str to ndarray
        ``priors_`` and ``class_weights_``, float64.
    attributes : mapping
        Other fitted values, as JSON values (``log_likelihood_``, ``bic_``, ...).
    mixtures : tuple of ModelRecord
        The class models.
    gaussmix_version : str or None
        The gaussmix that wrote the record.
    format_version : int
        Version of the classifier format.
    """

    model_type: str
    settings: Mapping[str, Any]
    classes: np.ndarray
    arrays: Mapping[str, np.ndarray]
    attributes: Mapping[str, Any]
    mixtures: tuple[ModelRecord, ...]
    gaussmix_version: str | None = field(default_factory=_gaussmix_version)
    format_version: int = CLASSIFIER_FORMAT_VERSION


def _encode(record: ClassifierRecord) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    arrays = {name: np.ascontiguousarray(record.arrays[name], np.float64) for name in _CLASS_ARRAYS}
    mixtures = []
    for index, mixture in enumerate(record.mixtures):
        header, parts = encode(mixture)
        mixtures.append(header)
        arrays.update({f"mixture{index}.{name}": array for name, array in parts.items()})
    classes = np.asarray(record.classes)
    header = {
        "format": CLASSIFIER_FORMAT,
        "format_version": record.format_version,
        "gaussmix_version": record.gaussmix_version,
        "estimator": "MixtureDiscriminantAnalysis",
        "model_type": record.model_type,
        "classes": classes.tolist(),
        "classes_dtype": classes.dtype.str,
        "parameters": dict(record.settings),
        "attributes": dict(record.attributes),
        "mixtures": mixtures,
        "arrays": {
            name: {"dtype": array.dtype.str, "shape": list(array.shape)}
            for name, array in sorted(arrays.items())
        },
    }
    header["checksum"] = checksum(header, arrays)
    return header, arrays


def write_classifier_record(record: ClassifierRecord, path: str | os.PathLike[str]) -> Path:
    """Write ``record`` to a classifier file, atomically.

    Parameters
    ----------
    record : ClassifierRecord
    path : str or path-like
        Destination; an existing file is replaced only once the new one is complete.

    Returns
    -------
    Path

    Raises
    ------
    ModelFileError
        If the file cannot be written (nothing is written then).
    """
    header, arrays = _encode(record)
    safetensors = import_optional("safetensors.numpy", "io", "Saving classifiers")
    payload = safetensors.save(arrays, metadata={_METADATA_KEY: json.dumps(header, sort_keys=True)})
    destination = Path(path)
    atomic_write(destination, payload, what="classifier file", error=ModelFileError)
    return destination


def _inconsistent(path: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"a classifier file must describe one consistent classifier; {str(path)!r} {what}. "
        "The file is inconsistent: save the classifier again."
    )


def _header(path: Path, metadata: dict[str, str], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    text = metadata.get(_METADATA_KEY)
    try:
        header = json.loads(text) if text is not None else None
    except (ValueError, RecursionError) as error:
        raise _inconsistent(path, f"has a header that is not valid JSON ({error})") from None
    if isinstance(header, dict) and header.get("format") == FORMAT_NAME:
        raise ModelFileError(
            f"a classifier file is needed; {str(path)!r} is a mixture model file. Load it "
            "with gaussmix.load, or save a MixtureDiscriminantAnalysis with its save method."
        )
    if not isinstance(header, dict) or header.get("format") != CLASSIFIER_FORMAT:
        raise ModelFileError(
            f"a classifier file must be a safetensors file with a gaussmix-classifier header; "
            f"{str(path)!r} has none. Write classifiers with MixtureDiscriminantAnalysis.save."
        )
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _inconsistent(path, f"has format_version {version!r}")
    if version > CLASSIFIER_FORMAT_VERSION:
        raise ModelFileError(
            f"this gaussmix reads classifier files up to format version "
            f"{CLASSIFIER_FORMAT_VERSION}; {str(path)!r} has version {version}. Upgrade "
            "gaussmix: pip install -U gaussmix."
        )
    if header.get("checksum") != checksum(header, arrays):
        raise ModelFileError(
            f"the checksum stored in a classifier file must match its contents; in "
            f"{str(path)!r} it does not, so the file was modified or corrupted after it was "
            "written. Save the classifier again."
        )
    return header


def _split(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[dict]:
    """The arrays of each mixture, by its prefix; every array must belong somewhere."""
    count = len(header["mixtures"])
    parts: list[dict[str, np.ndarray]] = [{} for _ in range(count)]
    for name, array in arrays.items():
        if name in _CLASS_ARRAYS:
            continue
        prefix, _, rest = name.partition(".")
        index = prefix.removeprefix("mixture")
        if not prefix.startswith("mixture") or not index.isdigit() or int(index) >= count:
            raise _inconsistent(path, f"has an array {name!r} of no mixture")
        parts[int(index)][rest] = array
    return parts


def _check(path: Path, record: ClassifierRecord) -> None:
    n_classes = record.classes.shape[0]
    if record.model_type not in _MODEL_TYPES:
        raise _inconsistent(path, f"has model_type {record.model_type!r}")
    if len(np.unique(record.classes)) != n_classes or n_classes < 2:
        raise _inconsistent(path, f"has classes {record.classes.tolist()} (two or more, distinct)")
    for name in _CLASS_ARRAYS:
        values = record.arrays[name]
        if (
            values.shape != (n_classes,)
            or not np.all(np.isfinite(values))
            or np.any(values < 0)
            or not math.isclose(float(values.sum()), 1.0, abs_tol=_SUM_TOLERANCE)
        ):
            raise _inconsistent(
                path, f"has {name} {values.tolist()} for {n_classes} classes (must sum to 1)"
            )
    expected = 1 if record.model_type == "edda" else n_classes
    if len(record.mixtures) != expected:
        raise _inconsistent(
            path,
            f"has {len(record.mixtures)} mixtures for {n_classes} {record.model_type} classes "
            f"(expected {expected})",
        )
    if record.model_type == "edda" and record.mixtures[0].n_components != n_classes:
        raise _inconsistent(
            path, f"has {record.mixtures[0].n_components} class Gaussians for {n_classes} classes"
        )
    features = {mixture.n_features for mixture in record.mixtures}
    if len(features) != 1:
        raise _inconsistent(path, f"has class models of {sorted(features)} features")


def read_classifier_record(path: str | os.PathLike[str]) -> tuple[ClassifierRecord, dict]:
    """Read and validate a classifier file.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`write_classifier_record`.

    Returns
    -------
    record : ClassifierRecord
    header : dict
        The file's header, as stored.

    Raises
    ------
    ModelFileError
        If the file is missing, not a classifier file (a mixture model file, a pickle),
        modified (checksum), of a newer version, or inconsistent (classes, priors and class
        models that disagree, a class model that is not a valid mixture).
    """
    source = Path(path)
    _refuse_foreign_layouts(source)
    metadata, arrays = _open_safetensors(source)
    header = _header(source, metadata, arrays)
    with reading(source):
        parts = _split(source, header, arrays)
        mixtures = tuple(
            decode(source, mixture_header, part)
            for mixture_header, part in zip(header["mixtures"], parts, strict=True)
        )
        dtype = np.dtype(header["classes_dtype"])
        if dtype.kind not in "biufUO":
            raise _inconsistent(source, f"has classes of dtype {dtype.str}")
        classes = np.asarray(header["classes"], dtype=dtype)
        version = header.get("gaussmix_version")
        record = ClassifierRecord(
            model_type=header["model_type"],
            settings=dict(header["parameters"]),
            classes=classes,
            arrays={name: np.asarray(arrays[name], dtype=np.float64) for name in _CLASS_ARRAYS},
            attributes=dict(header["attributes"]),
            mixtures=mixtures,
            gaussmix_version=version if isinstance(version, str) else None,
            format_version=header["format_version"],
        )
        _check(source, record)
    return record, header
