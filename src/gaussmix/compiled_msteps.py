"""Python entry to the compiled M-steps of VEI, VEE, VEV, EVE and VVE (numba on first use).

The compiled functions (:mod:`gaussmix._compiled_msteps`) are meant to be called from
other compiled code (the small-data EM loop); :func:`compiled_estimate` calls one from
Python with the arguments the Python models take.

:class:`CompiledIterativeModel` is the compiled twin of an iterative model for the
M-steps the compiled loop leaves to Python: each fit's first M-step (cold, from the
starting responsibilities: the EVE and VVE rotation search costs about 10 ms in Python)
and the iterations handed back to the Python loop (a re-seed, a collapse check). On
banknote (200 × 6) the Python VVE M-steps took 3.8 s of a 5.6 s ``select_model`` profile.
:func:`compiled_model` chooses it once per fit, by value, where the compiled loop itself
would run (the small-data executor with its compiled kernels, float64 data, the model's
default settings); its ``estimate`` runs the Python model whenever the compiled one
returns a nonzero status, so that errors and edge cases are the Python model's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gaussmix import compiling
from gaussmix.backends.numpy import SmallDataBackend
from gaussmix.covariance.attributes import compact_from_dense
from gaussmix.covariance.base import CovarianceModel
from gaussmix.covariance.forms import dense_covariances
from gaussmix.covariance.iterative import EVE, VEE, VEI, VEV, VVE
from gaussmix.fused import available

__all__ = [
    "COMPILED_MODELS",
    "CompiledIterativeModel",
    "available",
    "compiled_estimate",
    "compiled_model",
    "compiled_mstep",
    "python_model",
]

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
    if code not in _FUNCTIONS:
        compiled_mstep(code)  # raises, naming the models
    from gaussmix import _compiled_msteps

    n_k = np.ascontiguousarray(n_k, dtype=np.float64)
    scatter = np.ascontiguousarray(scatter, dtype=np.float64)
    has_previous = previous is not None
    previous = (
        np.zeros_like(scatter)
        if previous is None
        else np.ascontiguousarray(previous, dtype=np.float64)
    )
    out = np.empty_like(scatter)
    status: Any = compiling.call(
        _compiled_msteps.iterative_mstep,
        np.int64(COMPILED_MODELS.index(code)),
        n_k,
        scatter,
        float(reg_covar),
        previous,
        bool(has_previous),
        out,
    )
    return int(status), out


# The Python models with a compiled M-step, by type (their default settings only).
_ITERATIVE: dict[type, str] = {VEI: "VEI", VEE: "VEE", VEV: "VEV", EVE: "EVE", VVE: "VVE"}
# As gaussmix.compiled_em: the compiled arithmetic repeats NumPy's sums up to 128 terms.
_MAX_TERMS = 128


class CompiledIterativeModel:
    """An iterative covariance model whose ``estimate`` runs the compiled M-step.

    Same name, form, scatter kind, orientation and parameter count as the Python model it
    wraps, and the same optimum (the compiled steps repeat the Python ones to rounding,
    ``tests/test_compiled_msteps.py``), with the same monotone guard against the previous
    covariances. Where the compiled M-step returns a nonzero status (a collapse, a
    non-finite value) the Python model runs, and raises or decides as it always does.

    Parameters
    ----------
    model : CovarianceModel
        A VEI, VEE, VEV, EVE or VVE model with its default settings.
    """

    def __init__(self, model: CovarianceModel):
        code = _ITERATIVE.get(type(model))
        if code is None or model != type(model)():
            raise ValueError(
                "model must be one of the iterative models "
                f"{', '.join(COMPILED_MODELS)} with its default settings; got {model!r}."
            )
        self.model = model
        self.code = code
        self.name = model.name
        self.aliases = model.aliases
        self.form = model.form
        self.scatter = model.scatter
        self.orientation = model.orientation

    def __repr__(self) -> str:
        return f"CompiledIterativeModel({self.model!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledIterativeModel) and other.model == self.model

    def __hash__(self) -> int:
        return hash((CompiledIterativeModel, self.model))

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """The wrapped model's count of free covariance parameters."""
        return self.model.n_parameters(n_components, n_features)

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Covariances in the model's compact shape (see :meth:`CovarianceModel.estimate`)."""
        n_components = n_k.shape[0]
        compact_shape = scatter.shape
        if previous is not None and np.shape(previous) != compact_shape:
            previous = None  # the Python model ignores it as well (warm_start.usable_previous)
        if self.form == "diagonal":
            matrices = np.zeros((n_components, n_features, n_features))
            diagonal = np.arange(n_features)
            matrices[:, diagonal, diagonal] = scatter
        else:
            matrices = scatter
        dense_previous = (
            None
            if previous is None
            else dense_covariances(np.asarray(previous), self.form, n_components, n_features)
        )
        status, dense = compiled_estimate(self.code, n_k, matrices, reg_covar, dense_previous)
        if status != 0:
            return self.model.estimate(n_k, scatter, reg_covar, n_features, previous=previous)
        return compact_from_dense(dense, self.form)


def python_model(model: CovarianceModel) -> CovarianceModel:
    """The Python model behind a :class:`CompiledIterativeModel` (any other model itself).

    Parameters
    ----------
    model : CovarianceModel

    Returns
    -------
    CovarianceModel
    """
    return model.model if isinstance(model, CompiledIterativeModel) else model


def compiled_model(model: CovarianceModel, backend: object) -> CovarianceModel:
    """The model whose M-steps a fit on ``backend`` runs: the compiled twin, or ``model``.

    Parameters
    ----------
    model : CovarianceModel
        The fit's covariance model.
    backend : object
        The fit's executor.

    Returns
    -------
    CovarianceModel
        A :class:`CompiledIterativeModel` when ``model`` is VEI, VEE, VEV, EVE or VVE with
        its default settings, and ``backend`` is the small-data executor using its
        compiled kernels on float64 data of at most 128 features (there the compiled EM
        loop runs the same M-steps); otherwise ``model`` itself.
    """
    if type(model) not in _ITERATIVE or not available():
        return model
    if type(backend) is not SmallDataBackend or not backend.use_fused:
        return model
    X = backend.X
    if X.dtype != np.float64 or X.ndim != 2 or X.shape[1] > _MAX_TERMS:
        return model
    if model != type(model)():
        return model  # a variant (another inner tolerance, say) keeps its own M-step
    return CompiledIterativeModel(model)
