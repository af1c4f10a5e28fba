"""A fitted ``GaussianMixture`` as a :class:`~gaussmix.files.record.ModelRecord`, and back.

The estimator's side of model files: :meth:`GaussianMixture.save` and
:meth:`GaussianMixture.load` call :func:`save_estimator` and :func:`read_model_file`;
:mod:`gaussmix.files.model_file` writes and reads the record. This module does not import
:mod:`gaussmix.estimator` (``load`` passes its class in), so every import points down:
``io`` → ``estimator`` → ``persistence`` → ``files``.

Which attributes are stored is :data:`gaussmix.files.record.FITTED_ATTRIBUTES`, the one list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix.exceptions import ModelFileError
from gaussmix.files.model_file import corrupt, read_record, reading, write_record
from gaussmix.files.record import (
    ARRAY,
    FITTED_ATTRIBUTES,
    ModelRecord,
    json_value,
    standardization_vectors,
)
from gaussmix.priors import Prior, prior_as_json, prior_from_json

__all__ = ["ModelFile", "estimator_from_record", "read_model_file", "record_of", "save_estimator"]


@dataclass(frozen=True)
class ModelFile:
    """A model read from a file together with its header.

    Parameters
    ----------
    model : GaussianMixture
        The fitted estimator, ready to predict.
    header : dict
        The gaussmix JSON header (see ``docs/model-format.md``).
    record : ModelRecord or None
        The plain record the model was rebuilt from.
    """

    model: Any
    header: dict[str, Any]
    record: ModelRecord | None = None

    @property
    def standardization(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(centre, scale)`` the data must be mapped by, ``(x − centre) / scale``, or None."""
        stored = self.header.get("standardization")
        if stored is None:
            return None
        return np.asarray(stored["centre"], dtype=float), np.asarray(stored["scale"], dtype=float)


# Settings added after the files of format 1 were first written, with their defaults:
# stored only when set otherwise, so that an older file saves back to the same record and
# an older gaussmix still reads the files of models that do not use them.
LATER_SETTINGS: dict[str, Any] = {
    "missing": "error",
    "prior": None,
    "equal_proportions": False,
    "noise": False,
    "noise_init": None,
    "Vinv": None,
    "learning_rate_decay": 1.0,
    "forget": 0.0,
    "n_batches": 1,
}


def _is_default(value: Any, default: Any) -> bool:
    """Whether a setting holds its default (an array, e.g. a noise mask, never does)."""
    if value is default:
        return True
    if default is None or isinstance(value, np.ndarray):
        return False
    if isinstance(default, bool) or isinstance(value, (bool, np.bool_)):
        flags = isinstance(value, (bool, np.bool_)) and isinstance(default, bool)
        return flags and value == default
    if isinstance(default, str):
        return isinstance(value, str) and value == default
    numbers = (int, float, np.integer, np.floating)
    return isinstance(value, numbers) and float(value) == float(default)


def _stored_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Settings as JSON values or float64 arrays, and the names of those neither can hold."""
    stored: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in sorted(settings.items()):
        if name in LATER_SETTINGS and _is_default(value, LATER_SETTINGS[name]):
            continue
        if value is None:
            stored[name] = None
        elif isinstance(value, Prior):
            stored[name] = prior_as_json(value)
        elif isinstance(value, (np.ndarray, list, tuple)):
            stored[name] = np.ascontiguousarray(value, dtype=np.float64)
        else:
            try:
                stored[name] = json_value(value)
            except TypeError:
                # A callback or a RandomState instance cannot be stored; the loaded model
                # gets the default, and the file says which settings were dropped.
                dropped.append(name)
    return stored, tuple(dropped)


def _fitted_values(model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The model's fitted arrays and its other fitted attributes as JSON values."""
    present = vars(model)
    arrays: dict[str, np.ndarray] = {}
    attributes: dict[str, Any] = {}
    for name, kind in FITTED_ATTRIBUTES.items():
        if name not in present:
            continue
        value = present[name]
        if kind == ARRAY:
            arrays[name] = np.ascontiguousarray(value)
            continue
        try:
            attributes[name] = json_value(value)
        except TypeError as error:
            raise ModelFileError(
                f"every fitted attribute must be an array, a number, a string or a list to be "
                f"saved; got {name} of type {error}. Report this as a gaussmix bug."
            ) from None
    return arrays, attributes


