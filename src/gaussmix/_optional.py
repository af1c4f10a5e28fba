"""Import of optional dependencies with a message that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_optional"]


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or explain how to install it.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"matplotlib.pyplot"``.
    extra : str
        The gaussmix extra that provides it, e.g. ``"plot"``.
    purpose : str
        What needs it, for the message.

    Returns
    -------
    module

    Raises
    ------
    ImportError
        With the pip command that installs the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise ImportError(f"{purpose} needs {package}: pip install 'gaussmix[{extra}]'") from error
