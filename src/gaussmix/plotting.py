"""Figures of fitted mixtures (matplotlib, optional extra ``plot``); each returns its Figure.

Every function that draws data accepts NumPy arrays, pandas frames, torch tensors and Dask
collections; lazy data are represented by a random sample (:func:`rows_to_plot`).

No function touches pyplot's state: given ``ax=`` (or ``figure=`` for the multi-panel
figures) it draws there, otherwise it makes a free-standing
:class:`matplotlib.figure.Figure` with constrained layout, which nothing keeps alive once
the caller drops it (pyplot would keep every figure it made until ``plt.close``).
"""

from __future__ import annotations

import colorsys
import math
import operator
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.atomic import atomic_write
from gaussmix.covariance.forms import dense_covariances
from gaussmix.exceptions import InvalidInputError, InvalidParameterError
from gaussmix.parameters import MixtureParameters

__all__ = [
    "add_component_ellipses",
    "component_colours",
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

# matplotlib's tab10, then the light halves of tab20: 20 colours told apart in print.
_QUALITATIVE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
)

# One fixed (colour, marker) per mclust model, so a model looks the same in every figure,
# whichever models a table holds; scikit-learn names take their model's style.
_MODEL_STYLES = {
    "EII": ("#1f77b4", "o"),
    "VII": ("#ff7f0e", "s"),
    "EEI": ("#2ca02c", "^"),
    "VEI": ("#d62728", "v"),
    "EVI": ("#9467bd", "D"),
    "VVI": ("#8c564b", "<"),
    "EEE": ("#e377c2", ">"),
    "VEE": ("#7f7f7f", "p"),
    "EVE": ("#bcbd22", "h"),
    "VVE": ("#17becf", "P"),
    "EEV": ("#000000", "X"),
    "VEV": ("#393b79", "d"),
    "EVV": ("#8c6d31", "x"),
    "VVV": ("#637939", "+"),
}
_OTHER_MARKERS = ("o", "s", "^", "v", "D", "<", ">", "p", "h", "P")

_ELLIPSE_STYLES = ({"linewidth": 2.0, "linestyle": "-"}, {"linewidth": 1.0, "linestyle": "--"})


def component_colours(n_components: int) -> list[str]:
    """Distinct colours for ``n_components`` components, as hex strings.

    Parameters
    ----------
    n_components : int
        Number of colours wanted.

    Returns
    -------
    list of str
        matplotlib's tab10 for up to 10 components, with tab20's light colours after them
        up to 20; beyond 20, colours spaced by the golden angle in hue at three lightness
        levels (distinct for any number a figure can show).
    """
    if n_components <= len(_QUALITATIVE):
        return list(_QUALITATIVE[:n_components])
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    colours = []
    for k in range(n_components):
        hue = (k * golden) % 1.0
        lightness = (0.35, 0.5, 0.65)[k % 3]
        red, green, blue = colorsys.hls_to_rgb(hue, lightness, 0.75)
        colours.append(f"#{round(255 * red):02x}{round(255 * green):02x}{round(255 * blue):02x}")
    return colours


