"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization."""

from gaussmix.estimator import GaussianMixture
from gaussmix.exceptions import (
    CollapsedComponentError,
    CollapsedComponentWarning,
    InvalidInputError,
    InvalidParameterError,
    NonNumericDataError,
)
from gaussmix.gaussian import Gaussian

__all__ = [
    "CollapsedComponentError",
    "CollapsedComponentWarning",
    "Gaussian",
    "GaussianMixture",
    "InvalidInputError",
    "InvalidParameterError",
    "NonNumericDataError",
]

__version__ = "0.1.0"
