"""select_model: the published Old Faithful reference, the results table, degenerate fits,
parallel fits, the summary, the returned estimator and interrupts."""

from __future__ import annotations

import math
import sys
import threading
import warnings
from importlib.resources import files

import matplotlib
import numpy as np
import pandas
import pytest
from sklearn.base import clone

from gaussmix import GaussianMixture, InvalidInputError, InvalidParameterError, select_model
from gaussmix import selection as selection_module
from gaussmix.covariance import MCLUST_MODELS
from gaussmix.selection import SelectionInterrupted, SelectionProgress, parallel_plan

matplotlib.use("Agg")

# mclust 6: Mclust(faithful) selects EEE with 3 components, BIC = -2314.32 in its sign.
MCLUST_FAITHFUL_BIC = -2314.32


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return np.loadtxt(files("gaussmix") / "data/faithful.csv", delimiter=",", skiprows=1)


@pytest.fixture(scope="module")
def faithful_selection(faithful):
    return select_model(faithful, n_components=range(1, 10), covariance_types="all")


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
        "reseeds",
        "start",
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
    assert f"; {len(failed)} failed," in result.summary()


@pytest.mark.parametrize("backend", ["loky", "threading"])
@pytest.mark.parametrize("plan", ["threads", "processes"])
def test_parallel_and_sequential_give_the_same_table(
    faithful, faithful_selection, backend, plan, monkeypatch
):
    joblib = pytest.importorskip("joblib")
    options = {"n_components": [1, 3, 4], "covariance_types": ["VEI", "EVE", "tied", "VVV"]}
    sequential = select_model(faithful, n_jobs=1, **options)
    if plan == "processes":
        # The plan of fits without the compiled loop: one job per cell, then one per G for
        # the second starts (the threads' plan: one job per G, fits and second starts).
        monkeypatch.setattr(selection_module, "_compiled_fits", lambda *_: False)
    with joblib.parallel_config(backend=backend):
        parallel = select_model(faithful, n_jobs=2, **options)
    pandas.testing.assert_frame_equal(parallel.results_, sequential.results_)
    assert parallel.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(parallel.labels_, sequential.labels_)
    # The default (sequential for data this small) agrees with the full run's rows too,
    # where both come from the shared start (a second start depends on which nested
    # models the run has).
    full = faithful_selection.results_.set_index(["covariance_type", "n_components"])
    subset = sequential.results_.set_index(["covariance_type", "n_components"])
    common = subset.index.intersection(full.index)
    common = common[(subset.loc[common, "start"] == "") & (full.loc[common, "start"] == "")]
    assert len(common) >= 5
    pandas.testing.assert_frame_equal(subset.loc[common], full.loc[common])


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
        ({"convergence": "loose"}, "convergence must be one of"),
        ({"n_jobs": 0}, "n_jobs must not be 0"),
        ({"n_jobs": 1.5}, "n_jobs must be None"),
        ({"callback": 3}, "callback must be callable"),
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


def test_defaults_use_mclusts_convergence_rule(faithful_selection):
    best = faithful_selection.best_estimator_
    assert (best.tol, best.convergence, best.reg_covar, best.max_iter) == (
        1e-5,
        "relative",
        0.0,
        1000,
    )
    # Every converged fit stopped by the relative rule on the total log-likelihood.
    table = faithful_selection.results_
    assert table["converged"].all()


def test_parallel_plan_by_data_size(monkeypatch):
    monkeypatch.setattr(selection_module, "default_n_threads", lambda: 4)
    # Small data: threads with the compiled kernels, one fit after the other without.
    # (at most two threads by default: the fits' Python holds the GIL half of the time)
    assert parallel_plan(None, 272, 2, 126, compiled=True) == (2, "threads")
    assert parallel_plan(None, 272, 2, 126, compiled=False) == (1, "processes")
    assert parallel_plan(None, 272, 2, 1, compiled=True) == (1, "threads")
    assert parallel_plan(3, 272, 2, 126, compiled=True) == (3, "threads")
    # Large data: processes whatever the kernels.
    assert parallel_plan(None, 10_000, 5, 126, compiled=True) == (4, "processes")
    assert parallel_plan(None, 10_000, 5, 126) == (4, "processes")
    assert parallel_plan(None, 10_000, 5, 3) == (3, "processes")
    assert parallel_plan(-1, 272, 2, 126) == (4, "processes")
    assert parallel_plan(-1, 272, 2, 126, compiled=True) == (4, "threads")
    assert parallel_plan(-2, 272, 2, 126) == (3, "processes")
    assert parallel_plan(1, 10_000, 5, 126) == (1, "processes")
    assert parallel_plan(1, 272, 2, 126, compiled=True) == (1, "threads")
    assert parallel_plan(8, 10_000, 5, 126) == (8, "processes")


