"""Online EM (partial_fit): one EM step on the first batch, stepwise EM after, drift."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gaussmix import GaussianMixture, load
from gaussmix.exceptions import InvalidParameterError
from gaussmix.online import OnlineSettings, step_size


def _two_clusters(n_rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    first = rng.random(n_rows) < 0.6
    return np.where(
        first[:, None],
        rng.normal(size=(n_rows, 2)) @ np.array([[1.0, 0.4], [0.0, 0.8]]),
        rng.normal([4.0, 3.0], 0.7, size=(n_rows, 2)),
    )


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical", "VEV", "EVE"])
def test_the_first_batch_is_one_em_iteration_of_fit(covariance_type):
    X = _two_clusters(3000)
    batch = GaussianMixture(2, covariance_type=covariance_type, random_state=1, max_iter=1)
    with pytest.warns(Warning):  # one iteration does not converge
        batch.fit(X)
    online = GaussianMixture(2, covariance_type=covariance_type, random_state=1).partial_fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(online, name), getattr(batch, name), atol=1e-12)
    assert online.n_iter_ == 1 and online.n_samples_fit_ == 3000


def _raw_moments(X, weights, means, covariances, sample_weight):
    """Per unit of weight: Σ w γ, Σ w γ x, Σ w γ x xᵀ (about the origin), from scipy."""
    density = np.column_stack(
        [
            weight * multivariate_normal(mean, covariance).pdf(X)
            for weight, mean, covariance in zip(weights, means, covariances, strict=True)
        ]
    )
    responsibilities = density / density.sum(axis=1, keepdims=True)
    r = responsibilities * sample_weight[:, None] / sample_weight.sum()
    return r.sum(0), r.T @ X, np.einsum("nk,ni,nj->kij", r, X, X)


def _m_step(m0, m1, m2, reg_covar):
    means = m1 / m0[:, None]
    covariances = m2 / m0[:, None, None] - np.einsum("ki,kj->kij", means, means)
    return m0 / m0.sum(), means, covariances + reg_covar * np.eye(means.shape[1])


def test_two_batches_follow_the_stepwise_em_formula_on_raw_moments():
    # Independent computation: responsibilities from scipy, raw moments about the origin
    # (which need no re-centring), s = (1 − η) s₁ + η s₂ with η = 2^-α, the M-step by hand.
    X = _two_clusters(800, seed=4)
    weights = np.random.default_rng(5).uniform(0.5, 2.0, 800)
    first, second = slice(0, 300), slice(300, 800)
    start = dict(
        weights_init=[0.5, 0.5], means_init=[[0.5, 0.0], [3.0, 3.0]],
        precisions_init=np.stack([np.eye(2), np.eye(2) * 2]),
    )  # fmt: skip
    model = GaussianMixture(2, learning_rate_decay=0.75, reg_covar=1e-3, **start)
    model.partial_fit(X[first], sample_weight=weights[first])
    model.partial_fit(X[second], sample_weight=weights[second])

    covariances = np.stack([np.eye(2), np.eye(2) / 2])
    s1 = _raw_moments(
        X[first], start["weights_init"], start["means_init"], covariances, weights[first]
    )
    theta = _m_step(*s1, 1e-3)
    s2 = _raw_moments(X[second], *theta, weights[second])
    eta = 2.0**-0.75
    mixed = [(1 - eta) * a + eta * b for a, b in zip(s1, s2, strict=True)]
    expected = _m_step(*mixed, 1e-3)
    np.testing.assert_allclose(model.weights_, expected[0], atol=1e-10)
    np.testing.assert_allclose(model.means_, expected[1], atol=1e-10)
    np.testing.assert_allclose(model.covariances_, expected[2], atol=1e-10)
    assert model.n_iter_ == 2 and model.n_samples_fit_ == 800


def test_online_em_in_batches_of_a_thousand_reaches_the_batch_optimum():
    # 2·10⁵ rows keep the test to a few seconds on a shared 2-core machine; the standard
    # errors below grow as 1/√n, so the criterion is as strict relative to the noise as
    # on 10⁶ rows, which benchmarks/bench_stream.py --online runs (0.08 standard errors).
    n_rows = 200_000
    X = _two_clusters(n_rows, seed=2)
    batch = GaussianMixture(2, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    online = GaussianMixture(2, random_state=0)
    for start in range(0, n_rows, 1000):
        online.partial_fit(X[start : start + 1000])
    assert abs(online.score(X) - batch.score(X)) < 1e-3
    order, online_order = np.argsort(batch.means_[:, 0]), np.argsort(online.means_[:, 0])
    pi, means, cov = batch.weights_[order], batch.means_[order], batch.covariances_[order]
    n_k = pi * n_rows
    # Standard errors of the batch estimates (asymptotic, for well-separated components):
    # a proportion, a mean, and a Gaussian sample covariance (Var S_ij = (Σ_ii Σ_jj + Σ_ij²)/n).
    variances = np.diagonal(cov, axis1=1, axis2=2)
    errors = {
        "weights_": np.sqrt(pi * (1 - pi) / n_rows),
        "means_": np.sqrt(variances / n_k[:, None]),
        "covariances_": np.sqrt(
            (variances[:, :, None] * variances[:, None, :] + cov**2) / n_k[:, None, None]
        ),
    }
    for name, reference in (("weights_", pi), ("means_", means), ("covariances_", cov)):
        estimate = getattr(online, name)[online_order]
        assert np.all(np.abs(estimate - reference) < 3 * errors[name]), name


def _drifting_batches(n_batches: int, rows: int, seed: int = 0):
    """Batches of a fixed cluster at the origin and one whose mean moves from x=6 to x=12."""
    rng = np.random.default_rng(seed)
    for batch in range(n_batches):
        centre = 6.0 + 6.0 * batch / (n_batches - 1)
        moving = rng.random(rows) < 0.5
        yield np.where(
            moving[:, None],
            rng.normal([centre, 0.0], 0.5, size=(rows, 2)),
            rng.normal(0.0, 0.5, size=(rows, 2)),
        )


def test_with_forget_the_model_follows_a_moving_mean_and_without_it_does_not():
    final = {}
    for forget in (0.1, 0.0):
        model = GaussianMixture(2, random_state=0, forget=forget)
        for batch in _drifting_batches(300, 400):
            model.partial_fit(batch)
        final[forget] = model.means_[np.argmax(model.means_[:, 0]), 0]
    # Memory of about 1/forget = 10 batches lags the mean by ~10 · 0.02.
    assert abs(final[0.1] - 12.0) < 0.5
    # Every batch weighing alike ends near the mean of the path (9).
    assert abs(final[0.0] - 12.0) > 2.0


def test_step_sizes_and_the_forget_floor():
    online = OnlineSettings(learning_rate_decay=0.8, forget=0.05)
    assert step_size(0, online) == 1.0
    assert step_size(1, online) == pytest.approx(2.0**-0.8)
    assert step_size(10_000, online) == 0.05


def test_n_batches_runs_the_m_step_every_second_batch():
    X = _two_clusters(2000)
    model = GaussianMixture(2, random_state=0, n_batches=2)
    start = GaussianMixture(2, random_state=0, max_iter=0).fit(X[:500])
    means = []
    for first in range(0, 2000, 500):
        means.append(model.partial_fit(X[first : first + 500]).means_.copy())
    np.testing.assert_array_equal(means[0], start.means_)
    assert not np.array_equal(means[1], means[0])
    np.testing.assert_array_equal(means[2], means[1])
    assert model.n_iter_ == 4


def test_partial_fit_continues_a_fit_and_fit_starts_afresh(tmp_path):
    X = _two_clusters(2000)
    fitted = GaussianMixture(2, random_state=0).fit(X)
    model = GaussianMixture(2, random_state=0).fit(X)
    model.partial_fit(X[:500])
    # From the fitted parameters, one EM iteration on the batch (η = 1).
    again = GaussianMixture(
        2, weights_init=fitted.weights_, means_init=fitted.means_,
        precisions_init=fitted.precisions_, max_iter=1,
    )  # fmt: skip
    with pytest.warns(Warning):
        again.fit(X[:500])
    np.testing.assert_allclose(model.means_, again.means_, atol=1e-12)
    assert model.n_iter_ == 1
    model.set_params(forget=0.2, learning_rate_decay=0.7).partial_fit(X[500:1000])
    path = model.save(tmp_path / "online.gmm")
    loaded = load(path)
    assert loaded.get_params()["forget"] == 0.2 and loaded.get_params()["n_batches"] == 1
    np.testing.assert_array_equal(loaded.means_, model.means_)
    model.fit(X)
    assert "_online" not in model.__dict__


def test_online_parameters_are_checked():
    X = _two_clusters(100)
    for settings, message in (
        ({"learning_rate_decay": 0.5}, r"\(0.5, 1\]"),
        ({"learning_rate_decay": 1.5}, r"\(0.5, 1\]"),
        ({"forget": 1.0}, r"\[0, 1\)"),
        ({"forget": -0.1}, "forget"),
        ({"n_batches": 0}, "n_batches"),
    ):
        with pytest.raises(InvalidParameterError, match=message):
            GaussianMixture(2, **settings).partial_fit(X)
    model = GaussianMixture(2, random_state=0).partial_fit(X)
    with pytest.raises(Exception, match="features"):
        model.partial_fit(X[:, :1])


def test_partial_fit_on_torch_and_dask_batches_equals_numpy():
    X = _two_clusters(1500)
    reference = GaussianMixture(2, random_state=0)
    for start in (0, 500, 1000):
        reference.partial_fit(X[start : start + 500])
    torch = pytest.importorskip("torch")
    on_torch = GaussianMixture(2, random_state=0, backend="torch", device="cpu")
    for start in (0, 500, 1000):
        on_torch.partial_fit(torch.from_numpy(X[start : start + 500]))
    np.testing.assert_allclose(on_torch.means_, reference.means_, atol=1e-10)
    da = pytest.importorskip("dask.array")
    on_dask = GaussianMixture(2, random_state=0)
    for start in (0, 500, 1000):
        on_dask.partial_fit(da.from_array(X[start : start + 500], chunks=(128, 2)))
    np.testing.assert_allclose(on_dask.means_, reference.means_, atol=1e-10)
