"""Semi-supervised fits (GaussianMixture(semi_supervised=True).fit(X, y), select_model(y=...))
against closed forms, a brute-force EM written here, and scipy's densities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GaussianMixture, select_model
from gaussmix.arrays import ExecutorOptions, make_executor
from gaussmix.compiled_em import compiled_loop
from gaussmix.covariance import get_covariance_model
from gaussmix.exceptions import InvalidInputError, InvalidParameterError
from gaussmix.initialization import parameters_from_responsibilities
from gaussmix.semisupervised import LabelledExecutor

# Fixed iteration counts (tol = 0) compare iterations one for one; they do not converge.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(seed=0, sizes=(60, 50, 40)):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 1.0], [0.5, 4.0]])
    scales = [np.array([[1.0, 0.4], [0.0, 0.8]]), 0.7 * np.eye(2), np.diag([1.3, 0.6])]
    X = np.vstack(
        [
            rng.standard_normal((n, 2)) @ s + c
            for n, s, c in zip(sizes, scales, centres, strict=True)
        ]
    )
    return X, np.repeat(np.arange(3), sizes)


def _hide(labels, fraction, seed=1):
    hidden = labels.copy()
    hidden[np.random.default_rng(seed).random(len(labels)) < fraction] = -1
    return hidden


def _brute_log_likelihood(X, labels, weights, means, covariances, sample_weight=None):
    """Σ_unlabelled w log Σ_k π_k f_k + Σ_labelled w log(π_c f_c), with scipy's densities."""
    log_joint = np.column_stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X)
            for w, m, c in zip(weights, means, covariances, strict=True)
        ]
    )
    per_row = np.where(
        labels < 0, logsumexp(log_joint, axis=1), log_joint[np.arange(len(X)), labels.clip(0)]
    )
    sample_weight = np.ones(len(X)) if sample_weight is None else sample_weight
    return float(sample_weight @ per_row)


# ------------------------------------------------------- every row labelled
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_every_row_labelled_gives_the_closed_form_class_fit(covariance_type):
    X, y = _data()
    fitted = GaussianMixture(
        3, covariance_type=covariance_type, reg_covar=0.0, semi_supervised=True
    ).fit(X, y)
    counts = np.bincount(y)
    means = np.array([X[y == c].mean(0) for c in range(3)])
    scatter = [np.cov(X[y == c].T, bias=True) for c in range(3)]
    expected = {
        "full": np.array(scatter),
        "tied": sum(n * s for n, s in zip(counts, scatter, strict=True)) / len(X),
        "diag": np.array([np.diag(s) for s in scatter]),
        "spherical": np.array([np.trace(s) / 2 for s in scatter]),
    }[covariance_type]
    np.testing.assert_allclose(fitted.weights_, counts / len(X), rtol=1e-12)
    np.testing.assert_allclose(fitted.means_, means, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fitted.covariances_, expected, rtol=1e-10)
    # The first M-step is the answer; the second iteration sees no change.
    assert fitted.converged_ and fitted.n_iter_ == 2
    dense = {
        "full": lambda: expected,
        "tied": lambda: [expected] * 3,
        "diag": lambda: [np.diag(v) for v in expected],
        "spherical": lambda: [v * np.eye(2) for v in expected],
    }[covariance_type]()
    total = _brute_log_likelihood(X, y, counts / len(X), means, dense)
    np.testing.assert_allclose(fitted.log_likelihood_ * len(X), total, rtol=1e-12)


# ----------------------------------------------------------- no row labelled
def test_no_row_labelled_is_the_ordinary_fit():
    X, _ = _data()
    unlabelled = np.full(len(X), -1)
    ordinary = GaussianMixture(3, random_state=0).fit(X)
    semi = GaussianMixture(3, random_state=0, semi_supervised=True).fit(X, unlabelled)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(semi, name), getattr(ordinary, name))


