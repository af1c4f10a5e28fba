"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization."""

from gaussmix.estimator import GaussianMixture
from gaussmix.exceptions import (
    CollapsedComponentError,
    InvalidInputError,
    InvalidParameterError,
    NonNumericDataError,
)
from gaussmix.gaussian import Gaussian
from gaussmix.selection import ModelSelection, select_model

__all__ = [
    "CollapsedComponentError",
    "Gaussian",
    "GaussianMixture",
    "InvalidInputError",
    "InvalidParameterError",
    "ModelSelection",
    "NonNumericDataError",
    "select_model",
]

__version__ = "0.1.0"
