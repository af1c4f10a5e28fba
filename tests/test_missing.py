"""missing="em": EM on the observed-data likelihood, against independent computations.

The references are written here row by row: scipy.stats marginals, conditional Gaussians
solved per row, the textbook M-step of each covariance model (Ghahramani & Jordan 1994),
and a direct numerical maximisation of the observed-data likelihood (scipy.optimize).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from gaussmix import GaussianMixture, select_model
from gaussmix.arrays import ExecutorOptions, make_executor
from gaussmix.compiled_em import compiled_loop
from gaussmix.covariance import get_covariance_model
from gaussmix.exceptions import InvalidInputError, InvalidParameterError
from gaussmix.missing import MissingValuesExecutor, group_patterns

REG = 1e-6


def _mixture_data(n=120, seed=0, fraction=0.15, n_features=3):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0, 0.0], [3.0, 2.0, -1.0, 1.0]])[:, :n_features]
    labels = rng.integers(0, 2, n)
    mixing = np.array(
        [[1.0, 0.5, 0.2, 0.0], [0.0, 1.0, 0.4, 0.3], [0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 0.0, 1.0]]
    )[:n_features, :n_features]
    X = centres[labels] + rng.standard_normal((n, n_features)) @ mixing
    holes = rng.random(X.shape) < fraction
    holes[np.all(holes, axis=1), 0] = False  # every row keeps an observed entry
    with_nan = X.copy()
    with_nan[holes] = np.nan
    return X, with_nan


# ------------------------------------------------------------- brute-force reference


def _row_expectations(x, weights, means, covariances):
    """Per row: log p(x_o), responsibilities, E[x | x_o, k] and E[(x−μ_k)(x−μ_k)ᵀ | x_o, k]."""
    o = np.flatnonzero(~np.isnan(x))
    m = np.flatnonzero(np.isnan(x))
    K, D = means.shape
    log_terms = np.empty(K)
    filled = np.empty((K, D))
    second = np.empty((K, D, D))
    for k in range(K):
        S = covariances[k]
        log_terms[k] = np.log(weights[k]) + stats.multivariate_normal(
            means[k, o], S[np.ix_(o, o)]
        ).logpdf(x[o])
        xk = x.copy()
        conditional = np.zeros((D, D))
        if m.size:
            gain = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T
            xk[m] = means[k, m] + gain @ (x[o] - means[k, o])
            conditional[np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
        filled[k] = xk
        d = xk - means[k]
        second[k] = np.outer(d, d) + conditional
    log_p = np.logaddexp.reduce(log_terms)
    return log_p, np.exp(log_terms - log_p), filled, second


def _brute_force_step(X, w, weights, means, covariances, kind):
    """One EM iteration with explicit loops over rows; returns new (weights, means, Σ) and L."""
    K, D = means.shape
    n_k = np.zeros(K)
    sums = np.zeros((K, D))
    log_likelihood = 0.0
    rows = []
    for i, x in enumerate(X):
        log_p, r, filled, second = _row_expectations(x, weights, means, covariances)
        log_likelihood += w[i] * log_p
        rows.append((r, filled, second))
        n_k += w[i] * r
        sums += w[i] * r[:, None] * filled
    new_means = sums / n_k[:, None]
    scatter = np.zeros((K, D, D))
    for i, (r, filled, second) in enumerate(rows):
        for k in range(K):
            # E[(x−μ'_k)(x−μ'_k)ᵀ] = E[(x−μ_k)(x−μ_k)ᵀ] shifted to the new mean.
            shift = means[k] - new_means[k]
            d = filled[k] - means[k]
            moved = second[k] + np.outer(d, shift) + np.outer(shift, d) + np.outer(shift, shift)
            scatter[k] += w[i] * r[k] * moved
    if kind == "full":
        new_cov = scatter / n_k[:, None, None] + REG * np.eye(D)
    elif kind == "diag":
        new_cov = np.array(
            [np.diag(np.diag(s) / n + REG) for s, n in zip(scatter, n_k, strict=True)]
        )
    elif kind == "tied":
        new_cov = np.broadcast_to(scatter.sum(0) / n_k.sum() + REG * np.eye(D), (K, D, D))
    elif kind == "spherical":
        new_cov = np.array(
            [np.eye(D) * (np.trace(s) / (n * D) + REG) for s, n in zip(scatter, n_k, strict=True)]
        )
    return n_k / n_k.sum(), new_means, np.array(new_cov), log_likelihood / w.sum()


def _dense(gm, K, D):
    cov = np.asarray(gm.covariances_)
    kind = gm.covariance_type
    if kind == "full":
        return cov
    if kind == "tied":
        return np.broadcast_to(cov, (K, D, D))
    if kind == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([np.eye(D) * c for c in cov])


def _precisions_init(covariances, kind):
    if kind == "full":
        return np.linalg.inv(covariances)
    if kind == "tied":
        return np.linalg.inv(covariances[0])
    if kind == "diag":
        return 1.0 / np.diagonal(covariances, axis1=1, axis2=2)
    return 1.0 / covariances[:, 0, 0]


START_WEIGHTS = np.array([0.4, 0.6])
START_MEANS = np.array([[0.5, 0.2, 0.1], [2.5, 1.5, -0.5]])
START_COV = np.array(
    [
        [[1.5, 0.3, 0.0], [0.3, 1.2, 0.1], [0.0, 0.1, 1.0]],
        [[1.0, -0.2, 0.1], [-0.2, 1.3, 0.0], [0.1, 0.0, 0.9]],
    ]
)


def _start_covariances(kind):
    if kind == "full":
        return START_COV
    if kind == "tied":
        return np.broadcast_to(START_COV[0], (2, 3, 3))
    if kind == "diag":
        return np.array([np.diag(np.diag(c)) for c in START_COV])
    return np.array([np.eye(3) * np.trace(c) / 3 for c in START_COV])


@pytest.mark.parametrize("kind", ["full", "diag", "tied", "spherical"])
@pytest.mark.parametrize("weighted", [False, True])
def test_iterates_equal_a_brute_force_em(kind, weighted):
    _, X = _mixture_data()
    w = np.random.default_rng(1).uniform(0.2, 2.0, X.shape[0]) if weighted else np.ones(len(X))
    start = _start_covariances(kind)
    weights, means, covariances = START_WEIGHTS, START_MEANS, start
    for n_iter in (1, 2, 3):
        weights, means, covariances, bound = _brute_force_step(
            X, w, weights, means, covariances, kind
        )
        gm = GaussianMixture(
            2,
            covariance_type=kind,
            max_iter=n_iter,
            tol=0.0,
            reg_covar=REG,
            weights_init=START_WEIGHTS,
            means_init=START_MEANS,
            precisions_init=_precisions_init(start, kind),
            missing="em",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X, sample_weight=w if weighted else None)
        np.testing.assert_allclose(gm.weights_, weights, rtol=0, atol=1e-10)
        np.testing.assert_allclose(gm.means_, means, rtol=0, atol=1e-10)
        np.testing.assert_allclose(_dense(gm, 2, 3), covariances, rtol=0, atol=1e-10)
        assert gm.lower_bound_ == pytest.approx(bound, abs=1e-10)


def test_constrained_model_takes_its_usual_m_step_from_the_expected_statistics():
    # EEE is the tied model under its mclust name; VVI the diagonal one: same iterates.
    _, X = _mixture_data(seed=3)
    common = dict(max_iter=2, tol=0.0, random_state=0, missing="em")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for code, name in (("EEE", "tied"), ("VVI", "diag"), ("VII", "spherical")):
            a = GaussianMixture(2, covariance_type=code, **common).fit(X)
            b = GaussianMixture(2, covariance_type=name, **common).fit(X)
            np.testing.assert_allclose(a.means_, b.means_, atol=1e-12)
            # mclust codes report dense (K, D, D) covariances.
            np.testing.assert_allclose(a.covariances_, _dense(b, 2, 3), atol=1e-12)


@pytest.mark.parametrize("kind", ["full", "diag", "tied", "spherical", "VEV", "EVE", "VEI"])
def test_without_nan_em_is_exactly_the_ordinary_fit(kind):
    X, _ = _mixture_data(seed=2)
    a = GaussianMixture(2, covariance_type=kind, random_state=0).fit(X)
    b = GaussianMixture(2, covariance_type=kind, random_state=0, missing="em").fit(X)
    np.testing.assert_allclose(a.means_, b.means_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=0, atol=1e-12)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, abs=1e-12)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), atol=1e-12)


@pytest.mark.parametrize("kind", ["full", "diag", "tied", "spherical", "VEV", "EVE", "VVE"])
def test_observed_data_log_likelihood_never_decreases(kind):
    _, X = _mixture_data(n=150, seed=4, fraction=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(
            3, covariance_type=kind, tol=0.0, max_iter=40, random_state=1, missing="em"
        ).fit(X)
    history = gm.log_likelihood_history_
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history[1:]))
    # The history is the observed-data log-likelihood: the marginal densities' mean.
    assert history[-1] == pytest.approx(np.mean(gm.score_samples(X)), abs=1e-10)


# ----------------------------------------------- G = 1: the ML estimate with holes


def _observed_log_likelihood(X, mean, covariance):
    """Σ_i log N(x_io | μ_o, Σ_oo), rows sharing a pattern evaluated together."""
    total = 0.0
    observed = ~np.isnan(X)
    for pattern in {tuple(row) for row in observed}:
        o = np.flatnonzero(pattern)
        rows = X[np.all(observed == pattern, axis=1)][:, o]
        total += stats.multivariate_normal(mean[o], covariance[np.ix_(o, o)]).logpdf(rows).sum()
    return total


def _maximise_directly(X):
    D = X.shape[1]
    lower = np.tril_indices(D)

    def unpack(theta):
        L = np.zeros((D, D))
        L[lower] = theta[D:]
        L[np.diag_indices(D)] = np.exp(L[np.diag_indices(D)])
        return theta[:D], L @ L.T

    def objective(theta):
        mean, covariance = unpack(theta)
        return -_observed_log_likelihood(X, mean, covariance)

    start = np.zeros(D + lower[0].size)
    start[:D] = np.nanmean(X, axis=0)
    result = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-9})
    return (*unpack(result.x), -result.fun)


def test_single_gaussian_is_its_maximum_likelihood_estimate_with_missing_values():
    _, X = _mixture_data(n=40, seed=5, fraction=0.3)
    X = X[: len(X)]
    mean, covariance, best = _maximise_directly(X)
    gm = GaussianMixture(1, tol=1e-12, max_iter=2000, reg_covar=0.0, missing="em").fit(X)
    assert gm.log_likelihood_ * len(X) == pytest.approx(best, abs=1e-6)
    np.testing.assert_allclose(gm.means_[0], mean, atol=1e-4)
    np.testing.assert_allclose(gm.covariances_[0], covariance, atol=1e-4)
    # ...and differs from the estimates of complete cases and of mean imputation.
    complete = X[~np.isnan(X).any(axis=1)]
    imputed = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    for other in (complete, imputed):
        other_mean = other.mean(axis=0)
        other_cov = np.cov(other.T, bias=True)
        assert (
            np.max(np.abs(other_mean - mean)) > 1e-2
            or np.max(np.abs(other_cov - covariance)) > 1e-2
        )
        assert _observed_log_likelihood(X, other_mean, other_cov) < best - 1e-3


def test_two_components_converge_to_a_maximum_of_the_observed_likelihood():
    _, X = _mixture_data(n=60, seed=6, fraction=0.2)
    gm = GaussianMixture(
        2,
        covariance_type="diag",
        tol=1e-13,
        max_iter=5000,
        reg_covar=0.0,
        random_state=0,
        missing="em",
    ).fit(X)

    def objective(theta):
        logit, means, log_var = theta[0], theta[1:7].reshape(2, 3), theta[7:].reshape(2, 3)
        p = 1.0 / (1.0 + np.exp(-logit))
        total = 0.0
        for x in X:
            o = ~np.isnan(x)
            terms = [
                np.log(pk) + stats.norm(means[k, o], np.exp(0.5 * log_var[k, o])).logpdf(x[o]).sum()
                for k, pk in enumerate((p, 1.0 - p))
            ]
            total += np.logaddexp(*terms)
        return -total

    theta = np.concatenate(
        [
            [np.log(gm.weights_[0] / gm.weights_[1])],
            gm.means_.ravel(),
            np.log(gm.covariances_).ravel(),
        ]
    )
    at_em = objective(theta)
    assert -at_em == pytest.approx(gm.log_likelihood_ * len(X), abs=1e-8)
    result = optimize.minimize(objective, theta, method="BFGS")
    assert result.fun >= at_em - 1e-6


# ------------------------------------------------------------------- predictions


def test_predictions_use_the_marginal_densities():
    _, X = _mixture_data(seed=7)
    gm = GaussianMixture(2, random_state=0, missing="em").fit(X)
    K, D = 2, 3
    expected_log = []
    expected_resp = []
    for x in X[:30]:
        log_p, r, _, _ = _row_expectations(x, gm.weights_, gm.means_, gm.covariances_)
        expected_log.append(log_p)
        expected_resp.append(r)
    np.testing.assert_allclose(gm.score_samples(X[:30]), expected_log, atol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(X[:30]), expected_resp, atol=1e-10)
    np.testing.assert_array_equal(gm.predict(X[:30]), np.argmax(expected_resp, axis=1))
    # A row with nothing observed: density 1, responsibilities the weights.
    empty = np.full((1, D), np.nan)
    assert gm.score_samples(empty)[0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(gm.predict_proba(empty)[0], gm.weights_, atol=1e-12)
    assert K == gm.n_components


def test_missing_error_refuses_nan_and_missing_em_refuses_empty_rows_and_infinity():
    _, X = _mixture_data()
    with pytest.raises(InvalidInputError, match="finite"):
        GaussianMixture(2).fit(X)
    bad = X.copy()
    bad[3] = np.nan
    with pytest.raises(InvalidInputError, match="at least one observed"):
        GaussianMixture(2, missing="em").fit(bad)
    bad = X.copy()
    bad[4, 1] = np.inf
    with pytest.raises(InvalidInputError, match="infinite"):
        GaussianMixture(2, missing="em").fit(bad)
    with pytest.raises(InvalidParameterError, match="missing must be one of"):
        GaussianMixture(2, missing="drop").fit(X)
    fitted = GaussianMixture(2, random_state=0).fit(np.nan_to_num(X))
    with pytest.raises(InvalidInputError, match="finite"):
        fitted.predict(X)


def test_missing_em_refuses_a_column_with_nothing_observed_in_memory_and_on_dask():
    _, X = _mixture_data()
    bad = X.copy()
    bad[:, 1] = np.nan
    with pytest.raises(InvalidInputError, match=r"every column of X .* columns \[1\] have none"):
        GaussianMixture(2, missing="em").fit(bad)
    with pytest.raises(InvalidInputError, match="every column of X"):
        select_model(bad, n_components=[1, 2], covariance_types=["VVV"], missing="em")
    da = pytest.importorskip("dask.array")
    import dask

    with (
        dask.config.set(scheduler="synchronous"),
        pytest.raises(InvalidInputError, match="every column"),
    ):
        GaussianMixture(2, missing="em").fit(da.from_array(bad, chunks=(70, 3)))
    # Rows to predict may miss a column entirely: only training data must observe it.
    from gaussmix import MixtureDiscriminantAnalysis

    labels = np.repeat([0, 1], [X.shape[0] // 2, X.shape[0] - X.shape[0] // 2])
    classifier = MixtureDiscriminantAnalysis(model_type="edda", missing="em").fit(X, labels)
    assert classifier.predict(bad[:3]).shape == (3,)
    assert GaussianMixture(2, missing="em", random_state=0).fit(X).predict(bad[:3]).shape == (3,)
    # One block without a column's entries is fine when another block has them.
    partly = X.copy()
    partly[:70, 1] = np.nan
    with dask.config.set(scheduler="synchronous"):
        GaussianMixture(2, missing="em", random_state=0).fit(da.from_array(partly, chunks=(70, 3)))


def test_masked_entries_are_missing_values():
    complete, X = _mixture_data(seed=8)
    masked = np.ma.masked_array(np.nan_to_num(X, nan=99.0), mask=np.isnan(X))
    a = GaussianMixture(2, random_state=0, missing="em").fit(X)
    b = GaussianMixture(2, random_state=0, missing="em").fit(masked)
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-12)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(masked), atol=1e-12)
    with pytest.raises(InvalidInputError, match="missing='em'"):
        GaussianMixture(2).fit(masked)
    assert complete.shape == X.shape


def test_the_compiled_small_data_loop_does_not_run_with_missing_rows():
    _, X = _mixture_data()
    executor = make_executor(X, None, ExecutorOptions(missing="em"), 2)
    assert isinstance(executor, MissingValuesExecutor)
    gm = GaussianMixture(2, random_state=0, missing="em").fit(X)
    model = get_covariance_model("full")
    assert compiled_loop(executor, model, gm._fitted_parameters()) is None


def test_patterns_group_every_incomplete_row_once():
    _, X = _mixture_data(n=200, seed=9, fraction=0.3)
    groups = group_patterns(X)
    rows = np.sort(np.concatenate([group.rows for group in groups]))
    np.testing.assert_array_equal(rows, np.flatnonzero(np.isnan(X).any(axis=1)))
    for group in groups:
        pattern = np.isnan(X[group.rows])
        assert np.all(pattern == pattern[0])
        np.testing.assert_array_equal(np.flatnonzero(pattern[0]), group.missing)
        np.testing.assert_array_equal(X[np.ix_(group.rows, group.observed)], group.values)


# -------------------------------------------------------------------- backends


def test_torch_agrees_with_numpy():
    torch = pytest.importorskip("torch")
    _, X = _mixture_data(seed=10)
    a = GaussianMixture(2, random_state=0, missing="em").fit(X)
    b = GaussianMixture(2, random_state=0, missing="em", backend="torch", device="cpu")
    b.fit(torch.from_numpy(X))
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, atol=1e-10)
    scores = b.score_samples(torch.from_numpy(X))
    assert isinstance(scores, torch.Tensor)
    np.testing.assert_allclose(scores.numpy(), a.score_samples(X), atol=1e-10)


def test_dask_agrees_with_numpy():
    da = pytest.importorskip("dask.array")
    import dask

    _, X = _mixture_data(n=300, seed=11)
    w = np.random.default_rng(2).uniform(0.5, 1.5, len(X))
    a = GaussianMixture(2, random_state=0, missing="em").fit(X, sample_weight=w)
    with dask.config.set(scheduler="synchronous"):
        b = GaussianMixture(2, random_state=0, missing="em").fit(
            da.from_array(X, chunks=(70, 3)), sample_weight=w
        )
        scores = b.score_samples(da.from_array(X, chunks=(70, 3))).compute()
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, atol=1e-10)
    np.testing.assert_allclose(scores, a.score_samples(X), atol=1e-10)


def test_model_files_keep_the_missing_setting(tmp_path):
    _, X = _mixture_data(seed=12)
    gm = GaussianMixture(2, random_state=0, missing="em").fit(X)
    path = gm.save(tmp_path / "model.gmm")
    loaded = GaussianMixture.load(path)
    assert loaded.missing == "em"
    np.testing.assert_allclose(loaded.score_samples(X), gm.score_samples(X), atol=1e-12)


@pytest.mark.parametrize("kind", ["full", "diagonal", "trace"])
def test_compiled_pattern_loop_gives_the_numpy_sums(kind):
    pytest.importorskip("numba")
    from gaussmix.missing import pattern_statistics

    _, X = _mixture_data(n=300, seed=13, fraction=0.3)
    gm = GaussianMixture(2, random_state=0, missing="em").fit(X)
    groups = group_patterns(X, np.random.default_rng(3).uniform(0.5, 2.0, len(X)))
    a = pattern_statistics(groups, gm._fitted_parameters(), kind, compiled=False)
    b = pattern_statistics(groups, gm._fitted_parameters(), kind, compiled=True)
    for name in ("n_k", "weighted_sum", "scatter"):
        first, second = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(first, second, rtol=0, atol=1e-12 * np.abs(first).max())
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-13)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_extreme_magnitudes_with_missing_values_fit_at_an_exact_scale(scale):
    _, X = _mixture_data(seed=14)
    a = GaussianMixture(2, random_state=0, missing="em").fit(X)
    b = GaussianMixture(2, random_state=0, missing="em", reg_covar=1e-6 * scale**2).fit(X * scale)
    np.testing.assert_allclose(b.means_ / scale, a.means_, rtol=1e-8, atol=1e-10)
    observed = np.mean(np.sum(~np.isnan(X), axis=1))
    assert b.log_likelihood_ - a.log_likelihood_ == pytest.approx(
        -observed * np.log(scale), rel=1e-8
    )
    rows_observed = np.sum(~np.isnan(X), axis=1)
    np.testing.assert_allclose(
        b.score_samples(X * scale) - a.score_samples(X), -rows_observed * np.log(scale), rtol=1e-8
    )


def test_float32_data_with_missing_values():
    _, X = _mixture_data(seed=15)
    a = GaussianMixture(2, random_state=0, missing="em").fit(X)
    b = GaussianMixture(2, random_state=0, missing="em", dtype="float32").fit(X)
    np.testing.assert_allclose(b.means_, a.means_, atol=1e-4)
    assert b.score_samples(X).dtype == np.float32


def test_the_estimator_tags_allow_nan_only_with_missing_em():
    from sklearn.utils import get_tags

    assert not get_tags(GaussianMixture()).input_tags.allow_nan
    assert get_tags(GaussianMixture(missing="em")).input_tags.allow_nan


@parametrize_with_checks([GaussianMixture(missing="em")])
def test_missing_em_passes_every_sklearn_check(estimator, check):
    check(estimator)


def test_every_row_incomplete_and_weights_of_zero():
    # No complete row at all: the statistics come from the patterns alone. A zero weight
    # removes a row exactly as dropping it does.
    _, X = _mixture_data(n=150, seed=16, fraction=0.2)
    X[np.arange(len(X)), np.arange(len(X)) % 3] = np.nan
    X[np.isnan(X).all(axis=1), 1] = 0.5
    assert np.isnan(X).any(axis=1).all()
    start = dict(weights_init=START_WEIGHTS, means_init=START_MEANS, max_iter=3, tol=0.0)
    start["precisions_init"] = np.linalg.inv(START_COV)
    w = np.ones(len(X))
    w[:20] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(2, missing="em", **start).fit(X, sample_weight=w)
        b = GaussianMixture(2, missing="em", **start).fit(X[20:])
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-12)
    np.testing.assert_allclose(a.covariances_, b.covariances_, atol=1e-12)