@pytest.mark.parametrize("covariance_type", ["VVV", "EEE", "VII", "VEV"])
def test_labelled_executor_without_labels_is_ordinary_em_from_the_same_start(covariance_type):
    # The labelled source with every row unlabelled, against the ordinary executor.
    from gaussmix.em import run_em

    X, _ = _data(seed=2)
    model = get_covariance_model(covariance_type)
    start = parameters_from_responsibilities(X, None, np.eye(3)[np.arange(len(X)) % 3], model, 0.0)
    ordinary = make_executor(X, None, ExecutorOptions(), 3)
    labelled = LabelledExecutor(
        make_executor(X, None, ExecutorOptions(), 3),
        np.full(len(X), -1),
        3,
        lambda rows, weights, k: make_executor(rows, weights, ExecutorOptions(), k),
    )
    assert compiled_loop(labelled, model, start) is None
    settings = {"reg_covar": 0.0, "tol": 0.0, "max_iter": 25}
    one = run_em(ordinary, start, model, **settings)
    two = run_em(labelled, start, model, **settings)
    np.testing.assert_allclose(two.parameters.means, one.parameters.means, rtol=1e-12)
    np.testing.assert_allclose(two.lower_bounds, one.lower_bounds, rtol=1e-12)


# ------------------------------------------------- some rows labelled: EM
def _brute_semisupervised_em(X, labels, n_iter, sample_weight=None):
    """mclust's MclustSSC iteration for VVV, written out: start 1/G, one-hot labels."""
    n, K = len(X), labels.max() + 1
    w = np.ones(n) if sample_weight is None else sample_weight
    gamma = np.full((n, K), 1.0 / K)
    gamma[labels >= 0] = np.eye(K)[labels[labels >= 0]]
    # The start's M-step, then n_iter iterations of E-step and M-step.
    for _ in range(n_iter + 1):
        n_k = (w[:, None] * gamma).sum(0)
        weights = n_k / w.sum()
        means = (w[:, None] * gamma).T @ X / n_k[:, None]
        covariances = np.array(
            [
                ((X - means[k]) * (w * gamma[:, k])[:, None]).T @ (X - means[k]) / n_k[k]
                for k in range(K)
            ]
        )
        log_joint = np.column_stack(
            [
                np.log(weights[k]) + multivariate_normal(means[k], covariances[k]).logpdf(X)
                for k in range(K)
            ]
        )
        gamma = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        gamma[labels >= 0] = np.eye(K)[labels[labels >= 0]]
    return weights, means, covariances


@pytest.mark.parametrize("weighted", [False, True])
def test_partly_labelled_fit_equals_brute_force_em(weighted):
    X, y = _data(seed=3)
    labels = _hide(y, 0.7)
    sample_weight = np.random.default_rng(4).uniform(0.5, 2.0, len(X)) if weighted else None
    n_iter = 30
    fitted = GaussianMixture(3, reg_covar=0.0, tol=0.0, max_iter=n_iter, semi_supervised=True).fit(
        X, labels, sample_weight=sample_weight
    )
    assert fitted.n_iter_ == n_iter
    weights, means, covariances = _brute_semisupervised_em(X, labels, n_iter, sample_weight)
    np.testing.assert_allclose(fitted.weights_, weights, rtol=1e-9)
    np.testing.assert_allclose(fitted.means_, means, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fitted.covariances_, covariances, rtol=1e-9)
    total_weight = len(X) if sample_weight is None else sample_weight.sum()
    total = _brute_log_likelihood(
        X, labels, fitted.weights_, fitted.means_, fitted.covariances_, sample_weight
    )
    np.testing.assert_allclose(fitted.log_likelihood_ * total_weight, total, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["VVV", "EEE", "VEV", "EVE", "VII"])