def test_the_default_plan_fits_small_data_in_threads_under_the_fits_filters(
    faithful, monkeypatch
):
    pytest.importorskip("numba")
    options = {"n_components": [1, 3, 4], "covariance_types": ["EII", "VEI", "EVE", "VVV"]}
    sequential = select_model(faithful, n_jobs=1, **options)
    monkeypatch.setattr(selection_module, "default_n_threads", lambda: 2)
    seen: list[tuple[bool, str]] = []
    fit_one = selection_module._fit_one

    def recorded(*arguments):
        # Which thread runs the fit, and the first warning filter it sees for a
        # RuntimeWarning (select_model's "error"; never a worker thread's own).
        action = next(
            entry[0] for entry in warnings.filters if issubclass(RuntimeWarning, entry[2])
        )
        seen.append((threading.current_thread() is threading.main_thread(), action))
        return fit_one(*arguments)

    monkeypatch.setattr(selection_module, "_fit_one", recorded)
    interval = sys.getswitchinterval()
    threaded = select_model(faithful, **options)
    assert sys.getswitchinterval() == interval
    pandas.testing.assert_frame_equal(threaded.results_, sequential.results_)
    np.testing.assert_array_equal(threaded.labels_, sequential.labels_)
    # Every fit (second starts included) ran in a worker thread under the fits' filters.
    assert len(seen) >= 12
    assert all(not in_main and action == "error" for in_main, action in seen)


def test_summary_reports_what_mclust_summary_reports(faithful, faithful_selection):
    table = faithful_selection.results_
    text = faithful_selection.summary()
    # The best row, found here by sorting the table, not by the selection's own choice.
    ranked = table.dropna(subset=["bic"]).sort_values("bic", kind="stable")
    best = ranked.iloc[0]
    assert (best["covariance_type"], best["n_components"]) == ("EEE", 3)
    assert "Best model: EEE (ellipsoidal; volume equal, shape equal, orientation equal)" in text
    assert "with 3 components" in text
    values = [f"{best['log_likelihood']:.3f}", "272", str(best["n_parameters"])]
    values += [f"{best['bic']:.3f}", f"{best['icl']:.3f}"]
    line = next(line for line in text.splitlines() if values[0] in line)
    assert line.split() == values
    assert "lower is better" in text and "BIC_mclust = −BIC" in text
    # Top three with their differences from the best.
    lines = text.splitlines()
    heading = lines.index("Top 3 models by BIC (difference = BIC − best BIC, ≥ 0):")
    top = lines[heading + 2 : heading + 5]
    for line, (_, model) in zip(top, ranked.head(3).iterrows(), strict=True):
        assert line.split() == [
            model["covariance_type"],
            str(model["n_components"]),
            f"{model['bic']:.3f}",
            f"{model['bic'] - best['bic']:.3f}",
        ]
    # The clustering table: rows per component of the best mixture's MAP partition.
    sizes = np.bincount(faithful_selection.best_estimator_.predict(faithful), minlength=3)
    assert sizes.sum() == 272
    assert ["rows", *map(str, sizes)] in [line.split() for line in text.splitlines()]
    assert str(faithful_selection) == text


def test_summary_with_parameters_lists_weights_means_and_covariances(faithful_selection):
    text = faithful_selection.summary(parameters=True)
    best = faithful_selection.best_estimator_
    lines = [line.split() for line in text.splitlines()]
    assert ["weight", *(f"{w:.7g}" for w in best.weights_)] in lines
    assert ["x0", *(f"{m:.7g}" for m in best.means_[:, 0])] in lines
    assert ["x1", *(f"{m:.7g}" for m in best.means_[:, 1])] in lines
    for component in range(3):
        assert ["component", f"{component}:"] in lines
        assert ["x0", *(f"{v:.7g}" for v in best.covariances_[component, 0])] in lines


def test_summary_of_an_sklearn_name_and_icl(faithful):
    result = select_model(faithful, n_components=[2, 3], covariance_types=["full"], criterion="icl")
    text = result.summary(top=2)
    assert "Best model: full = VVV (ellipsoidal; volume varying" in text
    assert "Top 2 models by ICL" in text


