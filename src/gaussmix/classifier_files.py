"""A fitted :class:`~gaussmix.discriminant.MixtureDiscriminantAnalysis` as a
:class:`~gaussmix.files.classifier_file.ClassifierRecord`, and back.

The class models are stored as mixtures, so every check of a model file applies to them:
EDDA as one :class:`~gaussmix.estimator.GaussianMixture` whose component c is class c's
Gaussian (weights π_c, the training class frequencies), MclustDA as each class's chosen
mixture. ``selections_`` (every class's selection table) is not stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.forms import dense_covariances
from gaussmix.estimator import GaussianMixture
from gaussmix.exceptions import ModelFileError
from gaussmix.files.classifier_file import (
    ClassifierRecord,
    read_classifier_record,
    write_classifier_record,
)
from gaussmix.files.model_file import reading
from gaussmix.files.record import json_value
from gaussmix.parameters import MixtureParameters
from gaussmix.persistence import estimator_from_record, record_of

__all__ = ["load_classifier", "save_classifier"]

# Fitted values of the classifier kept in the header (the arrays are priors_ and
# class_weights_; the class models are mixtures).
_ATTRIBUTES = ("log_likelihood_", "bic_", "n_parameters_", "covariance_type_", "n_features_in_")


def _edda_mixture(classifier: Any) -> GaussianMixture:
    """EDDA's class Gaussians as one fitted mixture, weights the class frequencies."""
    parameters: MixtureParameters = classifier._parameters
    mixture = GaussianMixture(
        len(classifier.classes_),
        covariance_type=classifier.covariance_type_,
        reg_covar=float(classifier.reg_covar),
    )
    mixture._set_fitted_parameters(
        MixtureParameters(
            weights=np.asarray(classifier.class_weights_, dtype=np.float64),
            means=parameters.means,
            covariances=parameters.covariances,
            precisions_cholesky=parameters.precisions_cholesky,
            form=parameters.form,
        )
    )
    mixture.n_features_in_ = int(classifier.n_features_in_)
    mixture.converged_, mixture.n_iter_ = True, 1
    mixture.log_likelihood_ = float(classifier.log_likelihood_)
    return mixture


def save_classifier(classifier: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted classifier to a classifier file, atomically.

    Parameters
    ----------
    classifier : MixtureDiscriminantAnalysis
        Fitted.
    path : str or path-like
        Destination (conventionally ``*.gmc``).

    Returns
    -------
    Path

    Raises
    ------
    ModelFileError
        If the classifier is not fitted, a setting cannot be stored, or the file cannot be
        written.
    """
    if not hasattr(classifier, "classes_"):
        raise ModelFileError(
            "save needs a fitted classifier; this MixtureDiscriminantAnalysis has no fitted "
            "attributes. Call fit(X, y) first."
        )
    settings: dict[str, Any] = {}
    for name, value in classifier.get_params(deep=False).items():
        try:
            settings[name] = json_value(list(value) if isinstance(value, np.ndarray) else value)
        except TypeError:
            if name != "random_state":
                raise ModelFileError(
                    f"every classifier setting must be a number, string or list to be saved; "
                    f"{name} is a {type(value).__name__}. Set it to a plain value."
                ) from None
            settings[name] = None
    if classifier.model_type == "edda":
        mixtures = [_edda_mixture(classifier)]
    else:
        mixtures = classifier.estimators_
    attributes = {
        name: json_value(getattr(classifier, name))
        for name in _ATTRIBUTES
        if hasattr(classifier, name)
    }
    if hasattr(classifier, "criteria_"):
        # EDDA's table of models tried: NaN (a model that failed) is stored as null.
        attributes["criteria_"] = {
            name: value if np.isfinite(value) else None
            for name, value in classifier.criteria_.items()
        }
        attributes["errors_"] = dict(classifier.errors_)
    names = getattr(classifier, "feature_names_in_", None)
    if names is not None:
        attributes["feature_names_in_"] = [str(name) for name in names]
    record = ClassifierRecord(
        model_type=classifier.model_type,
        settings=settings,
        classes=np.asarray(classifier.classes_),
        arrays={"priors_": classifier.priors_, "class_weights_": classifier.class_weights_},
        attributes=attributes,
        mixtures=tuple(record_of(m, m._fitted_settings()) for m in mixtures),
    )
    return write_classifier_record(record, path)


def load_classifier(path: str | os.PathLike[str], classifier_class: type) -> Any:
    """Read a classifier file into a fitted classifier.

    Parameters
    ----------
    path : str or path-like
        Written by :func:`save_classifier`.
    classifier_class : type
        ``MixtureDiscriminantAnalysis`` (passed in, so that this module imports down).

    Returns
    -------
    MixtureDiscriminantAnalysis
        Its predictions equal those of the saved one.

    Raises
    ------
    ModelFileError
        See :func:`gaussmix.files.classifier_file.read_classifier_record`; also for
        settings this gaussmix does not know.
    """
    source = Path(path)
    record, _ = read_classifier_record(source)
    with reading(source):
        unknown = sorted(set(record.settings) - set(classifier_class().get_params()))
        if unknown:
            raise ModelFileError(
                f"classifier file parameters must be MixtureDiscriminantAnalysis parameters of "
                f"this gaussmix; {str(source)!r} has {unknown}. Upgrade gaussmix."
            )
        settings = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in record.settings.items()
        }
        classifier = classifier_class(**settings)
        if classifier.model_type != record.model_type:
            raise ModelFileError(
                f"a classifier file must describe one consistent classifier; {str(source)!r} "
                f"has model_type {classifier.model_type!r} in its parameters but "
                f"{record.model_type!r} in its header. Save the classifier again."
            )
        mixtures = [
            estimator_from_record(mixture, GaussianMixture, source) for mixture in record.mixtures
        ]
        classifier.classes_ = record.classes
        classifier.priors_ = record.arrays["priors_"]
        classifier.class_weights_ = record.arrays["class_weights_"]
        for name, value in record.attributes.items():
            if name in _ATTRIBUTES:
                setattr(classifier, name, value)
        if "criteria_" in record.attributes:
            classifier.criteria_ = {
                str(name): float("nan") if value is None else float(value)
                for name, value in record.attributes["criteria_"].items()
            }
            classifier.errors_ = {
                str(name): str(value) for name, value in record.attributes["errors_"].items()
            }
        if "feature_names_in_" in record.attributes:
            classifier.feature_names_in_ = np.asarray(
                record.attributes["feature_names_in_"], dtype=object
            )
        classifier.n_features_in_ = mixtures[0].n_features_in_
        if record.model_type == "edda":
            _restore_edda(classifier, mixtures[0])
        else:
            classifier.estimators_ = mixtures
            classifier.n_iter_ = np.array([m.n_iter_ for m in mixtures])
    return classifier


def _restore_edda(classifier: Any, mixture: GaussianMixture) -> None:
    parameters = mixture._fitted_parameters()
    model = get_covariance_model(mixture.covariance_type)
    n_classes, n_features = parameters.means.shape
    classifier._parameters = parameters
    classifier.covariance_type_ = mixture.covariance_type
    classifier.means_ = parameters.means
    classifier.covariances_ = dense_covariances(
        parameters.covariances, model.form, n_classes, n_features
    )
    classifier.n_iter_ = np.ones(n_classes, dtype=int)