def test_labelled_objective_never_decreases(covariance_type):
    X, y = _data(seed=5)
    fitted = GaussianMixture(
        3,
        covariance_type=covariance_type,
        reg_covar=0.0,
        tol=0.0,
        max_iter=40,
        semi_supervised=True,
    ).fit(X, _hide(y, 0.85, seed=6))
    history = fitted.log_likelihood_history_
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:])), np.diff(history).min()


def test_integer_weights_equal_repeated_rows():
    X, y = _data(seed=7)
    labels = _hide(y, 0.6, seed=8)
    counts = np.random.default_rng(9).integers(1, 4, len(X))
    settings = {"reg_covar": 0.0, "tol": 0.0, "max_iter": 20, "semi_supervised": True}
    weighted = GaussianMixture(3, **settings).fit(X, labels, sample_weight=counts)
    repeated = GaussianMixture(3, **settings).fit(
        np.repeat(X, counts, axis=0), np.repeat(labels, counts)
    )
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-10)
    np.testing.assert_allclose(weighted.log_likelihood_, repeated.log_likelihood_, rtol=1e-12)


def test_component_without_labels_starts_from_init_params():
    # Classes 0 and 1 labelled, component 2 not: 1/G would keep it a copy of another.
    X, y = _data(seed=10)
    labels = np.where(y == 2, -1, _hide(y, 0.5, seed=11))
    fitted = GaussianMixture(3, random_state=0, semi_supervised=True).fit(X, labels)
    # Every true class is found: each one's mean is near one fitted mean.
    true = np.array([X[y == c].mean(0) for c in range(3)])
    distance = np.linalg.norm(true[:, None] - fitted.means_[None], axis=2)
    assert np.all(distance.min(axis=1) < 0.5)
    np.testing.assert_array_equal(fitted.predict(X[labels >= 0]) >= 0, True)


def test_predictions_on_new_data_are_the_ordinary_mixtures():
    X, y = _data(seed=12)
    fitted = GaussianMixture(3, semi_supervised=True).fit(X, _hide(y, 0.5))
    X_new = np.random.default_rng(13).normal(1, 2, (25, 2))
    log_joint = np.column_stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X_new)
            for w, m, c in zip(fitted.weights_, fitted.means_, fitted.covariances_, strict=True)
        ]
    )
    np.testing.assert_allclose(fitted.score_samples(X_new), logsumexp(log_joint, 1), rtol=1e-12)
    np.testing.assert_array_equal(fitted.predict(X_new), np.argmax(log_joint, axis=1))


def test_without_semi_supervised_y_is_ignored():
    X, y = _data()
    ignored = GaussianMixture(3, random_state=0).fit(X, y[::-1])
    plain = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(ignored.means_, plain.means_)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda y: np.where(y == 2, 3, y), r"-1 or 0 … 2 .*got 3"),
        (lambda y: np.where(y == 2, -2, y), r"got -2"),
        (lambda y: y + 0.5, "integer component indices"),
        (lambda y: y.astype(str), "integer component indices"),
        (lambda y: y[:-1], r"one label per row of X, shape \(150,\)"),
    ],
)
def test_bad_labels_are_errors(labels, message):
    X, y = _data()
    model = GaussianMixture(3, semi_supervised=True)
    with pytest.raises(InvalidInputError, match=message):
        model.fit(X, labels(y))
    assert not hasattr(model, "means_")


def test_semi_supervised_must_be_a_bool():
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="semi_supervised"):
        GaussianMixture(3, semi_supervised="yes").fit(X, y)


