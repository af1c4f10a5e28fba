"""Figures of fitted mixtures (matplotlib, optional extra ``plot``); each returns its Figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.covariance.forms import dense_covariances
from gaussmix.parameters import MixtureParameters

__all__ = ["add_component_ellipses", "plot_em_progress"]

_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown")


def _pyplot() -> Any:
    matplotlib = import_optional("matplotlib", "plot", "Plotting")
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        # Headless by default: an interactive backend would need a display.
        import os

        if not os.environ.get("DISPLAY"):
            matplotlib.use("Agg")
    return import_optional("matplotlib.pyplot", "plot", "Plotting")


def add_component_ellipses(
    axes: Any,
    means: np.ndarray,
    covariances: np.ndarray,
    *,
    n_sigmas: Sequence[float] = (1.0, 2.0),
    colours: Sequence[str] = _COLOURS,
) -> list[Any]:
    """Draw the n-sigma ellipse of each 2-D Gaussian component on ``axes``.

    Parameters
    ----------
    axes : matplotlib Axes
        Where to draw.
    means : ndarray of shape (n_components, 2)
        Component means.
    covariances : ndarray of shape (n_components, 2, 2)
        Dense covariance matrices.
    n_sigmas : sequence of float, default=(1.0, 2.0)
        Mahalanobis radii of the ellipses drawn for each component.
    colours : sequence of str
        Edge colour per component (cycled).

    Returns
    -------
    list of matplotlib.patches.Ellipse

    Notes
    -----
    The ellipse {x : (x − μ)ᵀ Σ⁻¹ (x − μ) = r²} has semi-axes r·√λ_i along the
    eigenvectors of Σ.
    """
    patches = import_optional("matplotlib.patches", "plot", "Plotting")
    drawn = []
    for component, (mean, covariance) in enumerate(zip(means, covariances, strict=True)):
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        angle = float(np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1])))
        for radius in n_sigmas:
            width, height = 2.0 * radius * np.sqrt(eigenvalues[::-1])
            ellipse = patches.Ellipse(
                xy=mean,
                width=width,
                height=height,
                angle=angle,
                fill=False,
                edgecolor=colours[component % len(colours)],
                linewidth=2.0 if radius == n_sigmas[0] else 1.0,
                linestyle="-" if radius == n_sigmas[0] else "--",
            )
            axes.add_patch(ellipse)
            drawn.append(ellipse)
    return drawn


def plot_em_progress(
    X: np.ndarray,
    snapshots: Sequence[tuple[int, MixtureParameters, np.ndarray]],
    *,
    feature_names: Sequence[str] = ("x₁", "x₂"),
    log_likelihoods: Sequence[float] | None = None,
) -> Any:
    """Panels of 2-D data coloured by responsibility with component ellipses, one per snapshot.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 2)
        The data.
    snapshots : sequence of (iteration, MixtureParameters, responsibilities)
        The parameters after ``iteration`` EM iterations and the responsibilities of
        the rows under them (shape (n_samples, n_components); the first two components
        set the colour, red to blue, as in Bishop's Figure 9.8).
    feature_names : sequence of str
        Axis labels.
    log_likelihoods : sequence of float, optional
        Mean log-likelihood per snapshot, shown in the panel titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    lines = import_optional("matplotlib.lines", "plot", "Plotting")
    n_panels = len(snapshots)
    columns = 2 if n_panels == 4 else n_panels
    rows = -(-n_panels // columns)
    figure, grid = plt.subplots(
        rows, columns, figsize=(4.6 * columns, 4.4 * rows), sharex=True, sharey=True, squeeze=False
    )
    for index, (axes, (iteration, parameters, responsibilities)) in enumerate(
        zip(grid.ravel(), snapshots, strict=True)
    ):
        red = responsibilities[:, 0]
        blue = responsibilities[:, 1] if responsibilities.shape[1] > 1 else 1 - red
        colours = np.stack([red, np.zeros_like(red), blue], axis=1)
        colours = np.clip(colours / np.maximum(colours.max(axis=1, keepdims=True), 1e-12), 0, 1)
        axes.scatter(X[:, 0], X[:, 1], c=colours, s=12, edgecolors="none", alpha=0.85)
        dense = dense_covariances(
            parameters.covariances, parameters.form, parameters.n_components, parameters.n_features
        )
        add_component_ellipses(axes, parameters.means, dense)
        title = f"L = {iteration}"
        if log_likelihoods is not None:
            title += f"   (mean log-lik {log_likelihoods[index]:.3f})"
        axes.set_title(title, fontsize=10)
        axes.set_xlabel(feature_names[0])
        axes.set_ylabel(feature_names[1])
        axes.set_aspect("equal", adjustable="box")
    legend = [
        lines.Line2D([], [], color="black", linewidth=2.0, label="1σ ellipse"),
        lines.Line2D([], [], color="black", linewidth=1.0, linestyle="--", label="2σ ellipse"),
        lines.Line2D(
            [], [], color="tab:red", marker="o", linestyle="", label="owned by component 1"
        ),
        lines.Line2D(
            [], [], color="tab:blue", marker="o", linestyle="", label="owned by component 2"
        ),
    ]
    grid.ravel()[0].legend(handles=legend, loc="upper left", fontsize=8, framealpha=0.9)
    figure.suptitle("EM after L iterations: points coloured by responsibility (red–purple–blue)")
    figure.tight_layout()
    return figure
