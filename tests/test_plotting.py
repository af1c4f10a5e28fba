"""Figures: what is drawn (axes, ellipses, lines, labels, sizes), never pixels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Ellipse
from scipy.stats import multivariate_normal

from gaussmix import GaussianMixture, InvalidInputError, plotting
from gaussmix.datasets import load_old_faithful


@pytest.fixture(scope="module")
def faithful():
    return load_old_faithful(as_frame=True).frame


@pytest.fixture(scope="module")
def model(faithful):
    return GaussianMixture(2, random_state=0).fit(faithful)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _ellipses(axes):
    return [patch for patch in axes.patches if isinstance(patch, Ellipse)]


def test_ellipse_geometry_matches_the_covariance():
    _, axes = plt.subplots()
    # Σ with eigenvalues 9 and 1, major axis along (1, 1)/√2.
    rotation = np.array([[1.0, -1.0], [1.0, 1.0]]) / np.sqrt(2)
    covariance = rotation @ np.diag([9.0, 1.0]) @ rotation.T
    drawn = plotting.add_component_ellipses(
        axes, np.array([[1.0, 2.0]]), covariance[None], n_sigmas=(1.0, 2.0)
    )
    np.testing.assert_allclose([(e.width, e.height) for e in drawn], [(6.0, 2.0), (12.0, 4.0)])
    assert drawn[0].angle % 180 == pytest.approx(45.0)
    assert tuple(drawn[0].center) == (1.0, 2.0)


def test_clusters(model, faithful):
    figure = plotting.plot_clusters(model, faithful)
    (axes,) = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("eruptions", "waiting")
    assert len(_ellipses(axes)) == 2 * 2
    labels = model.predict(faithful)
    points = [c for c in axes.collections if isinstance(c, PathCollection)]
    # One scatter per component, with that component's rows, then the means.
    assert [len(c.get_offsets()) for c in points[:2]] == list(np.bincount(labels))
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend[:2] == [f"component {k} (weight {w:.2f})" for k, w in enumerate(model.weights_)]


@pytest.mark.parametrize("covariance", ["tied", "diag", "spherical"])
def test_clusters_draw_every_covariance_form(faithful, covariance):
    model = GaussianMixture(3, covariance_type=covariance, random_state=0).fit(faithful)
    (axes,) = plotting.plot_clusters(model, faithful, n_sigmas=(1.0,)).axes
    dense = plotting._dense_covariances(model)
    for ellipse, matrix in zip(_ellipses(axes), dense, strict=True):
        eigenvalues = np.linalg.eigvalsh(matrix)
        assert sorted([ellipse.width, ellipse.height]) == pytest.approx(2 * np.sqrt(eigenvalues))


@pytest.mark.parametrize("covariance", ["EII", "VEI", "EVE", "VEV"])
def test_clusters_of_mclust_codes_follow_their_dense_covariances(faithful, covariance):
    model = GaussianMixture(3, covariance_type=covariance, random_state=0).fit(faithful)
    (axes,) = plotting.plot_clusters(model, faithful, n_sigmas=(1.0,)).axes
    assert model.covariances_.shape == (3, 2, 2)
    for ellipse, matrix in zip(_ellipses(axes), model.covariances_, strict=True):
        eigenvalues = np.linalg.eigvalsh(matrix)
        assert sorted([ellipse.width, ellipse.height]) == pytest.approx(2 * np.sqrt(eigenvalues))


def test_uncertainty_sizes_grow_with_uncertainty(faithful):
    model = GaussianMixture(3, random_state=0).fit(faithful)
    (axes,) = plotting.plot_uncertainty(model, faithful).axes
    responsibilities = model.predict_proba(faithful)
    uncertainty = 1 - responsibilities.max(axis=1)
    labels = responsibilities.argmax(axis=1)
    for k, collection in enumerate(c for c in axes.collections if isinstance(c, PathCollection)):
        sizes = collection.get_sizes()
        chosen = uncertainty[labels == k]
        assert len(sizes) == len(chosen)
        order = np.argsort(chosen)
        assert np.all(np.diff(sizes[order]) >= 0)
        assert sizes[order][-1] > sizes[order][0]


def test_histogram_components_add_up_to_the_mixture(faithful):
    one = faithful[["eruptions"]]
    model = GaussianMixture(2, random_state=0).fit(one)
    (axes,) = plotting.plot_histogram(model, one).axes
    lines = {line.get_label(): line for line in axes.lines}
    assert set(lines) == {"mixture", "component 0 × weight", "component 1 × weight"}
    grid = lines["mixture"].get_xdata()
    expected = sum(
        w * multivariate_normal(m, c).pdf(grid)
        for w, m, c in zip(
            model.weights_, model.means_[:, 0], model.covariances_[:, 0, 0], strict=True
        )
    )
    np.testing.assert_allclose(lines["mixture"].get_ydata(), expected, rtol=1e-10)
    np.testing.assert_allclose(
        lines["component 0 × weight"].get_ydata() + lines["component 1 × weight"].get_ydata(),
        expected,
        rtol=1e-10,
    )
    assert axes.get_xlabel() == "eruptions"


def test_density_contours(model, faithful):
    figure = plotting.plot_density(model, faithful, levels=7)
    axes, colorbar = figure.axes
    assert colorbar.get_ylabel() == "log p(x)"
    (contours,) = [c for c in axes.collections if hasattr(c, "levels")]
    assert len(contours.levels) == 7
    assert contours.levels[-1] == pytest.approx(model.score_samples(faithful).max(), abs=0.1)


def test_scatter_matrix_for_more_features():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(4, 1, (60, 3))]), columns=["a", "b", "c"]
    )
    model = GaussianMixture(2, random_state=0).fit(X)
    figure = plotting.plot_model(model, X)
    assert len(figure.axes) == 9
    grid = np.array(figure.axes).reshape(3, 3)
    assert sum(len(_ellipses(axes)) for axes in figure.axes) == 6 * 2 * 2
    assert [grid[2, j].get_xlabel() for j in range(3)] == ["a", "b", "c"]
    assert [grid[i, 0].get_ylabel() for i in range(3)] == ["a", "b", "c"]
    # Off-diagonal panel (row b, column a) holds the marginal (a, b) ellipse at the means.
    centres = [tuple(e.center) for e in _ellipses(grid[1, 0])][::2]
    np.testing.assert_allclose(centres, model.means_[:, [0, 1]])
    assert figure.legends


def test_plot_model_dispatches_on_dimension(model, faithful):
    assert len(plotting.plot_model(model, faithful).axes) == 1
    with pytest.raises(InvalidInputError, match="plot_model"):
        plotting.plot_clusters(model, np.ones((5, 3)))


def test_log_likelihood_curve(model):
    (axes,) = plotting.plot_log_likelihood(model).axes
    np.testing.assert_array_equal(axes.lines[0].get_ydata(), model.log_likelihood_history_)
    assert axes.get_xlabel() == "EM iteration"


def test_bic_curves_star_the_best():
    results = pd.DataFrame(
        {
            "covariance_type": ["full"] * 3 + ["diag"] * 3,
            "n_components": [1, 2, 3] * 2,
            "bic": [10.0, 7.0, 8.0, 12.0, 6.5, np.nan],
        }
    )
    (axes,) = plotting.plot_bic(results).axes
    assert sorted(line.get_label() for line in axes.lines) == ["diag", "full"]
    (star,) = [c for c in axes.collections if c.get_label().startswith("best")]
    np.testing.assert_array_equal(star.get_offsets(), [[2, 6.5]])
    assert star.get_label() == "best: K = 2, diag"
    with pytest.raises(InvalidInputError, match="bic"):
        plotting.plot_bic(results.drop(columns="bic"))


def test_save_figure_writes_a_png_atomically(model, faithful, tmp_path):
    path = plotting.save_figure(plotting.plot_clusters(model, faithful), tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_em_progress_panels():
    from gaussmix.demo import SNAPSHOT_ITERATIONS

    figure = plotting.plot_em_progress(
        np.random.default_rng(0).normal(size=(30, 2)),
        [
            (
                iteration,
                GaussianMixture(2, random_state=0, max_iter=iteration)
                .fit(np.random.default_rng(0).normal(size=(30, 2)))
                ._fitted_parameters(),
                np.full((30, 2), 0.5),
            )
            for iteration in SNAPSHOT_ITERATIONS
        ],
    )
    assert len(figure.axes) == 4
    assert all(len(_ellipses(axes)) == 4 for axes in figure.axes)


def test_lazy_data_are_drawn_as_a_reproducible_sample():
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(1500, 2)), rng.normal(6.0, size=(1500, 2))])
    lazy = da.from_array(X, chunks=(700, 2))
    sample = plotting.rows_to_plot(lazy, max_rows=1000)
    assert sample.shape == (1000, 2)
    # Rows of X, each at most once, in their original order, the same every time.
    positions = np.flatnonzero(np.isin(X[:, 0], sample[:, 0]))
    np.testing.assert_array_equal(X[positions], sample)
    np.testing.assert_array_equal(plotting.rows_to_plot(lazy, max_rows=1000), sample)
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b"]), npartitions=3)
    np.testing.assert_array_equal(plotting.rows_to_plot(frame, max_rows=1000), sample)
    np.testing.assert_array_equal(plotting.rows_to_plot(lazy), X)  # small: drawn whole
    model = GaussianMixture(2, random_state=0).fit(X)
    figure = plotting.plot_model(model, lazy)
    points = [c for c in figure.axes[0].collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in points) >= len(X)
    plt.close(figure)
