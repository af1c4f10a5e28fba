"""The command line's options for mclust's model extensions: a prior, equal proportions, noise.

``gaussmix fit`` and ``gaussmix select`` take the same three options; they become the
``prior``, ``equal_proportions`` and ``noise`` parameters of the estimator and of
``select_model``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["extension_options", "extension_settings"]


def extension_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--prior``, ``--equal-proportions`` and ``--noise`` to a command.

    Parameters
    ----------
    function : callable
        The click command function; it receives ``prior``, ``equal_proportions`` and
        ``noise``.

    Returns
    -------
    callable
    """
    function = click.option(
        "--noise",
        is_flag=True,
        help="Add a uniform noise component (outliers; mclust's noise). Noise rows get -1.",
    )(function)
    function = click.option(
        "--equal-proportions",
        is_flag=True,
        help="Fix every mixing proportion to 1/K (mclust's equalPro).",
    )(function)
    return click.option(
        "--prior",
        type=click.Choice(["default"]),
        default=None,
        help="'default': mclust's conjugate prior (priorControl()); the fit is the MAP.",
    )(function)


def extension_settings(
    prior: str | None = None, equal_proportions: bool = False, noise: bool = False
) -> dict[str, Any]:
    """The estimator / select_model parameters of the three options (only those given).

    Parameters
    ----------
    prior : {"default"} or None
    equal_proportions, noise : bool

    Returns
    -------
    dict
    """
    settings: dict[str, Any] = {}
    if prior is not None:
        settings["prior"] = prior
    if equal_proportions:
        settings["equal_proportions"] = True
    if noise:
        settings["noise"] = True
    return settings
