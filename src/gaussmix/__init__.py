"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization."""

from gaussmix.estimator import GaussianMixture
from gaussmix.exceptions import (
    CollapsedComponentError,
    CollapsedComponentWarning,
    InvalidInputError,
    InvalidParameterError,
    ModelFileError,
    NonNumericDataError,
)
from gaussmix.gaussian import Gaussian
from gaussmix.io import load, save
from gaussmix.selection import ModelSelection, select_model

__all__ = [
    "CollapsedComponentError",
    "CollapsedComponentWarning",
    "Gaussian",
    "GaussianMixture",
    "InvalidInputError",
    "InvalidParameterError",
    "ModelFileError",
    "ModelSelection",
    "NonNumericDataError",
    "load",
    "save",
    "select_model",
]

__version__ = "0.1.0"
