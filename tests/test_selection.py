"""select_model: the published Old Faithful reference, the results table, degenerate fits."""

from __future__ import annotations

import math
from importlib.resources import files

import matplotlib
import numpy as np
import pytest

from gaussmix import GaussianMixture, InvalidInputError, InvalidParameterError, select_model
from gaussmix.covariance import MCLUST_MODELS

matplotlib.use("Agg")

# mclust 6: Mclust(faithful) selects EEE with 3 components, BIC = -2314.32 in its sign.
MCLUST_FAITHFUL_BIC = -2314.32


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return np.loadtxt(files("gaussmix") / "data/faithful.csv", delimiter=",", skiprows=1)


@pytest.fixture(scope="module")
def faithful_selection(faithful):
    return select_model(faithful, n_components=range(1, 10), covariance_types="all", n_jobs=2)


def test_faithful_selects_mclusts_model_and_bic(faithful_selection):
    assert faithful_selection.best_params_ == {"covariance_type": "EEE", "n_components": 3}
    best_bic = faithful_selection.results_["bic"].min()
    assert abs(-best_bic - MCLUST_FAITHFUL_BIC) < 0.05


def test_results_table_holds_every_combination_with_consistent_criteria(
    faithful, faithful_selection
):
    table = faithful_selection.results_
    assert list(table.columns) == [
        "covariance_type",
        "n_components",
        "log_likelihood",
        "n_parameters",
        "bic",
        "aic",
        "icl",
        "converged",
        "n_iter",
        "error",
    ]
    assert len(table) == 14 * 9
    assert set(table["covariance_type"]) == set(MCLUST_MODELS)
    n = faithful.shape[0]
    np.testing.assert_allclose(
        table["bic"], -2 * table["log_likelihood"] + table["n_parameters"] * math.log(n)
    )
    np.testing.assert_allclose(
        table["aic"], -2 * table["log_likelihood"] + 2 * table["n_parameters"]
    )
    assert np.all(table["icl"] >= table["bic"] - 1e-9)
    # The best estimator's own criteria, computed through its public methods, agree.
    best = faithful_selection.best_estimator_
    assert best.bic(faithful) == pytest.approx(table["bic"].min(), rel=1e-12)
    assert best.covariances_.shape == (3, 2, 2)


def test_plot_draws_one_line_per_model_and_marks_the_best(faithful_selection):
    figure = faithful_selection.plot()
    axes = figure.axes[0]
    assert len(axes.lines) == 14 + 1
    assert axes.lines[-1].get_xdata()[0] == 3


def test_degenerate_fits_are_recorded_not_fatal():
    rng = np.random.default_rng(0)
    X = (
        np.repeat(rng.normal(size=(4, 2)), 5, axis=0)
        + np.r_[rng.normal(size=(4, 2)) * 0.1, np.zeros((16, 2))]
    )
    result = select_model(X, n_components=[1, 2, 5, 30], covariance_types=["VVV", "EII"])
    table = result.results_
    failed = table[table["error"] != ""]
    assert not failed.empty
    assert failed["bic"].isna().all()
    assert (table.loc[table["n_components"] == 30, "error"].str.contains("exceeds")).all()
    assert result.best_params_["n_components"] in (1, 2, 5)


def test_parallel_and_sequential_give_the_same_table(faithful):
    options = {"n_components": [2, 3], "covariance_types": ["VEI", "EVE", "tied"]}
    sequential = select_model(faithful, **options).results_
    parallel = select_model(faithful, n_jobs=2, **options).results_
    np.testing.assert_allclose(sequential["bic"], parallel["bic"], rtol=1e-12)


def test_sample_weights_count_as_repeated_rows(faithful):
    weights = np.random.default_rng(1).integers(1, 3, size=faithful.shape[0])
    options = {"n_components": [2], "covariance_types": ["VVE"], "init_params": "kmeans"}
    start = np.random.default_rng(2).integers(0, 2, size=faithful.shape[0])
    weighted = select_model(faithful, sample_weight=weights, **options, random_state=0)
    # Same start for the repeated rows: refit both from the weighted partition.
    gm_weighted = GaussianMixture(
        2, covariance_type="VVE", responsibilities_init=start, reg_covar=0, tol=1e-10, max_iter=500
    )
    gm_weighted.fit(faithful, sample_weight=weights)
    gm_repeated = GaussianMixture(
        2,
        covariance_type="VVE",
        responsibilities_init=np.repeat(start, weights),
        reg_covar=0,
        tol=1e-10,
        max_iter=500,
    )
    gm_repeated.fit(np.repeat(faithful, weights, axis=0))
    assert gm_weighted.log_likelihood_ == pytest.approx(gm_repeated.log_likelihood_, rel=1e-9)
    row = weighted.results_.iloc[0]
    assert row["log_likelihood"] == pytest.approx(
        weighted.best_estimator_.log_likelihood_ * weights.sum(), rel=1e-12
    )
    assert row["bic"] == pytest.approx(
        -2 * row["log_likelihood"] + row["n_parameters"] * math.log(weights.sum()), rel=1e-12
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"criterion": "likelihood"}, "criterion must be one of"),
        ({"covariance_types": ["VVX"]}, "covariance_type must be one of"),
        ({"n_components": []}, "at least one number"),
        ({"n_components": [0, 2]}, "n_components"),
        ({"init_params": "ward"}, "init_params must be one of"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_bad_arguments_raise(faithful, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        select_model(faithful, **options)


def test_every_fit_degenerate_raises_a_named_error():
    X = np.zeros((10, 2))
    with pytest.raises(InvalidInputError, match="at least one fit that does not degenerate"):
        select_model(X, n_components=[1, 2], covariance_types=["VVV"])


def test_best_estimator_keeps_the_column_names_of_a_dataframe(faithful):
    import warnings

    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(faithful, columns=["eruptions", "waiting"])
    selection = select_model(frame, n_components=[2], covariance_types=["VVV"])
    best = selection.best_estimator_
    assert list(best.feature_names_in_) == ["eruptions", "waiting"]
    with warnings.catch_warnings():
        # scikit-learn warns when names are given to a model fitted without them.
        warnings.simplefilter("error")
        assert best.bic(frame) == pytest.approx(selection.results_["bic"].iloc[0], rel=1e-12)
