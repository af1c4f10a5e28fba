"""The decision-region figure of a classifier: what is drawn, checked against Bayes' rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import InvalidInputError, MixtureDiscriminantAnalysis
from gaussmix.plotting_labels import plot_decision_regions


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, s, (40, 2)) for c, s in ((0, 1.0), (4, 0.7), (8, 1.3))])
    return X, np.repeat(np.array(["a", "b", "c"]), 40)


def test_edda_regions_follow_bayes_rule_and_every_class_has_its_ellipses():
    X, y = _data()
    classifier = MixtureDiscriminantAnalysis(model_type="edda", covariance_type="VVV").fit(X, y)
    figure = plot_decision_regions(classifier, X, y, grid_size=40)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    mesh = next(child for child in axes.get_children() if isinstance(child, QuadMesh))
    region = np.asarray(mesh.get_array()).reshape(40, 40)
    # The mesh's cells are centred on the grid points the classifier was evaluated at.
    edges = mesh.get_coordinates()
    centres = (edges[:-1, :-1] + edges[1:, 1:]) / 2
    xs, ys = centres[..., 0], centres[..., 1]
    # Bayes' rule from the class frequencies and the ML class Gaussians, with scipy.
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    joint = np.column_stack(
        [
            np.log(1 / 3)
            + multivariate_normal(X[y == c].mean(0), np.cov(X[y == c].T, bias=True)).logpdf(grid)
            for c in ("a", "b", "c")
        ]
    )
    expected = np.argmax(joint - logsumexp(joint, axis=1, keepdims=True), axis=1)
    assert np.mean(region.ravel() == expected) > 0.999  # ties on a boundary may differ
    assert set(np.unique(region)) == {0, 1, 2}
    ellipses = [p for p in axes.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 3 * 2
    np.testing.assert_allclose(
        sorted(e.center[0] for e in ellipses[::2]), sorted(classifier.means_[:, 0])
    )
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["a", "b", "c"]


def test_mixture_classifier_draws_every_components_ellipse_into_given_axes():
    X, y = _data(1)
    frame = pd.DataFrame(X, columns=["u", "v"])
    classifier = MixtureDiscriminantAnalysis(n_components=(1, 2), covariance_types="VVV")
    classifier.fit(frame, y)
    figure = Figure()
    axes = figure.add_subplot()
    assert plot_decision_regions(classifier, frame, grid_size=20, n_sigmas=(1,), ax=axes) is figure
    n_components = sum(e.n_components for e in classifier.estimators_)
    assert len([p for p in axes.patches if isinstance(p, Ellipse)]) == n_components
    assert axes.get_xlabel() == "u" and axes.get_ylabel() == "v"


def test_only_two_features_and_known_labels():
    X, y = _data()
    three = MixtureDiscriminantAnalysis(model_type="edda", covariance_type="EEE")
    three.fit(np.column_stack([X, X[:, 0]]), y)
    with pytest.raises(InvalidInputError, match="two features"):
        plot_decision_regions(three, X)
    two = MixtureDiscriminantAnalysis(model_type="edda", covariance_type="EEE").fit(X, y)
    with pytest.raises(InvalidInputError, match="'z'"):
        plot_decision_regions(two, X, np.where(y == "a", "z", y))