def test_best_estimator_can_be_cloned_and_refitted(faithful, faithful_selection):
    best = faithful_selection.best_estimator_
    assert best.responsibilities_init is None
    assert best.init_params == "hierarchical"
    assert len(repr(best).splitlines()) <= 4 and "array" not in repr(best)
    # With the hierarchical start a refit on the same data is the same mixture.
    refit = clone(best).fit(faithful)
    np.testing.assert_allclose(refit.means_, best.means_, rtol=1e-12)
    assert refit.n_iter_ == best.n_iter_
    # And it fits other data like any estimator.
    other = np.random.default_rng(0).normal(size=(60, 3))
    assert clone(best).fit(other[:, :2]).means_.shape == (3, 2)
    assert clone(best).fit(other).means_.shape == (3, 3)


def _interrupt_after(count: int):
    seen: list[SelectionProgress] = []

    def callback(progress: SelectionProgress) -> None:
        seen.append(progress)
        if progress.n_done == count:
            raise KeyboardInterrupt

    return callback, seen


def test_progress_reports_every_fit_and_the_best_so_far(faithful):
    seen: list[SelectionProgress] = []
    options = {"n_components": [1, 2, 3], "covariance_types": ["EEE", "VVV"]}
    result = select_model(faithful, callback=seen.append, **options)
    assert [progress.n_done for progress in seen] == list(range(1, 7))
    assert {progress.n_fits for progress in seen} == {6}
    table = result.results_.set_index(["covariance_type", "n_components"], drop=False)
    # Fits may finish out of table order (worker threads): the best so far is the best
    # among the fits reported so far, ties going to the earlier row.
    reported = [(progress.covariance_type, progress.n_components) for progress in seen]
    assert sorted(reported) == sorted(table.index)
    for progress in seen:
        head = table.loc[[cell for cell in table.index if cell in reported[: progress.n_done]]]
        best = head.iloc[int(np.argmin(head["bic"].to_numpy()))]
        assert (progress.best_covariance_type, progress.best_n_components) == (
            best["covariance_type"],
            best["n_components"],
        )
        assert progress.best_score == best["bic"]
    assert seen[-1].best_covariance_type == result.best_params_["covariance_type"]


def test_interrupt_keeps_the_finished_fits(faithful):
    options = {"n_components": [1, 2, 3], "covariance_types": ["EEE", "VVV", "EII"]}
    full = select_model(faithful, **options)
    callback, _ = _interrupt_after(5)
    with pytest.raises(SelectionInterrupted) as caught:
        select_model(faithful, callback=callback, **options)
    stop = caught.value
    assert isinstance(stop, KeyboardInterrupt)
    assert (stop.n_done, stop.n_fits) == (5, 9)
    partial = stop.selection
    assert not partial.complete and partial.n_fits == 9
    # The finished fits (in worker threads not necessarily the first five), in table order.
    cells = ["covariance_type", "n_components"]
    rows = partial.results_.set_index(cells)
    assert len(rows) == 5
    head = full.results_.set_index(cells, drop=False).loc[rows.index]
    pandas.testing.assert_frame_equal(rows, full.results_.set_index(cells).loc[rows.index])
    order = full.results_.set_index(cells).index
    assert list(order.get_indexer(rows.index)) == sorted(order.get_indexer(rows.index))
    best = head.iloc[int(np.argmin(head["bic"].to_numpy()))]
    assert partial.best_params_ == {
        "covariance_type": best["covariance_type"],
        "n_components": best["n_components"],
    }
    assert partial.best_estimator_.bic(faithful) == pytest.approx(best["bic"], rel=1e-12)
    assert "INTERRUPTED: 5 of 9 fits had finished" in partial.summary()


def test_interrupt_inside_a_fit_keeps_the_fits_before_it(faithful, monkeypatch):
    calls = []
    fit_one = selection_module._fit_one

    def interrupted_fit(*arguments):
        calls.append(arguments[2:4])
        if len(calls) == 3:
            raise KeyboardInterrupt  # as Ctrl-C in the middle of the third EM run
        return fit_one(*arguments)

    monkeypatch.setattr(selection_module, "_fit_one", interrupted_fit)
    with pytest.raises(SelectionInterrupted) as caught:
        select_model(faithful, n_components=[2, 3], covariance_types=["EEE", "VVV"], n_jobs=1)
    assert caught.value.n_done == 2
    assert list(caught.value.selection.results_["covariance_type"]) == ["EEE", "VVV"]

    calls.clear()

    def first_fit_interrupted(*arguments):
        raise KeyboardInterrupt

    monkeypatch.setattr(selection_module, "_fit_one", first_fit_interrupted)
    with pytest.raises(SelectionInterrupted) as caught:
        select_model(faithful, n_components=[2], covariance_types=["EEE"], n_jobs=1)
    assert caught.value.selection is None and caught.value.n_done == 0