# ----------------------------------------------------------- select_model
def test_select_model_with_labels():
    X, y = _data(seed=14)
    labels = _hide(y, 0.8, seed=15)
    selection = select_model(
        X, n_components=[2, 3, 4], covariance_types=["VVV", "EII"], y=labels, nested_starts=False
    )
    table = selection.results_
    # G = 2 cannot hold the label 2: recorded, not raised.
    assert table.loc[table.n_components == 2, "error"].str.contains("0 … 1").all()
    best = selection.best_estimator_
    assert best.semi_supervised and selection.best_params_["n_components"] >= 3
    # The table's log-likelihood is that of the data and the labels, its BIC an ordinary
    # mixture's parameter count.
    row = table[
        (table.covariance_type == best.covariance_type) & (table.n_components == best.n_components)
    ].iloc[0]
    dense = (
        best.covariances_
        if best.covariance_type == "VVV"
        else [v * np.eye(2) for v in best.covariances_]
    )
    padded = np.where(labels >= 0, labels, -1)
    total = _brute_log_likelihood(X, padded, best.weights_, best.means_, dense)
    np.testing.assert_allclose(row.log_likelihood, total, rtol=1e-10)
    G = best.n_components
    p = (G - 1) + 2 * G + get_covariance_model(best.covariance_type).n_parameters(G, 2)
    np.testing.assert_allclose(row.bic, -2 * total + p * np.log(len(X)), rtol=1e-10)
    # The G = 3 VVV cell is the estimator's fit from mclust's 1/G start.
    direct = GaussianMixture(
        3, reg_covar=0.0, tol=1e-5, convergence="relative", max_iter=1000, semi_supervised=True
    ).fit(X, labels)
    cell = table[(table.covariance_type == "VVV") & (table.n_components == 3)].iloc[0]
    np.testing.assert_allclose(cell.log_likelihood, direct.log_likelihood_ * len(X), rtol=1e-10)


def test_semi_supervised_setting_round_trips_in_model_files(tmp_path):
    import gaussmix

    X, y = _data()
    fitted = GaussianMixture(3, semi_supervised=True).fit(X, _hide(y, 0.5))
    loaded = gaussmix.load(gaussmix.save(fitted, tmp_path / "m.gmm"))
    assert loaded.semi_supervised is True
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_torch_tensors_give_the_numpy_fit_and_dask_is_refused():
    torch = pytest.importorskip("torch")
    X, y = _data(seed=16)
    labels = _hide(y, 0.6, seed=17)
    settings = {"tol": 0.0, "max_iter": 10, "semi_supervised": True}
    on_numpy = GaussianMixture(3, **settings).fit(X, labels)
    on_torch = GaussianMixture(3, backend="torch", device="cpu", **settings)
    on_torch.fit(torch.from_numpy(X), labels)
    np.testing.assert_allclose(on_torch.means_, on_numpy.means_, rtol=1e-10, atol=1e-12)
    dask_array = pytest.importorskip("dask.array")
    with pytest.raises(InvalidInputError, match="in-memory X"):
        GaussianMixture(3, semi_supervised=True).fit(dask_array.from_array(X, chunks=50), labels)


# R mclust 6.0.0: MclustSSC(iris[, 1:4], class, modelNames = m) with the species of rows
# 1, 11, 21, …, 141 known (NA elsewhere); its loop stops when the log-likelihood rises by
# less than 1e-5, so ours, run to 1e-10, is at most that much higher.
_MCLUST_SSC_IRIS = {"VEV": -198.32426895, "VVV": -190.92126293, "EEE": -258.00280008}


@pytest.mark.parametrize("code", sorted(_MCLUST_SSC_IRIS))
def test_matches_mclust_ssc_on_iris(code):
    from importlib.resources import files

    import pandas as pd

    frame = pd.read_csv(files("gaussmix") / "data/iris.csv")
    X = frame.iloc[:, :4].to_numpy()
    species = frame["Species"].map({"setosa": 0, "versicolor": 1, "virginica": 2}).to_numpy()
    labels = np.full(len(X), -1)
    labels[::10] = species[::10]
    fitted = GaussianMixture(
        3, covariance_type=code, reg_covar=0.0, tol=1e-10, max_iter=5000, semi_supervised=True
    ).fit(X, labels)
    ours, theirs = fitted.log_likelihood_ * len(X), _MCLUST_SSC_IRIS[code]
    assert theirs - 1e-8 <= ours <= theirs + 1e-5, ours - theirs
