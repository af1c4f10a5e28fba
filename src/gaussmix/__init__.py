"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization.

The public names are imported on first use (PEP 562), so that ``import gaussmix`` and the
``gaussmix --help`` command start without loading scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gaussmix.discriminant import MixtureDiscriminantAnalysis
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
    from gaussmix.imputation import GaussianMixtureImputer
    from gaussmix.io import load, save
    from gaussmix.priors import Prior
    from gaussmix.selection import ModelSelection, select_model
    from gaussmix.uncertainty import bootstrap

__all__ = [
    "CollapsedComponentError",
    "CollapsedComponentWarning",
    "Gaussian",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "InvalidInputError",
    "InvalidParameterError",
    "MixtureDiscriminantAnalysis",
    "ModelFileError",
    "ModelSelection",
    "NonNumericDataError",
    "Prior",
    "bootstrap",
    "load",
    "save",
    "select_model",
]

__version__ = "0.1.0"

# Where each public name lives.
_HOMES = {
    "GaussianMixture": "gaussmix.estimator",
    "GaussianMixtureImputer": "gaussmix.imputation",
    "CollapsedComponentError": "gaussmix.exceptions",
    "CollapsedComponentWarning": "gaussmix.exceptions",
    "InvalidInputError": "gaussmix.exceptions",
    "InvalidParameterError": "gaussmix.exceptions",
    "ModelFileError": "gaussmix.exceptions",
    "NonNumericDataError": "gaussmix.exceptions",
    "MixtureDiscriminantAnalysis": "gaussmix.discriminant",
    "bootstrap": "gaussmix.uncertainty",
    "Gaussian": "gaussmix.gaussian",
    "load": "gaussmix.io",
    "save": "gaussmix.io",
    "ModelSelection": "gaussmix.selection",
    "select_model": "gaussmix.selection",
    "Prior": "gaussmix.priors",
}


def __getattr__(name: str) -> Any:
    """Import a public name, or a submodule (``gaussmix.io``), when it is first used."""
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
