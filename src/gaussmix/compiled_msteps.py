"""Python entry to the compiled M-steps of VEI, VEE, VEV, EVE and VVE (numba on first use).

The compiled functions (:mod:`gaussmix._compiled_msteps`) are meant to be called from
other compiled code (the small-data EM loop); :func:`compiled_estimate` calls one from
Python, for tests and benchmarks, with the arguments the Python models take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gaussmix.fused import available

__all__ = ["COMPILED_MODELS", "available", "compiled_estimate", "compiled_mstep"]

COMPILED_MODELS: tuple[str, ...] = ("VEI", "VEE", "VEV", "EVE", "VVE")
"""The mclust codes with a compiled M-step."""

_FUNCTIONS = {code: f"{code.lower()}_mstep" for code in COMPILED_MODELS}


def compiled_mstep(code: str) -> Callable[..., int]:
    """The compiled M-step of one model: ``f(n_k, W, reg_covar, previous, has_previous, out)``.

    Parameters
    ----------
    code : str
        One of :data:`COMPILED_MODELS`.

    Returns
    -------
    numba dispatcher
        Returns 0 with the dense covariances in ``out``, or a nonzero status (the Python
        model must then be run instead).

    Raises
    ------
    ValueError
        If ``code`` has no compiled M-step.
    """
    if code not in _FUNCTIONS:
        raise ValueError(
            f"code must be one of {', '.join(COMPILED_MODELS)} (the models with an inner "
            f"iteration); got {code!r}. The other models have closed-form M-steps."
        )
    from gaussmix import _compiled_msteps

    return getattr(_compiled_msteps, _FUNCTIONS[code])


def compiled_estimate(
    code: str,
    n_k: np.ndarray,
    scatter: np.ndarray,
    reg_covar: float,
    previous: np.ndarray | None = None,
) -> tuple[int, np.ndarray]:
    """One compiled M-step from Python: the status and the dense covariances.

    Parameters
    ----------
    code : str
        One of :data:`COMPILED_MODELS`.
    n_k : ndarray of shape (K,)
        Effective numbers of points, as :func:`gaussmix.mstep.maximize` hands them to the
        model's ``estimate``.
    scatter : ndarray of shape (K, D, D)
        Full centred scatter matrices (VEI reads their diagonals).
    reg_covar : float
        Non-negative regularisation.
    previous : ndarray of shape (K, D, D), optional
        Dense covariances of the previous iteration (the warm start).

    Returns
    -------
    status : int
        0 on success; nonzero where the Python model raises or must decide
        (:data:`gaussmix._compiled_msteps.COLLAPSED`, ``HAND_OVER``).
    covariances : ndarray of shape (K, D, D)
        Dense covariances (undefined when ``status`` is nonzero).
    """
    function = compiled_mstep(code)
    n_k = np.ascontiguousarray(n_k, dtype=np.float64)
    scatter = np.ascontiguousarray(scatter, dtype=np.float64)
    has_previous = previous is not None
    previous = (
        np.zeros_like(scatter)
        if previous is None
        else np.ascontiguousarray(previous, dtype=np.float64)
    )
    out = np.empty_like(scatter)
    status: Any = function(n_k, scatter, float(reg_covar), previous, bool(has_previous), out)
    return int(status), out
