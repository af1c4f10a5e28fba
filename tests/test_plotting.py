"""Figures: what is drawn (axes, ellipses, lines, labels, sizes), never pixels."""

from __future__ import annotations

import io
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from scipy.stats import multivariate_normal

from gaussmix import (
    GaussianMixture,
    InvalidInputError,
    InvalidParameterError,
    plotting,
    select_model,
)
from gaussmix.covariance import MCLUST_MODELS
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
    *curves, star = axes.lines
    assert sorted(line.get_label() for line in curves) == ["diag", "full"]
    np.testing.assert_array_equal(np.column_stack(star.get_data()), [[2, 6.5]])
    assert star.get_label() == "best: K = 2, diag"
    # A given best (a selection's best_params_) is starred instead of the minimum.
    (axes,) = plotting.plot_bic(results, best={"covariance_type": "full", "n_components": 3}).axes
    np.testing.assert_array_equal(np.column_stack(axes.lines[-1].get_data()), [[3, 8.0]])
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


# ------------------------------------------------------------- figures for papers
def _twelve_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([(x, y) for x in range(4) for y in range(3)], dtype=float) * 8.0
    return np.vstack([rng.normal(centre, 1.0, size=(40, 2)) for centre in centres])


@pytest.fixture(scope="module")
def twelve():
    X = _twelve_clusters()
    centres = np.array([(x, y) for x in range(4) for y in range(3)], dtype=float) * 8.0
    return X, GaussianMixture(12, means_init=centres, random_state=0).fit(X)


def test_twelve_components_get_twelve_distinct_colours(twelve):
    X, model = twelve
    (axes, *_) = plotting.plot_clusters(model, X).axes
    points = [c for c in axes.collections if isinstance(c, PathCollection)][:12]
    colours = [tuple(np.round(c.get_facecolor()[0][:3], 6)) for c in points]
    assert len(set(colours)) == 12
    # Far apart, not merely different: at least 0.15 in RGB between any two.
    rgb = np.array(colours)
    distances = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)[np.triu_indices(12, 1)]
    assert distances.min() > 0.15
    # Each component's ellipses have its points' colour.
    edges = [tuple(np.round(e.get_edgecolor()[:3], 6)) for e in _ellipses(axes)]
    assert edges[::2] == colours
    legend = [tuple(np.round(to_rgb(h.get_color()), 6)) for h in axes.get_legend().legend_handles]
    assert legend[:12] == colours


@pytest.mark.parametrize("n_components", [12, 20, 45])
def test_the_palette_has_a_distinct_colour_per_component(n_components):
    colours = plotting.component_colours(n_components)
    assert len(colours) == n_components
    assert len({to_rgb(colour) for colour in colours}) == n_components


def _all_models_results(codes=MCLUST_MODELS):
    rows = [
        {"covariance_type": code, "n_components": k, "bic": 100.0 + index + k}
        for index, code in enumerate(codes)
        for k in (1, 2, 3)
    ]
    return pd.DataFrame(rows)


def _styles(axes):
    return {
        line.get_label(): (to_rgb(line.get_color()), line.get_marker())
        for line in axes.lines
        if not line.get_label().startswith("best")
    }


def test_the_fourteen_bic_curves_have_distinct_colours_and_markers():
    (axes,) = plotting.plot_bic(_all_models_results()).axes
    styles = _styles(axes)
    assert sorted(styles) == sorted(MCLUST_MODELS)
    assert len({colour for colour, _ in styles.values()}) == 14
    assert len({marker for _, marker in styles.values()}) == 14
    assert "*" not in {marker for _, marker in styles.values()}  # the star marks the best
    # A model keeps its style in every figure, whichever models the table holds, and a
    # scikit-learn name takes its model's style.
    subset = _all_models_results(["full", "EII", "VEV"])
    (axes,) = plotting.plot_bic(subset).axes
    assert _styles(axes) == {
        "full": styles["VVV"],
        "EII": styles["EII"],
        "VEV": styles["VEV"],
    }


def test_model_selection_plot_is_plot_bic(faithful):
    selection = select_model(faithful, n_components=[1, 2, 3], covariance_types=["VVV", "EII"])
    figure = Figure()
    ax = figure.add_subplot()
    assert selection.plot(ax=ax) is figure
    (expected,) = plotting.plot_bic(selection.results_, best=selection.best_params_).axes
    assert [line.get_label() for line in ax.lines] == [line.get_label() for line in expected.lines]
    for line, reference in zip(ax.lines, expected.lines, strict=True):
        np.testing.assert_array_equal(line.get_xydata(), reference.get_xydata())
        assert (line.get_color(), line.get_marker()) == (
            reference.get_color(),
            reference.get_marker(),
        )
    (icl,) = selection.plot(criterion="icl").axes
    assert icl.get_ylabel().startswith("ICL")


def _inside(extent, figure):
    box = figure.bbox
    return (
        extent.x0 >= box.x0 - 0.5
        and extent.y0 >= box.y0 - 0.5
        and extent.x1 <= box.x1 + 0.5
        and extent.y1 <= box.y1 + 0.5
    )


