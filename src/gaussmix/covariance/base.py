"""The interface every covariance model implements."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["CovarianceModel", "Form", "Orientation", "ScatterKind"]

Form = Literal["spherical", "diagonal", "tied", "full"]
"""Density kernel a model's covariances are read by (see :mod:`gaussmix.covariance.forms`)."""

ScatterKind = Literal["trace", "diagonal", "full"]
"""How much of each component's scatter matrix the chunks must ship to the M-step."""

Orientation = Literal["identity", "shared", "variable"]
"""The orientation constraint of a model: the third letter of its mclust code (I, E, V)."""


@runtime_checkable
class CovarianceModel(Protocol):
    """A constraint on the component covariances and its maximum-likelihood M-step.

    Attributes
    ----------
    name : str
        Canonical name (an mclust code such as ``"VVV"``).
    aliases : tuple of str
        Other accepted names (the scikit-learn name, if any).
    form : {"spherical", "diagonal", "tied", "full"}
        Shape of the covariance arrays and the density kernel that reads them.
    scatter : {"trace", "diagonal", "full"}
        Which part of the within-component scatter the M-step needs.
    orientation : {"identity", "shared", "variable"}
        The orientation constraint, used to read volume, shape and orientation off the
        fitted covariances.
    """

    name: str
    aliases: tuple[str, ...]
    form: Form
    scatter: ScatterKind
    orientation: Orientation

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Number of free covariance parameters for K components in D dimensions."""
        ...

    def estimate(
        self,
        n_k: np.ndarray,
        scatter: np.ndarray,
        reg_covar: float,
        n_features: int,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """Maximum-likelihood covariances from the centred within-component scatter.

        Parameters
        ----------
        n_k : ndarray of shape (n_components,)
            Effective number of points of each component.
        scatter : ndarray
            Centred scatter ``W_k = Σ_n w_n γ_nk (x_n − μ_k)(x_n − μ_k)ᵀ`` reduced to the
            model's :attr:`scatter` kind: ``(K,)`` traces, ``(K, D)`` diagonals or
            ``(K, D, D)`` matrices.
        reg_covar : float
            Non-negative value added once to every variance.
        n_features : int
            D, the dimension of the data.
        previous : ndarray, optional
            The covariances of the previous EM iteration, in the compact shape of
            :attr:`form`. Models with an inner iteration start it there (a warm start) and
            never return covariances with a higher objective
            ``Σ_k n_k log|Σ_k| + tr(W_k Σ_k⁻¹)`` than ``previous`` when it satisfies the
            constraint; closed-form models ignore it. :func:`gaussmix.mstep.maximize`
            passes it as a keyword, and only to models whose ``estimate`` has this
            parameter, so a model written without it still works (always cold).

        Returns
        -------
        ndarray
            Covariances in the compact shape of :attr:`form`.
        """
        ...
