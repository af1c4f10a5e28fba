"""The figure of a classifier on two features: decision regions with the class ellipses.

The conventions are :mod:`gaussmix.plotting`'s: the figure draws into a given ``ax=`` or a
new Figure outside pyplot, and returns the Figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.covariance.forms import dense_covariances
from gaussmix.exceptions import InvalidInputError
from gaussmix.plotting import add_component_ellipses, component_colours

__all__ = ["plot_decision_regions"]


def _class_components(classifier: Any) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(class index, mean, dense covariance) of every Gaussian of the classifier."""
    if classifier.model_type == "edda":
        return [
            (c, classifier.means_[c], classifier.covariances_[c])
            for c in range(len(classifier.classes_))
        ]
    components = []
    for c, mixture in enumerate(classifier.estimators_):
        parameters = mixture._fitted_parameters()
        dense = dense_covariances(
            parameters.covariances, parameters.form, *np.shape(parameters.means)
        )
        components.extend(
            (c, mean, covariance) for mean, covariance in zip(parameters.means, dense, strict=True)
        )
    return components


def plot_decision_regions(
    classifier: Any,
    X: Any,
    y: Any = None,
    *,
    feature_names: Sequence[str] | None = None,
    grid_size: int = 200,
    n_sigmas: Sequence[float] = (1.0, 2.0),
    ax: Any = None,
) -> Any:
    """The predicted class over the plane, the class Gaussians' ellipses and the data.

    Parameters
    ----------
    classifier : MixtureDiscriminantAnalysis
        Fitted on two features.
    X : array-like of shape (n_samples, 2)
        Rows to draw; the regions cover their range with a 10 % margin.
    y : array-like of shape (n_samples,), optional
        Their true classes: points are coloured by them (default: by the predicted class).
    feature_names : (str, str), optional
        Axis labels (default: the classifier's feature names, else x0, x1).
    grid_size : int, default=200
        Grid points per axis of the regions.
    n_sigmas : sequence of float, default=(1.0, 2.0)
        Mahalanobis radii of the ellipses of every class Gaussian (of every component of
        a class mixture), drawn in the class's colour.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidInputError
        When the classifier was not fitted on two features, or X does not have two columns.
    """
    if int(getattr(classifier, "n_features_in_", 0)) != 2:
        raise InvalidInputError(
            "plot_decision_regions draws a classifier of two features; this one has "
            f"{getattr(classifier, 'n_features_in_', 'no fitted')} features. Fit it on two "
            "columns (e.g. X[:, :2]) to draw its regions."
        )
    values = np.asarray(X, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 2:
        raise InvalidInputError(
            f"X must have shape (n_samples, 2); got shape {values.shape}. Pass the two "
            "features the classifier was fitted on."
        )
    classes = classifier.classes_
    colours = component_colours(len(classes))
    if ax is None:
        figure_module = import_optional("matplotlib.figure", "plot", "Plotting")
        figure = figure_module.Figure(figsize=(7.2, 5.6), layout="constrained")
        axes = figure.add_subplot()
    else:
        figure, axes = ax.figure, ax
    first, second = _draw_regions(axes, classifier, values, grid_size, colours)
    shown = _shown_classes(classifier, values, y)
    for c, label in enumerate(classes):
        rows = values[shown == c]
        axes.scatter(
            rows[:, 0], rows[:, 1], s=14, color=colours[c], edgecolors="none", alpha=0.8,
            label=str(label),
        )  # fmt: skip
    for c, mean, covariance in _class_components(classifier):
        add_component_ellipses(
            axes, mean[None], covariance[None], n_sigmas=n_sigmas, colours=[colours[c]]
        )
    names = getattr(classifier, "feature_names_in_", None)
    labels = (
        list(feature_names)
        if feature_names is not None
        else ([str(name) for name in names] if names is not None else ["x0", "x1"])
    )
    axes.set_xlabel(labels[0])
    axes.set_ylabel(labels[1])
    kind = "EDDA" if classifier.model_type == "edda" else "MclustDA"
    axes.set_title(f"{kind} decision regions, {len(classes)} classes")
    axes.set_xlim(first.min(), first.max())
    axes.set_ylim(second.min(), second.max())
    axes.legend(title="class" if y is not None else "predicted class", fontsize=8)
    return figure


def _draw_regions(
    axes: Any, classifier: Any, values: np.ndarray, grid_size: int, colours: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The predicted class on a grid over the data (10 % margin); returns the grid."""
    colors = import_optional("matplotlib.colors", "plot", "Plotting")
    low, high = values.min(axis=0), values.max(axis=0)
    margin = 0.1 * (high - low) + 1e-12
    first, second = np.meshgrid(
        np.linspace(low[0] - margin[0], high[0] + margin[0], grid_size),
        np.linspace(low[1] - margin[1], high[1] + margin[1], grid_size),
    )
    grid = _as_input(classifier, np.column_stack([first.ravel(), second.ravel()]))
    region = np.argmax(classifier.predict_proba(grid), axis=1).reshape(first.shape)
    axes.pcolormesh(
        first, second, region, cmap=colors.ListedColormap(colours), vmin=-0.5,
        vmax=len(colours) - 0.5, alpha=0.22, shading="auto",
    )  # fmt: skip
    return first, second


def _shown_classes(classifier: Any, values: np.ndarray, y: Any) -> np.ndarray:
    """Index in ``classes_`` of each row's class: y's, or the predicted one."""
    classes = classifier.classes_
    labels = np.asarray(classifier.predict(_as_input(classifier, values)) if y is None else y)
    unknown = ~np.isin(labels, classes)
    if labels.shape != (values.shape[0],) or np.any(unknown):
        raise InvalidInputError(
            f"y must hold one of the classes {classes.tolist()} for each of the "
            f"{values.shape[0]} rows; got shape {labels.shape}"
            + (f" and the label {labels[np.argmax(unknown)]!r}." if np.any(unknown) else ".")
        )
    return np.searchsorted(classes, labels)


def _as_input(classifier: Any, values: np.ndarray) -> Any:
    """Rows as the classifier expects them: a DataFrame when it was fitted on named columns."""
    names = getattr(classifier, "feature_names_in_", None)
    if names is None:
        return values
    import pandas as pd

    return pd.DataFrame(values, columns=list(names))