def _model_styles(names: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """(colour, marker, linestyle) per covariance model name, distinct within ``names``."""
    from gaussmix.covariance import get_covariance_model

    styles: dict[str, tuple[str, str, str]] = {}
    taken: set[tuple[str, str]] = set()
    others = 0
    for name in names:
        try:
            code = get_covariance_model(name).name
        except InvalidParameterError:
            code = None
        style = _MODEL_STYLES.get(code) if code is not None else None
        if style is None or style in taken:
            # A model outside the fourteen, or "full" beside "VVV": light colours, dashed.
            style = (
                _QUALITATIVE[10 + others % 10],
                _OTHER_MARKERS[(others // 10 + others) % len(_OTHER_MARKERS)],
            )
            others += 1
            styles[name] = (*style, "--")
        else:
            styles[name] = (*style, "-")
        taken.add(style)
    return styles


def _new_figure(figsize: tuple[float, float]) -> Any:
    """A figure outside pyplot, laid out so that legends outside the axes stay inside it."""
    figure_module = import_optional("matplotlib.figure", "plot", "Plotting")
    return figure_module.Figure(figsize=figsize, layout="constrained")


def _has_constrained_layout(figure: Any) -> bool:
    """Whether ``figure`` is a whole figure laid out by matplotlib's constrained layout."""
    figure_module = import_optional("matplotlib.figure", "plot", "Plotting")
    layout = import_optional("matplotlib.layout_engine", "plot", "Plotting")
    return isinstance(figure, figure_module.Figure) and isinstance(
        figure.get_layout_engine(), layout.ConstrainedLayoutEngine
    )


def _figure_and_axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any, bool]:
    """(figure, axes, whether the figure is ours) for ``ax`` or a new figure."""
    if ax is not None:
        return ax.figure, ax, False
    figure = _new_figure(figsize)
    return figure, figure.add_subplot(), True


def add_component_ellipses(
    axes: Any,
    means: np.ndarray,
    covariances: np.ndarray,
    *,
    n_sigmas: Sequence[float] = (1.0, 2.0),
    colours: Sequence[str] | None = None,
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
    colours : sequence of str, optional
        Edge colour per component (cycled); default :func:`component_colours`.

    Returns
    -------
    list of matplotlib.patches.Ellipse

    Notes
    -----
    The ellipse {x : (x − μ)ᵀ Σ⁻¹ (x − μ) = r²} has semi-axes r·√λ_i along the
    eigenvectors of Σ.
    """
    patches = import_optional("matplotlib.patches", "plot", "Plotting")
    if colours is None:
        colours = component_colours(len(means))
    drawn = []
    for component, (mean, covariance) in enumerate(zip(means, covariances, strict=True)):
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        angle = float(np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1])))
        for index, radius in enumerate(n_sigmas):
            width, height = 2.0 * radius * np.sqrt(eigenvalues[::-1])
            ellipse = patches.Ellipse(
                xy=mean,
                width=width,
                height=height,
                angle=angle,
                fill=False,
                edgecolor=colours[component % len(colours)],
                **_ELLIPSE_STYLES[min(index, 1)],
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
    figure: Any = None,
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
    figure : matplotlib Figure or SubFigure, optional
        Where to draw the panels; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure
    """
    lines = import_optional("matplotlib.lines", "plot", "Plotting")
    n_panels = len(snapshots)
    columns = 2 if n_panels == 4 else n_panels
    rows = -(-n_panels // columns)
    if figure is None:
        figure = _new_figure((4.6 * columns, 4.4 * rows))
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    bishop = ("tab:red", "tab:blue")
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
        add_component_ellipses(axes, parameters.means, dense, colours=bishop)
        title = f"L = {iteration}"
        if log_likelihoods is not None:
            title += f"   (mean log-lik {log_likelihoods[index]:.3f})"
        axes.set_title(title, fontsize=10)
        axes.set_xlabel(feature_names[0])
        axes.set_ylabel(feature_names[1])
        axes.set_aspect("equal", adjustable="box")
    legend = [
        lines.Line2D([], [], color="black", label="1σ ellipse", **_ELLIPSE_STYLES[0]),
        lines.Line2D([], [], color="black", label="2σ ellipse", **_ELLIPSE_STYLES[1]),
        lines.Line2D(
            [], [], color=bishop[0], marker="o", linestyle="", label="owned by component 1"
        ),
        lines.Line2D(
            [], [], color=bishop[1], marker="o", linestyle="", label="owned by component 2"
        ),
    ]
    for axes in grid.ravel():
        # Shared axes: labels only on the outer panels, so the panels get the space.
        axes.label_outer()
    grid.ravel()[0].legend(handles=legend, loc="upper left", fontsize=8, framealpha=0.9)
    figure.suptitle("EM after L iterations: points coloured by responsibility (red–purple–blue)")
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


def _pair_names(
    model: Any, n_features: int, given: Sequence[str] | None, pair: tuple[int, int], function: str
) -> list[str]:
    """Axis labels of a pair: ``given`` names every feature, or just the two drawn."""
    if given is not None and len(given) == 2 and n_features != 2:
        return list(given)
    names = _feature_names(model, n_features, given)
    if len(names) != n_features:
        raise InvalidParameterError(
            f"{function}: feature_names must name all {n_features} features or the 2 drawn; "
            f"got {len(names)} names. Pass feature_names of length {n_features} or 2."
        )
    return [names[pair[0]], names[pair[1]]]


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
            f"{function} needs X of shape (n_samples, {expected or 'n_features'}), the "
            f"model's features; got shape {values.shape}. Pass the data the model was "
            "fitted on (plot_model picks the figure for the dimension)."
        )
    return values


def _check_pair(dimensions: Any, n_features: int, function: str) -> tuple[int, int]:
    """The two features a 2-D figure draws: mclust's ``dimens``, by default the first two."""
    if n_features < 2:
        raise InvalidInputError(
            f"{function} draws two features; the model has {n_features}. Use plot_histogram "
            "(or plot_model) for one feature."
        )
    if dimensions is None:
        return (0, 1)
    try:
        pair = tuple(operator.index(index) for index in dimensions)
    except TypeError:
        pair = ()
    if len(pair) != 2 or pair[0] == pair[1] or not all(0 <= i < n_features for i in pair):
        raise InvalidParameterError(
            f"{function}: dimensions must be two different feature indices in "
            f"[0, {n_features}); got {dimensions!r}. For example dimensions=(0, 2)."
        )
    return pair


def _pair_covariances(model: Any, pair: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Means (K, 2) and covariances (K, 2, 2) of the marginal components on ``pair``.

    The marginal of N(μ, Σ) on a subset of coordinates is N(μ_S, Σ_SS): a sub-vector and
    a sub-matrix, nothing to integrate.
    """
    chosen = list(pair)
    covariances = _dense_covariances(model)
    return np.asarray(model.means_)[:, chosen], covariances[:, chosen][:, :, chosen]


def _marginal_log_density(model: Any, pair: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """log Σ_k π_k N(points | μ_k,S, Σ_k,SS): the mixture's marginal density on a pair."""
    from scipy.linalg import solve_triangular
    from scipy.special import logsumexp

    means, covariances = _pair_covariances(model, pair)
    log_components = np.empty((len(means), len(points)))
    for k, (mean, covariance) in enumerate(zip(means, covariances, strict=True)):
        factor = np.linalg.cholesky(covariance)
        whitened = solve_triangular(factor, (points - mean).T, lower=True)
        log_components[k] = (
            -0.5 * np.sum(whitened**2, axis=0)
            - np.sum(np.log(np.diag(factor)))
            - np.log(2.0 * np.pi)
        )
    log_weights = np.log(np.asarray(model.weights_, dtype=float))
    return logsumexp(log_components + log_weights[:, None], axis=0)


def _component_handles(model: Any, n_sigmas: Sequence[float]) -> list[Any]:
    lines = import_optional("matplotlib.lines", "plot", "Plotting")
    colours = component_colours(len(model.weights_))
    handles = [
        lines.Line2D(
            [],
            [],
            color=colours[k],
            marker="o",
            linestyle="",
            label=f"component {k} (weight {weight:.2f})",
        )
        for k, weight in enumerate(model.weights_)
    ]
    if hasattr(model, "noise_proportion_"):
        handles.append(
            lines.Line2D(
                [],
                [],
                color="0.45",
                marker="+",
                linestyle="",
                label=f"noise (weight {model.noise_proportion_:.2f})",
            )
        )
    for index, radius in enumerate(n_sigmas):
        handles.append(
            lines.Line2D(
                [],
                [],
                color="black",
                label=f"{radius:g}σ ellipse",
                **_ELLIPSE_STYLES[min(index, 1)],
            )
        )
    return handles


def _axes_legend(axes: Any, handles: list[Any] | None, *, ours: bool, fontsize: float = 8) -> Any:
    """Right of the axes on our own (constrained) figure; inside the axes on the caller's."""
    n_entries = len(handles) if handles is not None else len(axes.get_legend_handles_labels()[0])
    if not ours:
        return axes.legend(
            handles=handles,
            loc="best",
            fontsize=fontsize,
            framealpha=0.9,
            ncols=1 if n_entries <= 8 else 2,
        )
    # About 30 rows of 8-point entries fit beside a 5-inch axes; more go into columns.
    return axes.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize=fontsize,
        ncols=max(1, -(-n_entries // 30)),
        frameon=False,
    )


def plot_clusters(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    n_sigmas: Sequence[float] = (1.0, 2.0),
    dimensions: Sequence[int] | None = None,
    ax: Any = None,
    show_noise: bool = True,
) -> Any:
    """Data coloured by component, with each component's n-sigma ellipses, on two features.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        The data, in the model's units and features.
    feature_names : sequence of str, optional
        Names of all features, or the two axis labels (default: the model's feature names,
        else x0, x1, …).
    n_sigmas : sequence of float, default=(1.0, 2.0)
        Mahalanobis radii of the ellipses (solid for the first, dashed for the others).
    dimensions : (int, int), optional
        The features on the x and y axes (mclust's ``dimens``); default the first two.
        Labels come from all features; the ellipses are the marginal components.
    ax : matplotlib Axes, optional
        Where to draw (the legend then goes inside it); a new figure when None.
    show_noise : bool, default=True
        With a noise component (``noise=True``), draw the rows it explains best (label
        −1) as grey crosses; False leaves them out.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_features = int(model.n_features_in_)
    values = _check_dimension(X, n_features, "plot_clusters")
    pair = _check_pair(dimensions, n_features, "plot_clusters")
    names = _pair_names(model, n_features, feature_names, pair, "plot_clusters")
    labels = model.predict(_as_input(model, values))
    means, covariances = _pair_covariances(model, pair)
    colours = component_colours(len(model.weights_))
    figure, axes, ours = _figure_and_axes(ax, (7.8, 5.2))
    points = values[:, list(pair)]
    for k in range(len(model.weights_)):
        rows = points[labels == k]
        axes.scatter(rows[:, 0], rows[:, 1], s=14, color=colours[k], alpha=0.7, edgecolors="none")
    noise = points[labels == -1]
    if show_noise and noise.shape[0]:
        axes.scatter(*noise.T, marker="+", s=20, color="0.45", label="noise", linewidths=0.8)
    add_component_ellipses(axes, means, covariances, n_sigmas=n_sigmas, colours=colours)
    axes.scatter(*means.T, marker="x", s=60, color="black", zorder=3)
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title(f"{len(model.weights_)} components ({model.covariance_type}), points by label")
    _axes_legend(axes, _component_handles(model, n_sigmas), ours=ours)
    return figure


def plot_uncertainty(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    dimensions: Sequence[int] | None = None,
    ax: Any = None,
) -> Any:
    """Classification uncertainty: point size grows with 1 − max_k γ(z_nk), as in mclust.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        The data.
    feature_names : sequence of str, optional
        Names of all features, or the two axis labels.
    dimensions : (int, int), optional
        The features drawn (mclust's ``dimens``); default the first two. The uncertainty
        is that of the whole model, the ellipses are the marginal components.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

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
    n_features = int(model.n_features_in_)
    values = _check_dimension(X, n_features, "plot_uncertainty")
    pair = _check_pair(dimensions, n_features, "plot_uncertainty")
    names = _pair_names(model, n_features, feature_names, pair, "plot_uncertainty")
    responsibilities = model.predict_proba(_as_input(model, values))
    labels = responsibilities.argmax(axis=1)
    uncertainty = 1.0 - responsibilities.max(axis=1)
    largest = 1.0 - 1.0 / max(responsibilities.shape[1], 2)
    sizes = 4.0 + 140.0 * uncertainty / largest
    colours = component_colours(responsibilities.shape[1])
    figure, axes, ours = _figure_and_axes(ax, (7.8, 5.2))
    points = values[:, list(pair)]
    for k in range(responsibilities.shape[1]):
        chosen = labels == k
        axes.scatter(
            points[chosen, 0],
            points[chosen, 1],
            s=sizes[chosen],
            color=colours[k],
            alpha=0.6,
            edgecolors="none",
        )
    means, covariances = _pair_covariances(model, pair)
    add_component_ellipses(axes, means, covariances, n_sigmas=(1.0,), colours=colours)
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title(f"Uncertainty 1 − max responsibility (largest {uncertainty.max():.2f})")
    _axes_legend(axes, _component_handles(model, (1.0,)), ours=ours)
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
    dimensions: Sequence[int] | None = None,
    ax: Any = None,
) -> Any:
    """Contours of the mixture's log-density over the data, on two features.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        The data, drawn as small points.
    feature_names : sequence of str, optional
        Names of all features, or the two axis labels.
    levels : int, default=10
        Number of contour levels of log p.
    grid_size : int, default=150
        Grid points per axis.
    dimensions : (int, int), optional
        The features drawn (mclust's ``dimens``); default the first two. With more than
        two features the contours are those of the *marginal* density of the pair.
    ax : matplotlib Axes, optional
        Where to draw (the colour bar takes room from it); a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The marginal of a Gaussian mixture on features S is the mixture of the marginal
    components, p(x_S) = Σ_k π_k N(x_S | μ_k,S, Σ_k,SS), with the same weights; for two
    features it is the model's density itself.
    """
    n_features = int(model.n_features_in_)
    values = _check_dimension(X, n_features, "plot_density")
    pair = _check_pair(dimensions, n_features, "plot_density")
    names = _pair_names(model, n_features, feature_names, pair, "plot_density")
    points = values[:, list(pair)]
    first, second = _grid(points, grid_size)
    grid_points = np.column_stack([first.ravel(), second.ravel()])
    log_density = _marginal_log_density(model, pair, grid_points).reshape(first.shape)
    # Contours of the log-density below the 0.1 % quantile of the data's own values only
    # outline empty space; starting there keeps the levels on the data.
    floor = np.quantile(_marginal_log_density(model, pair, points), 0.001)
    figure, axes, _ = _figure_and_axes(ax, (6.4, 5.2))
    contours = axes.contour(
        first,
        second,
        log_density,
        levels=np.linspace(floor - 1.0, log_density.max(), levels),
        cmap="viridis",
    )
    marginal = n_features > 2
    figure.colorbar(contours, ax=axes, label="log p, marginal" if marginal else "log p(x)")
    axes.scatter(points[:, 0], points[:, 1], s=6, color="black", alpha=0.5, edgecolors="none")
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    title = f"marginal on 2 of {n_features} features, " if marginal else ""
    axes.set_title(f"Mixture log-density, {title}{len(model.weights_)} components")
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
    ax: Any = None,
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
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Component k is drawn as ``π_k N(x | μ_k, σ_k²)`` so that the components add up to the
    mixture density ``p(x) = Σ_k π_k N(x | μ_k, σ_k²)``.
    """
    values = _check_dimension(X, 1, "plot_histogram")
    name = _feature_names(model, 1, feature_names)[0]
    figure, axes, ours = _figure_and_axes(ax, (7.6, 4.4))
    _histogram_panel(axes, model, values[:, 0], 0, bins)
    axes.set_xlabel(name)
    axes.set_ylabel("density")
    axes.set_title(f"{len(model.weights_)} components: weighted densities and the mixture")
    _axes_legend(axes, None, ours=ours)
    return figure


def _histogram_panel(axes: Any, model: Any, values: np.ndarray, feature: int, bins: Any) -> None:
    """Histogram of one feature with the marginal weighted component densities."""
    from scipy.stats import norm

    axes.hist(values, bins=bins, density=True, color="0.8", edgecolor="white", label="data")
    span = values.max() - values.min()
    grid = np.linspace(values.min() - 0.1 * span, values.max() + 0.1 * span, 400)
    covariances = _dense_covariances(model)
    colours = component_colours(len(model.weights_))
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
        axes.fill_between(grid, density, color=colours[k], alpha=0.25, linewidth=0)
        axes.plot(
            grid,
            density,
            color=colours[k],
            linestyle="--",
            linewidth=1.6,
            label=f"component {k} × weight",
        )


def _shown_dimensions(dimensions: Sequence[int] | None, n_features: int) -> list[int]:
    """The feature indices a scatter matrix shows, checked (all of them when None)."""
    if dimensions is None:
        return list(range(n_features))
    shown = [int(index) for index in dimensions]
    if len(set(shown)) != len(shown) or not all(0 <= i < n_features for i in shown):
        raise InvalidParameterError(
            "plot_scatter_matrix: dimensions must be different feature indices in "
            f"[0, {n_features}); got {dimensions!r}. For example dimensions=(0, 2, 3)."
        )
    return shown


def _pair_panel(
    axes: Any,
    points: np.ndarray,
    labels: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    n_sigmas: Sequence[float],
    colours: Sequence[Any],
) -> None:
    """One off-diagonal panel: the points of each component (and of the noise, grey
    crosses) and its marginal ellipses."""
    noise = labels == -1
    if np.any(noise):
        axes.scatter(points[noise, 0], points[noise, 1], marker="+", s=8, color="0.45")
    for k in range(len(means)):
        chosen = labels == k
        axes.scatter(
            points[chosen, 0],
            points[chosen, 1],
            s=5,
            color=colours[k],
            alpha=0.6,
            edgecolors="none",
        )
    add_component_ellipses(axes, means, covariances, n_sigmas=n_sigmas, colours=colours)


def _grid_legend(figure: Any, grid: np.ndarray, handles: Sequence[Any]) -> None:
    """One legend for a grid of panels, to the right of it."""
    # About 11 points of height per 8-point entry; entries beyond one column's height
    # go into more columns rather than off the figure.
    rows_that_fit = max(1, int(figure.bbox.height / figure.dpi * 72 / 11) - 4)
    options = {"ncols": max(1, -(-len(handles) // rows_that_fit)), "fontsize": 8}
    if _has_constrained_layout(figure):
        figure.legend(handles=handles, loc="outside right upper", frameon=False, **options)
    else:
        # Constrained layout makes room for "outside" legends of a whole figure only; in a
        # subfigure (or without that layout) the legend goes beside the top-right panel.
        grid[0, -1].legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.05, 1.0), frameon=False, **options
        )


def plot_scatter_matrix(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    n_sigmas: Sequence[float] = (1.0, 2.0),
    dimensions: Sequence[int] | None = None,
    figure: Any = None,
) -> Any:
    """Every pair of features, points by component with the marginal ellipses (D ≥ 2).

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        The data.
    feature_names : sequence of str, optional
        Labels of all the features.
    n_sigmas : sequence of float, default=(1.0, 2.0)
        Ellipse radii.
    dimensions : sequence of int, optional
        The features to show, in order (mclust's ``dimens``); default all of them.
    figure : matplotlib Figure or SubFigure, optional
        Where to draw the grid; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure
        A grid over the chosen features: histograms with the marginal mixture density on
        the diagonal, pairs elsewhere, one legend to the right of the grid.

    Notes
    -----
    The marginal of a Gaussian on features (i, j) is Gaussian with the (i, j) sub-vector
    of the mean and the 2 × 2 sub-matrix of the covariance, so the ellipses drawn are
    exact for the marginal components.
    """
    n_model_features = int(model.n_features_in_)
    values = _check_dimension(X, n_model_features, "plot_scatter_matrix")
    names = _feature_names(model, n_model_features, feature_names)
    shown = _shown_dimensions(dimensions, n_model_features)
    labels = model.predict(_as_input(model, values))
    covariances = _dense_covariances(model)
    means = np.asarray(model.means_)
    colours = component_colours(len(model.weights_))
    handles = _component_handles(model, n_sigmas)
    n_shown = len(shown)
    size = min(2.0 * n_shown, 12.0)
    if figure is None:
        # The legend goes to the right of the grid: about 2 inches for each of its columns.
        figure = _new_figure((size + 2.2, max(size, 3.0)))
    grid = figure.subplots(n_shown, n_shown, squeeze=False)
    for row, i in enumerate(shown):
        for column, j in enumerate(shown):
            axes = grid[row, column]
            if row == column:
                _histogram_panel(axes, model, values[:, i], i, "auto")
                axes.set_yticks([])
            else:
                _pair_panel(
                    axes,
                    values[:, [j, i]],
                    labels,
                    means[:, [j, i]],
                    covariances[:, [j, i]][:, :, [j, i]],
                    n_sigmas,
                    colours,
                )
            if row == n_shown - 1:
                axes.set_xlabel(names[j])
            if column == 0:
                axes.set_ylabel(names[i])
    _grid_legend(figure, grid, handles)
    figure.suptitle(f"{len(model.weights_)} components ({model.covariance_type}), all pairs")
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


def plot_log_likelihood(model: Any, *, ax: Any = None) -> Any:
    """The mean log-likelihood after every EM iteration of the kept start.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture (uses ``log_likelihood_history_``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure
    """
    history = np.asarray(model.log_likelihood_history_)
    figure, axes, _ = _figure_and_axes(ax, (6.4, 4.0))
    axes.plot(
        np.arange(len(history)),
        history,
        marker="o",
        markersize=3,
        color=_QUALITATIVE[0],
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
    return figure


def plot_bic(
    results: Any,
    *,
    criterion: str = "bic",
    ax: Any = None,
    best: Mapping[str, Any] | None = None,
) -> Any:
    """Information criterion against K, one line per covariance model; the best is starred.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per fit with columns ``covariance_type``, ``n_components`` and the
        criterion (e.g. the ``results_`` of a model selection); NaN marks a failed fit.
    criterion : str, default="bic"
        Column to draw; lower is better.
    ax : matplotlib Axes, optional
        Where to draw (the legend then goes inside it); a new figure when None.
    best : mapping, optional
        ``{"covariance_type": ..., "n_components": ...}`` of the fit to star (e.g. a model
        selection's ``best_params_``); default the row of lowest criterion.

    Returns
    -------
    matplotlib.figure.Figure
        One line per model, each model with its own colour and marker (the same in every
        figure; the fourteen mclust models are all different), then the star, drawn last.
    """
    ticker = import_optional("matplotlib.ticker", "plot", "Plotting")
    missing = {"covariance_type", "n_components", criterion} - set(results.columns)
    if missing:
        raise InvalidInputError(
            f"plot_bic needs columns covariance_type, n_components and {criterion}; the "
            f"results lack {sorted(missing)}. Pass the results_ table of a model selection."
        )
    figure, axes, ours = _figure_and_axes(ax, (7.6, 4.6))
    names = [str(name) for name in results["covariance_type"].drop_duplicates()]
    # mclust's order where the names are mclust codes, so legends read the same everywhere.
    order = {code: index for index, code in enumerate(_MODEL_STYLES)}
    names.sort(key=lambda name: (order.get(name, len(order)), name))
    styles = _model_styles(names)
    for name in names:
        group = results[results["covariance_type"].astype(str) == name]
        group = group.sort_values("n_components")
        colour, marker, linestyle = styles[name]
        axes.plot(
            group["n_components"],
            group[criterion],
            color=colour,
            marker=marker,
            linestyle=linestyle,
            markersize=5,
            linewidth=1.2,
            label=name,
        )
    values = results[criterion].to_numpy(dtype=float)
    if best is not None:
        chosen = (results["covariance_type"].astype(str) == str(best["covariance_type"])) & (
            results["n_components"] == best["n_components"]
        )
        row = results[chosen].iloc[0] if chosen.any() else None
    else:
        finite = results[np.isfinite(values)]
        row = finite.loc[finite[criterion].idxmin()] if len(finite) else None
    if row is not None:
        axes.plot(
            [row["n_components"]],
            [row[criterion]],
            marker="*",
            markersize=16,
            markerfacecolor="gold",
            markeredgecolor="black",
            linestyle="none",
            zorder=4,
            label=f"best: K = {int(row['n_components'])}, {row['covariance_type']}",
        )
    axes.set_xlabel("number of components K")
    axes.set_ylabel(f"{criterion.upper()} (lower is better)")
    axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axes.set_title(f"Model selection by {criterion.upper()}")
    _axes_legend(axes, None, ours=ours)
    return figure


def save_figure(figure: Any, path: Any, *, dpi: int = 100) -> Any:
    """Write a figure to a PNG (or any format matplotlib knows from the suffix), atomically.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure; if pyplot manages it, it is closed afterwards to free its memory.
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

    destination = Path(path)
    buffer = BytesIO()
    suffix = destination.suffix.lstrip(".").lower() or "png"
    figure.savefig(buffer, dpi=dpi, format=suffix)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        # Only a figure pyplot made is registered there; closing any other does nothing.
        pyplot.close(figure)
    return atomic_write(destination, buffer.getvalue())
