"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization."""

from gaussmix.estimator import GaussianMixture
from gaussmix.exceptions import (
    CollapsedComponentError,
    InvalidInputError,
    InvalidParameterError,
    ModelFileError,
    NonNumericDataError,
)
from gaussmix.gaussian import Gaussian
from gaussmix.io import load, save

__all__ = [
    "CollapsedComponentError",
    "Gaussian",
    "GaussianMixture",
    "InvalidInputError",
    "InvalidParameterError",
    "ModelFileError",
    "NonNumericDataError",
    "load",
    "save",
]

__version__ = "0.1.0"
