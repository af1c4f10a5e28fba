"""Covariance models: one registry from names (mclust codes and scikit-learn aliases) to models.

See ``docs/architecture.md``: a model is a small object with a form (the density kernel
it needs), the kind of scatter it needs from the chunks, its parameter count and its
M-step rule. Nothing else in gaussmix switches on a model's name.
"""

from __future__ import annotations

from gaussmix.covariance.base import CovarianceModel, Form, Orientation, ScatterKind
from gaussmix.covariance.closed_form import Diagonal, Full, Spherical, Tied
from gaussmix.covariance.constrained import EEI, EEV, EII, EVI, EVV
from gaussmix.covariance.iterative import EVE, VEE, VEI, VEV, VVE
from gaussmix.exceptions import InvalidParameterError

__all__ = [
    "MCLUST_MODELS",
    "CovarianceModel",
    "Form",
    "Orientation",
    "ScatterKind",
    "available_covariance_types",
    "get_covariance_model",
    "register_covariance_model",
]

_REGISTRY: dict[str, CovarianceModel] = {}


def register_covariance_model(model: CovarianceModel) -> None:
    """Make a covariance model available under its name and aliases.

    Parameters
    ----------
    model : CovarianceModel
        The model to register.
    """
    for key in (model.name, *model.aliases):
        _REGISTRY[key] = model


def available_covariance_types() -> list[str]:
    """Every accepted ``covariance_type`` value (names and aliases).

    Returns
    -------
    list of str
    """
    return sorted(_REGISTRY)


def get_covariance_model(name: str) -> CovarianceModel:
    """Look up a covariance model by mclust code or scikit-learn name.

    Parameters
    ----------
    name : str
        For example ``"full"``, ``"VVV"``, ``"tied"`` or ``"EEE"``.

    Returns
    -------
    CovarianceModel

    Raises
    ------
    InvalidParameterError
        If the name is unknown.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise InvalidParameterError(
            f"covariance_type must be one of {available_covariance_types()}; got {name!r}. "
            "Use 'full' for unconstrained covariances."
        ) from None


MCLUST_MODELS: tuple[str, ...] = (
    "EII",
    "VII",
    "EEI",
    "VEI",
    "EVI",
    "VVI",
    "EEE",
    "VEE",
    "EVE",
    "VVE",
    "EEV",
    "VEV",
    "EVV",
    "VVV",
)
"""The fourteen mclust codes, in mclust's order."""

for _model in (
    EII(),
    Spherical(),
    EEI(),
    VEI(),
    EVI(),
    Diagonal(),
    Tied(),
    VEE(),
    EVE(),
    VVE(),
    EEV(),
    VEV(),
    EVV(),
    Full(),
):
    register_covariance_model(_model)
