"""Figures of fitted mixtures (matplotlib, optional extra ``plot``); each returns its Figure.

Every function that draws data accepts NumPy arrays, pandas frames, torch tensors and Dask
collections; lazy data are represented by a random sample (:func:`rows_to_plot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.atomic import atomic_write
from gaussmix.covariance.forms import dense_covariances
from gaussmix.exceptions import InvalidInputError
from gaussmix.parameters import MixtureParameters

__all__ = [
    "add_component_ellipses",
    "plot_bic",
    "plot_clusters",
    "plot_density",
    "plot_em_progress",
    "plot_histogram",
    "plot_log_likelihood",
    "plot_model",
    "plot_scatter_matrix",
    "plot_uncertainty",
    "rows_to_plot",
    "save_figure",
]

# A figure cannot show more points than this usefully; lazy (Dask) data are sampled to it.
MAX_PLOTTED_ROWS = 100_000

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
    for axes in grid.ravel():
        # Shared axes: labels only on the outer panels, so the panels get the space.
        axes.label_outer()
    grid.ravel()[0].legend(handles=legend, loc="upper left", fontsize=8, framealpha=0.9)
    figure.suptitle("EM after L iterations: points coloured by responsibility (red–purple–blue)")
    figure.tight_layout()
    return figure


# ------------------------------------------------------------- fitted models
def _dense_covariances(model: Any) -> np.ndarray:
    """(K, D, D) covariances of a fitted estimator, whatever its covariance model."""
    covariances = np.asarray(model.covariances_)
    n_components, n_features = np.shape(model.means_)
    if covariances.shape == (n_components, n_features, n_features):
        return covariances
    form = model._covariance_model().form
    return dense_covariances(covariances, form, n_components, n_features)


def _feature_names(model: Any, n_features: int, given: Sequence[str] | None) -> list[str]:
    if given is not None:
        return list(given)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    return [f"x{index}" for index in range(n_features)]


def rows_to_plot(X: Any, max_rows: int = MAX_PLOTTED_ROWS, seed: int = 0) -> np.ndarray:
    """The rows of X that a figure draws, as a float NumPy array.

    Parameters
    ----------
    X : array-like, torch tensor, Dask array or Dask dataframe
        The data.
    max_rows : int, default=100,000
        Lazy (Dask) data with more rows are represented by a uniform random sample of this
        many rows, in their original order, computed once; in-memory data are drawn whole.
    seed : int, default=0
        Seed of the sample, so that the same data give the same figure.

    Returns
    -------
    ndarray
    """
    from gaussmix.backends.dask import is_dask_collection
    from gaussmix.backends.torch import to_numpy

    if not is_dask_collection(X):
        return np.asarray(to_numpy(X), dtype=float)
    if hasattr(X, "to_dask_array"):  # a dataframe: its row count is not known lazily
        X = X.to_dask_array(lengths=True)
    n_rows = int(X.shape[0])
    if n_rows > max_rows:
        chosen = np.random.default_rng(seed).choice(n_rows, size=max_rows, replace=False)
        X = X[np.sort(chosen)]
    return np.asarray(X.compute(), dtype=float)


def _check_dimension(X: Any, expected: int | None, function: str) -> np.ndarray:
    values = rows_to_plot(X)
    if values.ndim != 2 or (expected is not None and values.shape[1] != expected):
        raise InvalidInputError(
            f"{function} needs X of shape (n_samples, {expected or 'n_features'}); got shape "
            f"{values.shape}. Use plot_model, which picks the figure for the dimension."
        )
    return values


def _colour(component: int) -> str:
    return _COLOURS[component % len(_COLOURS)]


def _component_legend(target: Any, model: Any, n_sigmas: Sequence[float]) -> None:
    """Legend of component colours and ellipse styles, on an Axes or a whole Figure."""
    lines = import_optional("matplotlib.lines", "plot", "Plotting")
    handles = [
        lines.Line2D(
            [],
            [],
            color=_colour(k),
            marker="o",
            linestyle="",
            label=f"component {k} (weight {weight:.2f})",
        )
        for k, weight in enumerate(model.weights_)
    ]
    for index, radius in enumerate(n_sigmas):
        handles.append(
            lines.Line2D(
                [],
                [],
                color="black",
                linewidth=2.0 if index == 0 else 1.0,
                linestyle="-" if index == 0 else "--",
                label=f"{radius:g}σ ellipse",
            )
        )
    if hasattr(target, "add_subplot"):
        target.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.965),
            ncol=len(handles),
            fontsize=8,
            frameon=False,
        )
    else:
        target.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)


def plot_clusters(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    n_sigmas: Sequence[float] = (1.0, 2.0),
) -> Any:
    """Two-feature data coloured by component, with each component's n-sigma ellipses.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture with two features.
    X : array-like of shape (n_samples, 2)
        The data, in the model's units.
    feature_names : sequence of str, optional
        Axis labels (default: the model's feature names, else x0, x1).
    n_sigmas : sequence of float, default=(1.0, 2.0)
        Mahalanobis radii of the ellipses (solid for the first, dashed for the others).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    values = _check_dimension(X, 2, "plot_clusters")
    names = _feature_names(model, 2, feature_names)
    labels = model.predict(_as_input(model, values))
    figure, axes = plt.subplots(figsize=(6.4, 5.2))
    for k in range(len(model.weights_)):
        rows = values[labels == k]
        axes.scatter(rows[:, 0], rows[:, 1], s=14, color=_colour(k), alpha=0.7, edgecolors="none")
    add_component_ellipses(
        axes, np.asarray(model.means_), _dense_covariances(model), n_sigmas=n_sigmas
    )
    axes.scatter(*np.asarray(model.means_).T, marker="x", s=60, color="black", zorder=3)
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title(f"{len(model.weights_)} components ({model.covariance_type}), points by label")
    _component_legend(axes, model, n_sigmas)
    figure.tight_layout()
    return figure


def plot_uncertainty(model: Any, X: Any, *, feature_names: Sequence[str] | None = None) -> Any:
    """Classification uncertainty: point size grows with 1 − max_k γ(z_nk), as in mclust.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture with two features.
    X : array-like of shape (n_samples, 2)
        The data.
    feature_names : sequence of str, optional
        Axis labels.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The uncertainty of row n is ``1 − max_k γ(z_nk)``: 0 for a row owned by one component,
    up to ``1 − 1/K`` for a row shared equally. Points are scaled so that the most
    uncertain possible row gets the largest marker.

    References
    ----------
    Fraley, C. and Raftery, A. E. (2002). Model-based clustering, discriminant analysis
    and density estimation. *JASA* 97, 611–631 (the uncertainty plot of mclust).
    """
    plt = _pyplot()
    values = _check_dimension(X, 2, "plot_uncertainty")
    names = _feature_names(model, 2, feature_names)
    responsibilities = model.predict_proba(_as_input(model, values))
    labels = responsibilities.argmax(axis=1)
    uncertainty = 1.0 - responsibilities.max(axis=1)
    largest = 1.0 - 1.0 / max(responsibilities.shape[1], 2)
    sizes = 4.0 + 140.0 * uncertainty / largest
    figure, axes = plt.subplots(figsize=(6.4, 5.2))
    for k in range(responsibilities.shape[1]):
        chosen = labels == k
        axes.scatter(
            values[chosen, 0],
            values[chosen, 1],
            s=sizes[chosen],
            color=_colour(k),
            alpha=0.6,
            edgecolors="none",
        )
    add_component_ellipses(
        axes, np.asarray(model.means_), _dense_covariances(model), n_sigmas=(1.0,)
    )
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title(f"Uncertainty 1 − max responsibility (largest {uncertainty.max():.2f})")
    _component_legend(axes, model, (1.0,))
    figure.tight_layout()
    return figure


def _grid(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = values.min(axis=0), values.max(axis=0)
    margin = 0.1 * (high - low) + 1e-12
    first = np.linspace(low[0] - margin[0], high[0] + margin[0], size)
    second = np.linspace(low[1] - margin[1], high[1] + margin[1], size)
    return np.meshgrid(first, second)


def plot_density(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    levels: int = 10,
    grid_size: int = 150,
) -> Any:
    """Contours of the mixture's log-density over the data (two features).

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture with two features.
    X : array-like of shape (n_samples, 2)
        The data, drawn as small points.
    feature_names : sequence of str, optional
        Axis labels.
    levels : int, default=10
        Number of contour levels of log p(x).
    grid_size : int, default=150
        Grid points per axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    values = _check_dimension(X, 2, "plot_density")
    names = _feature_names(model, 2, feature_names)
    first, second = _grid(values, grid_size)
    points = np.column_stack([first.ravel(), second.ravel()])
    if getattr(model, "feature_names_in_", None) is not None:
        import pandas as pd

        points = pd.DataFrame(points, columns=list(model.feature_names_in_))
    log_density = model.score_samples(points).reshape(first.shape)
    # Contours of the log-density below the 0.1 % quantile of the data's own values only
    # outline empty space; starting there keeps the levels on the data.
    floor = np.quantile(model.score_samples(_as_input(model, values)), 0.001)
    figure, axes = plt.subplots(figsize=(6.4, 5.2))
    contours = axes.contour(
        first,
        second,
        log_density,
        levels=np.linspace(floor - 1.0, log_density.max(), levels),
        cmap="viridis",
    )
    figure.colorbar(contours, ax=axes, label="log p(x)")
    axes.scatter(values[:, 0], values[:, 1], s=6, color="black", alpha=0.5, edgecolors="none")
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title(f"Mixture log-density, {len(model.weights_)} components")
    figure.tight_layout()
    return figure


def _as_input(model: Any, values: np.ndarray) -> Any:
    """Rows as the model expects them: a DataFrame when it was fitted on named columns."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return values
    import pandas as pd

    return pd.DataFrame(values, columns=list(names))


def plot_histogram(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    bins: int | str = "auto",
) -> Any:
    """One feature: a density histogram, each weighted component density and the mixture.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture with one feature.
    X : array-like of shape (n_samples, 1)
        The data.
    feature_names : sequence of one str, optional
        x-axis label (default: the model's feature name, else x0).
    bins : int or str, default="auto"
        Histogram bins (as in :func:`numpy.histogram`).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Component k is drawn as ``π_k N(x | μ_k, σ_k²)`` so that the components add up to the
    mixture density ``p(x) = Σ_k π_k N(x | μ_k, σ_k²)``.
    """
    plt = _pyplot()
    values = _check_dimension(X, 1, "plot_histogram")
    name = _feature_names(model, 1, feature_names)[0]
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    _histogram_panel(axes, model, values[:, 0], 0, bins, legend=True)
    axes.set_xlabel(name)
    axes.set_ylabel("density")
    axes.set_title(f"{len(model.weights_)} components: weighted densities and the mixture")
    figure.tight_layout()
    return figure


def _histogram_panel(
    axes: Any, model: Any, values: np.ndarray, feature: int, bins: int | str, *, legend: bool
) -> None:
    """Histogram of one feature with the marginal weighted component densities."""
    from scipy.stats import norm

    axes.hist(values, bins=bins, density=True, color="0.8", edgecolor="white", label="data")
    span = values.max() - values.min()
    grid = np.linspace(values.min() - 0.1 * span, values.max() + 0.1 * span, 400)
    covariances = _dense_covariances(model)
    densities = []
    for k, weight in enumerate(model.weights_):
        scale = np.sqrt(covariances[k, feature, feature])
        densities.append(
            weight * norm.pdf(grid, loc=np.asarray(model.means_)[k, feature], scale=scale)
        )
    # The mixture first and thin, the components shaded on top: where components do not
    # overlap the mixture coincides with one of them and would otherwise hide it.
    axes.plot(grid, np.sum(densities, axis=0), color="black", linewidth=1.2, label="mixture")
    for k, density in enumerate(densities):
        axes.fill_between(grid, density, color=_colour(k), alpha=0.25, linewidth=0)
        axes.plot(
            grid,
            density,
            color=_colour(k),
            linestyle="--",
            linewidth=1.6,
            label=f"component {k} × weight",
        )
    if legend:
        axes.legend(fontsize=8)


def plot_scatter_matrix(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    n_sigmas: Sequence[float] = (1.0, 2.0),
) -> Any:
    """Every pair of features, points by component with the marginal ellipses (D ≥ 2).

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        The data.
    feature_names : sequence of str, optional
        Labels of the features.
    n_sigmas : sequence of float, default=(1.0, 2.0)
        Ellipse radii.

    Returns
    -------
    matplotlib.figure.Figure
        A D × D grid: histograms with the marginal mixture density on the diagonal, pairs
        elsewhere.

    Notes
    -----
    The marginal of a Gaussian on features (i, j) is Gaussian with the (i, j) sub-vector
    of the mean and the 2 × 2 sub-matrix of the covariance, so the ellipses drawn are
    exact for the marginal components.
    """
    plt = _pyplot()
    values = _check_dimension(X, None, "plot_scatter_matrix")
    n_features = values.shape[1]
    names = _feature_names(model, n_features, feature_names)
    labels = model.predict(_as_input(model, values))
    covariances = _dense_covariances(model)
    means = np.asarray(model.means_)
    size = min(2.0 * n_features, 12.0)
    figure, grid = plt.subplots(n_features, n_features, figsize=(size, size), squeeze=False)
    for row in range(n_features):
        for column in range(n_features):
            axes = grid[row, column]
            if row == column:
                _histogram_panel(axes, model, values[:, row], row, "auto", legend=False)
                axes.set_yticks([])
            else:
                for k in range(len(model.weights_)):
                    chosen = labels == k
                    axes.scatter(
                        values[chosen, column],
                        values[chosen, row],
                        s=5,
                        color=_colour(k),
                        alpha=0.6,
                        edgecolors="none",
                    )
                pair = [column, row]
                add_component_ellipses(
                    axes, means[:, pair], covariances[:, pair][:, :, pair], n_sigmas=n_sigmas
                )
            if row == n_features - 1:
                axes.set_xlabel(names[column])
            if column == 0:
                axes.set_ylabel(names[row])
    _component_legend(figure, model, n_sigmas)
    figure.suptitle(f"{len(model.weights_)} components ({model.covariance_type}), all pairs")
    # Room at the top for the title and the figure-wide legend.
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    return figure


def plot_model(model: Any, X: Any, **options: Any) -> Any:
    """The natural picture of a fit for its dimension.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        The data.
    **options
        Passed to the function chosen.

    Returns
    -------
    matplotlib.figure.Figure
        :func:`plot_histogram` for one feature, :func:`plot_clusters` for two and
        :func:`plot_scatter_matrix` for more.
    """
    values = rows_to_plot(X)
    n_features = values.shape[1] if values.ndim == 2 else 0
    if n_features == 1:
        return plot_histogram(model, values, **options)
    if n_features == 2:
        return plot_clusters(model, values, **options)
    return plot_scatter_matrix(model, values, **options)


def plot_log_likelihood(model: Any) -> Any:
    """The mean log-likelihood after every EM iteration of the kept start.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture (uses ``log_likelihood_history_``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    history = np.asarray(model.log_likelihood_history_)
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    axes.plot(
        np.arange(len(history)),
        history,
        marker="o",
        markersize=3,
        color="tab:blue",
        label="mean log-likelihood",
    )
    state = "converged" if model.converged_ else "not converged"
    axes.axhline(
        history[-1],
        color="0.5",
        linestyle=":",
        linewidth=1.0,
        label=f"final {history[-1]:.4f} ({state})",
    )
    axes.set_xlabel("EM iteration")
    axes.set_ylabel("mean log-likelihood per sample")
    axes.set_title("EM never decreases the likelihood")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure


def plot_bic(results: Any, *, criterion: str = "bic") -> Any:
    """Information criterion against K, one line per covariance model; the best is starred.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per fit with columns ``covariance_type``, ``n_components`` and the
        criterion (e.g. the ``results_`` of a model selection); NaN marks a failed fit.
    criterion : str, default="bic"
        Column to draw; lower is better.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    missing = {"covariance_type", "n_components", criterion} - set(results.columns)
    if missing:
        raise InvalidInputError(
            f"plot_bic needs columns covariance_type, n_components and {criterion}; the "
            f"results lack {sorted(missing)}. Pass the results_ table of a model selection."
        )
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    markers = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d", "8")
    for index, (name, group) in enumerate(results.groupby("covariance_type", sort=True)):
        group = group.sort_values("n_components")
        axes.plot(
            group["n_components"],
            group[criterion],
            marker=markers[index % len(markers)],
            markersize=4,
            linewidth=1.2,
            label=str(name),
        )
    finite = results[np.isfinite(results[criterion].to_numpy(dtype=float))]
    if len(finite):
        best = finite.loc[finite[criterion].idxmin()]
        axes.scatter(
            [best["n_components"]],
            [best[criterion]],
            marker="*",
            s=260,
            facecolor="gold",
            edgecolor="black",
            zorder=4,
            label=f"best: K = {int(best['n_components'])}, {best['covariance_type']}",
        )
    axes.set_xlabel("number of components K")
    axes.set_ylabel(f"{criterion.upper()} (lower is better)")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_title(f"Model selection by {criterion.upper()}")
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    return figure


def save_figure(figure: Any, path: Any, *, dpi: int = 100) -> Any:
    """Write a figure to a PNG (or any format matplotlib knows from the suffix), atomically.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure; it is closed afterwards to free its memory.
    path : str or Path
        Destination.
    dpi : int, default=100
        Resolution.

    Returns
    -------
    Path
        The destination.
    """
    from io import BytesIO
    from pathlib import Path

    plt = _pyplot()
    destination = Path(path)
    buffer = BytesIO()
    suffix = destination.suffix.lstrip(".").lower() or "png"
    figure.savefig(buffer, dpi=dpi, format=suffix)
    plt.close(figure)
    return atomic_write(destination, buffer.getvalue())