def record_of(
    model: Any,
    settings: dict[str, Any],
    *,
    standardization: tuple[Any, Any] | None = None,
) -> ModelRecord:
    """The record of a fitted mixture.

    Parameters
    ----------
    model : GaussianMixture
        A fitted estimator.
    settings : dict
        The constructor parameters its fitted attributes were fitted with (not those
        ``set_params`` changed since: the record must describe one consistent model).
    standardization : (centre, scale), optional
        The vectors the training data were mapped by, ``(x − centre) / scale``.

    Returns
    -------
    ModelRecord

    Raises
    ------
    ModelFileError
        If the model is not fitted, or ``standardization`` does not have n_features entries.
    """
    from gaussmix.covariance import get_covariance_model

    if "weights_" not in vars(model):
        raise ModelFileError(
            "save needs a fitted model; this GaussianMixture has no fitted attributes. "
            "Call fit(X) before save."
        )
    arrays, attributes = _fitted_values(model)
    stored, dropped = _stored_settings(settings)
    return ModelRecord(
        covariance_model=get_covariance_model(settings["covariance_type"]).name,
        settings=stored,
        arrays=arrays,
        attributes=attributes,
        dropped_settings=dropped,
        standardization=standardization_vectors(standardization, arrays["means_"].shape[1]),
        estimator=type(model).__name__,
    )


def save_estimator(
    model: Any,
    settings: dict[str, Any],
    path: str | os.PathLike[str],
    *,
    standardization: tuple[Any, Any] | None = None,
) -> Path:
    """Write a fitted mixture to a model file, atomically (see :func:`gaussmix.save`).

    Parameters
    ----------
    model : GaussianMixture
        A fitted estimator.
    settings : dict
        The constructor parameters it was fitted with.
    path : str or path-like
        Destination.
    standardization : (centre, scale), optional
        See :func:`record_of`.

    Returns
    -------
    Path
        The path written.
    """
    return write_record(record_of(model, settings, standardization=standardization), path)


def estimator_from_record(record: ModelRecord, estimator_class: type, source: Any) -> Any:
    """A fitted estimator of ``estimator_class`` rebuilt from ``record``.

    Parameters
    ----------
    record : ModelRecord
    estimator_class : type
        ``GaussianMixture`` or a subclass.
    source : path or str
        Where the record came from, named in errors.

    Returns
    -------
    GaussianMixture
        With the record's settings as its fitted settings, so it saves back unchanged.

    Raises
    ------
    ModelFileError
        If a setting is unknown to this gaussmix, or the settings contradict the record.
    InvalidParameterError
        If a setting is invalid.
    """
    settings = dict(record.settings)
    unknown = sorted(set(settings) - set(estimator_class().get_params(deep=False)))
    if unknown:
        raise ModelFileError(
            f"model file parameters must be GaussianMixture parameters of this gaussmix; "
            f"{str(source)!r} has {unknown}. Upgrade gaussmix: pip install -U gaussmix."
        )
    if isinstance(settings.get("prior"), dict):
        settings["prior"] = prior_from_json(settings["prior"])
    model = estimator_class(**settings)
    covariance_model = model._check_parameters()
    if covariance_model.name != record.covariance_model:
        raise corrupt(
            source,
            f"has covariance_type {model.covariance_type!r} (model {covariance_model.name}) but "
            f"covariance_model {record.covariance_model!r}",
        )
    if model.n_components != record.n_components:
        raise corrupt(
            source,
            f"has the parameter n_components = {model.n_components} but "
            f"n_components = {record.n_components}",
        )
    noise_attributes = {"Vinv_", "noise_proportion_"} & set(record.attributes)
    if bool(model.noise) != bool(noise_attributes) or len(noise_attributes) == 1:
        raise corrupt(
            source,
            f"has noise = {model.noise!r} but the noise attributes {sorted(noise_attributes)} "
            "(a noise model has both Vinv_ and noise_proportion_, other models neither)",
        )
    for name, value in record.attributes.items():
        if name == "feature_names_in_":
            value = np.asarray(value, dtype=object)
        setattr(model, name, value)
    for name, array in record.arrays.items():
        setattr(model, name, array)
    # A file written before a setting existed says nothing of it: the loaded model has its
    # default, and saving it back writes the same record.
    kept = set(settings) | set(record.dropped_settings)
    current = model._current_settings()
    model._fit_settings = {name: value for name, value in current.items() if name in kept}
    return model


def read_model_file(path: str | os.PathLike[str], estimator_class: type) -> ModelFile:
    """Read and validate a model file into an estimator of ``estimator_class``.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`gaussmix.save`.
    estimator_class : type
        ``GaussianMixture`` or a subclass.

    Returns
    -------
    ModelFile

    Raises
    ------
    ModelFileError
        See :func:`gaussmix.io.read_model_file`.
    """
    source = Path(path)
    record, header = read_record(source)
    with reading(source):
        model = estimator_from_record(record, estimator_class, source)
    return ModelFile(model=model, header=header, record=record)
