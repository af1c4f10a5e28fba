"""Model files, the public functions: ``gaussmix.save``, ``gaussmix.load`` and the header.

A model file is a safetensors file (arrays plus a JSON header, no code execution on load;
``docs/model-format.md``). The work is split by what each part knows:
:mod:`gaussmix.files.record` is the file's content as plain values (``ModelRecord``),
:mod:`gaussmix.files.model_file` writes and reads records, :mod:`gaussmix.persistence`
turns an estimator into a record and back. This module sits above the estimator: it names
``GaussianMixture`` for the caller, importing it only when a function runs, so that
``gaussmix --help`` does not load scikit-learn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gaussmix.exceptions import ModelFileError
from gaussmix.files.model_file import checksum
from gaussmix.files.record import FORMAT_NAME, FORMAT_VERSION, ModelRecord
from gaussmix.persistence import ModelFile
from gaussmix.persistence import read_model_file as _read_into

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFile",
    "ModelRecord",
    "load",
    "read_model_file",
    "save",
]

# The checksum of docs/model-format.md; tests re-sign edited headers with it.
_checksum = checksum


def save(
    model: Any,
    path: str | os.PathLike[str],
    *,
    standardization: tuple[Any, Any] | None = None,
) -> Path:
    """Write a fitted mixture to a model file, atomically.

    Parameters
    ----------
    model : GaussianMixture
        A fitted estimator.
    path : str or path-like
        Destination; the suffix ``.gmm`` is conventional. An existing file is replaced
        only once the new one is completely written.
    standardization : (centre, scale), optional
        When the model was fitted on ``(x − centre) / scale``, the two vectors of length
        n_features, stored so that users of the file can map new data the same way.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ModelFileError
        If the model is not a fitted GaussianMixture, or the file cannot be written (its
        folder is missing or not writable, ``path`` is a folder, the disk is full; the OS
        error is the ``__cause__``); nothing is written then, and an existing file is kept.
    """
    from gaussmix.estimator import GaussianMixture

    if not isinstance(model, GaussianMixture):
        raise ModelFileError(
            "save needs a fitted gaussmix.GaussianMixture; got an object of type "
            f"{type(model).__name__}. Fit a gaussmix.GaussianMixture first."
        )
    return model.save(path, standardization=standardization)


def read_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Read and validate a model file, returning the model and its header.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    ModelFile

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, modified (checksum), of another format (a pickle,
        an archive), of a newer format version, or describes an invalid mixture (shapes
        that contradict the header, non-finite values, weights not summing to one,
        covariances that are not positive definite).
    """
    from gaussmix.estimator import GaussianMixture

    return _read_into(path, GaussianMixture)


def load(path: str | os.PathLike[str]) -> Any:
    """Read a fitted mixture from a model file written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    GaussianMixture
        The fitted estimator; its predictions equal those of the saved one exactly.

    Raises
    ------
    ModelFileError
        See :func:`read_model_file`.
    """
    return read_model_file(path).model