def _iris():
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).data
    iris.columns = ["sepal length", "sepal width", "petal length", "petal width"]
    return iris


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "draw",
    [
        "scatter_matrix_iris",
        "scatter_matrix_twelve",
        "scatter_matrix_in_a_subfigure",
        "clusters_twelve",
        "uncertainty_twelve",
        "bic_fourteen",
        "histogram",
    ],
)
def test_every_legend_lies_inside_the_figure(draw, twelve, faithful):
    X, model = twelve
    callers_axes = []
    if draw == "scatter_matrix_iris":
        iris = _iris()
        figure = plotting.plot_scatter_matrix(GaussianMixture(3, random_state=0).fit(iris), iris)
    elif draw == "scatter_matrix_twelve":
        X3 = np.column_stack([X, X[:, 0] - X[:, 1]])
        figure = plotting.plot_scatter_matrix(GaussianMixture(12, random_state=0).fit(X3), X3)
    elif draw == "scatter_matrix_in_a_subfigure":
        iris = _iris()
        figure = Figure(figsize=(12, 6), layout="constrained")
        left, right = figure.subfigures(1, 2)
        callers_axes.append(left.add_subplot())
        plotting.plot_clusters(model, X, ax=callers_axes[0])
        iris_model = GaussianMixture(3, random_state=0).fit(iris)
        plotting.plot_scatter_matrix(iris_model, iris, figure=right)
    elif draw == "clusters_twelve":
        figure = plotting.plot_clusters(model, X)
    elif draw == "uncertainty_twelve":
        figure = plotting.plot_uncertainty(model, X)
    elif draw == "bic_fourteen":
        figure = plotting.plot_bic(_all_models_results())
    else:
        one = faithful[["eruptions"]]
        figure = plotting.plot_histogram(GaussianMixture(2, random_state=0).fit(one), one)
    figure.draw_without_rendering()
    parts = [figure, *figure.subfigs]
    legends = [
        *(legend for part in parts for legend in part.legends),
        *(a.get_legend() for a in figure.axes if a.get_legend()),
    ]
    assert legends
    for legend in legends:
        extent = legend.get_window_extent()
        assert _inside(extent, figure), extent
        # Nor does it cover a panel: in figures made here legends sit beside the axes (a
        # legend drawn into a caller's axes sits inside that axes).
        for axes in figure.axes:
            if axes not in callers_axes:
                assert not extent.overlaps(axes.get_window_extent()), (extent, axes)
    # Nor do the axes, their labels or the title stick out.
    assert _inside(figure.get_tightbbox().transformed(figure.dpi_scale_trans), figure)


def _small_three_features():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 1, (40, 3)), rng.normal(4, 1, (40, 3))])


@pytest.fixture(scope="module")
def drawings(faithful, model):
    """Every figure function, called the way a user would, on small data."""
    one = faithful[["eruptions"]]
    histogram_model = GaussianMixture(2, random_state=0).fit(one)
    results = _all_models_results(["VVV", "EII"])
    selection = select_model(faithful, n_components=[1, 2], covariance_types=["VVV", "EII"])
    snapshot = [(1, model._fitted_parameters(), model.predict_proba(faithful))]
    values = faithful.to_numpy()
    return {
        "clusters": lambda: plotting.plot_clusters(model, faithful),
        "density": lambda: plotting.plot_density(model, faithful, grid_size=20),
        "uncertainty": lambda: plotting.plot_uncertainty(model, faithful),
        "histogram": lambda: plotting.plot_histogram(histogram_model, one),
        # Four panels are enough here (test_scatter_matrix_for_more_features draws nine).
        "scatter_matrix": lambda: plotting.plot_scatter_matrix(model, faithful),
        "model": lambda: plotting.plot_model(histogram_model, one),
        "log_likelihood": lambda: plotting.plot_log_likelihood(model),
        "bic": lambda: plotting.plot_bic(results),
        "selection": lambda: selection.plot(),
        "em_progress": lambda: plotting.plot_em_progress(values, snapshot),
    }


@pytest.mark.parametrize(
    "name",
    [
        "clusters",
        "density",
        "uncertainty",
        "histogram",
        "scatter_matrix",
        "model",
        "log_likelihood",
        "bic",
        "selection",
        "em_progress",
    ],
)
def test_figures_are_not_kept_open_by_pyplot(drawings, name):
    plt.close("all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(25):
            figure = drawings[name]()
    assert plt.get_fignums() == []
    assert isinstance(figure, Figure)
    # Still a complete figure: it renders to a PNG without pyplot.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=20)
    assert buffer.getvalue()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "draw",
    [
        lambda model, X, ax: plotting.plot_clusters(model, X, ax=ax),
        lambda model, X, ax: plotting.plot_uncertainty(model, X, ax=ax),
        lambda model, X, ax: plotting.plot_density(model, X, ax=ax, grid_size=20),
        lambda model, X, ax: plotting.plot_log_likelihood(model, ax=ax),
    ],
)
def test_figures_draw_on_a_given_axes(model, faithful, draw):
    figure, (left, right) = plt.subplots(1, 2)
    assert draw(model, faithful, right) is figure
    assert right.has_data() and not left.has_data()
    assert plt.get_fignums() == [figure.number]