def test_interrupt_of_parallel_fits(faithful):
    joblib = pytest.importorskip("joblib")
    callback, seen = _interrupt_after(2)
    options = {"n_components": [1, 2, 3], "covariance_types": ["EEE", "VVV"]}
    with joblib.parallel_config(backend="threading"), pytest.raises(SelectionInterrupted) as caught:
        select_model(faithful, n_jobs=2, callback=callback, **options)
    partial = caught.value.selection
    assert len(partial.results_) == 2 == len(seen)
    full = select_model(faithful, **options).results_.set_index(["covariance_type", "n_components"])
    rows = partial.results_.set_index(["covariance_type", "n_components"])
    pandas.testing.assert_frame_equal(rows, full.loc[rows.index])


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("EII", "EII (spherical; volume equal)"),
        ("VEI", "VEI (diagonal; volume varying, shape equal)"),
        ("EVV", "EVV (ellipsoidal; volume equal, shape varying, orientation varying)"),
        ("diag", "diag = VVI (diagonal; volume varying, shape varying)"),
    ],
)
def test_models_are_described_by_their_letters(code, words):
    from gaussmix.selection_summary import describe_model

    assert describe_model(code) == words


def test_singular_and_empty_components_are_degenerate_fits(faithful):
    from gaussmix.selection import _degeneracy, _largest_variance

    variance = _largest_variance(faithful, None)
    assert variance == pytest.approx(np.linalg.eigvalsh(np.cov(faithful.T, bias=True))[-1])
    fitted = GaussianMixture(2, covariance_type="VVV", random_state=0).fit(faithful)
    assert _degeneracy(fitted._fitted_parameters(), 272.0, variance) == ""
    # A component shrunk onto a point: every variance 1e-18 of what it was.
    shrunk = clone(fitted).fit(faithful)
    shrunk.covariances_ = shrunk.covariances_ * np.array([1.0, 1e-18])[:, None, None]
    message = _degeneracy(shrunk._fitted_parameters(), 272.0, variance)
    assert "singular covariance: component(s) [1]" in message
    # Just above the threshold it is not singular (the test is relative to the data).
    smallest = np.linalg.eigvalsh(fitted.covariances_[1])[0]
    barely = clone(fitted).fit(faithful)
    factor = 2 * np.finfo(float).eps * variance / smallest
    barely.covariances_ = barely.covariances_ * np.array([1.0, factor])[:, None, None]
    assert _degeneracy(barely._fitted_parameters(), 272.0, variance) == ""
    # In other units (data 10⁻⁶ times as large) the answers are the same.
    fitted.covariances_ = fitted.covariances_ * 1e-12
    shrunk.covariances_ = shrunk.covariances_ * 1e-12
    assert _degeneracy(fitted._fitted_parameters(), 272.0, variance * 1e-12) == ""
    assert _degeneracy(shrunk._fitted_parameters(), 272.0, variance * 1e-12) != ""
    empty = clone(fitted).fit(faithful)
    empty.weights_ = np.array([1.0, 1e-12])
    assert "empty component(s) [1]" in _degeneracy(empty._fitted_parameters(), 272.0, variance)


def test_threads_plan_keeps_the_noise_only_rows_in_place(faithful, monkeypatch):
    # Fits with noise run in Python (threads are not chosen for them); forced onto the
    # threads' plan, the rows of G = 0 (before every other) still keep their places.
    options = {"n_components": [0, 1, 2], "covariance_types": ["EII", "VVV"], "noise": True}
    sequential = select_model(faithful, n_jobs=1, **options)
    monkeypatch.setattr(selection_module, "_compiled_fits", lambda *_: True)
    monkeypatch.setattr(selection_module.precompile, "ready", lambda: True)
    threaded = select_model(faithful, n_jobs=2, **options)
    assert list(threaded.results_["n_components"]) == [0, 0, 1, 1, 2, 2]
    pandas.testing.assert_frame_equal(threaded.results_, sequential.results_)