def test_density_on_a_pair_is_the_marginal_density():
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(3, 3))
    X = np.vstack(
        [rng.normal(size=(200, 3)) @ mixing, rng.normal(size=(200, 3)) @ mixing.T + [4, -2, 3]]
    )
    X = pd.DataFrame(X, columns=["a", "b", "c"])
    model = GaussianMixture(2, random_state=0).fit(X)
    pair = [2, 0]
    figure = plotting.plot_density(model, X, dimensions=pair, levels=8)
    axes = figure.axes[0]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("c", "a")
    assert figure.axes[1].get_ylabel() == "log p, marginal"

    def marginal(points):  # Σ_k π_k N(x_S | μ_k,S, Σ_k,SS), written out with scipy
        return np.log(
            sum(
                weight * multivariate_normal(mean[pair], covariance[np.ix_(pair, pair)]).pdf(points)
                for weight, mean, covariance in zip(
                    model.weights_, model.means_, model.covariances_, strict=True
                )
            )
        )

    (contours,) = [c for c in axes.collections if hasattr(c, "levels")]
    checked = 0
    for level, path in zip(contours.levels, contours.get_paths(), strict=True):
        vertices = path.vertices[path.codes != path.CLOSEPOLY]
        if len(vertices) == 0:
            continue
        # Every contour vertex lies on its level of the marginal density (to the linear
        # interpolation on a 150-point grid: < 0.01 here). A slice through the mean of the
        # third feature instead misses it by more than 100.
        np.testing.assert_allclose(marginal(vertices), level, atol=0.02)
        checked += len(vertices)
    assert checked > 100
    data_points = [c for c in axes.collections if isinstance(c, PathCollection)]
    np.testing.assert_array_equal(data_points[0].get_offsets(), X.to_numpy()[:, pair])
    # On two features the marginal is the model's own density.
    two = X[["a", "b"]]
    figure = plotting.plot_density(GaussianMixture(2, random_state=0).fit(two), two)
    assert figure.axes[1].get_ylabel() == "log p(x)"


def test_uncertainty_and_clusters_on_a_pair_of_three_features():
    X = pd.DataFrame(_small_three_features(), columns=["a", "b", "c"])
    model = GaussianMixture(2, covariance_type="VEV", random_state=0).fit(X)
    pair = [1, 2]
    for draw in (plotting.plot_uncertainty, plotting.plot_clusters):
        axes = draw(model, X, dimensions=(1, 2)).axes[0]
        assert (axes.get_xlabel(), axes.get_ylabel()) == ("b", "c")
        labels = model.predict(X)
        points = [c for c in axes.collections if isinstance(c, PathCollection)]
        for k in range(2):
            np.testing.assert_array_equal(
                points[k].get_offsets(), X.to_numpy()[labels == k][:, pair]
            )
        ellipses = _ellipses(axes)[:: len(_ellipses(axes)) // 2]
        np.testing.assert_allclose([e.center for e in ellipses], model.means_[:, pair])
        for ellipse, covariance in zip(ellipses, model.covariances_, strict=True):
            eigenvalues = np.linalg.eigvalsh(covariance[np.ix_(pair, pair)])
            assert sorted([ellipse.width, ellipse.height]) == pytest.approx(
                2 * np.sqrt(eigenvalues)
            )
    # Sizes follow the uncertainty of the whole three-feature model.
    axes = plotting.plot_uncertainty(model, X, dimensions=(1, 2)).axes[0]
    responsibilities = model.predict_proba(X)
    first = next(c for c in axes.collections if isinstance(c, PathCollection))
    chosen = responsibilities.argmax(axis=1) == 0
    expected = 4.0 + 140.0 * (1 - responsibilities[chosen].max(axis=1)) / 0.5
    np.testing.assert_allclose(first.get_sizes(), expected)
    # Without dimensions, the first two features, as in mclust.
    axes = plotting.plot_density(model, X, grid_size=20).axes[0]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("a", "b")


@pytest.mark.parametrize("dimensions", [(0, 0), (0, 3), (-1, 1), (0,), (0, 1, 2), (0.5, 1), "ab"])
def test_bad_dimensions_say_what_must_hold(dimensions):
    X = _small_three_features()
    model = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(InvalidParameterError, match=r"two different feature indices in \[0, 3\)"):
        plotting.plot_density(model, X, dimensions=dimensions)


def test_scatter_matrix_of_chosen_dimensions():
    X = pd.DataFrame(_small_three_features(), columns=["a", "b", "c"])
    model = GaussianMixture(2, random_state=0).fit(X)
    figure = plotting.plot_scatter_matrix(model, X, dimensions=[2, 0])
    grid = np.array(figure.axes).reshape(2, 2)
    assert [grid[1, j].get_xlabel() for j in range(2)] == ["c", "a"]
    centres = [tuple(e.center) for e in _ellipses(grid[1, 0])][::2]
    np.testing.assert_allclose(centres, model.means_[:, [2, 0]])
