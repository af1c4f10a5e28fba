"""The uniform noise component: log-likelihood against a brute-force sum, V against a
brute-force hypervolume, EM monotone, predictions, starts, backends and model files."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy import stats

from gaussmix import GaussianMixture
from gaussmix.exceptions import InvalidParameterError, ModelFileError
from gaussmix.noise import hypervolume


def data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack(
        [
            rng.normal([0.0, 0.0], 0.5, size=(60, 2)),
            rng.normal([4.0, 4.0], [0.4, 0.8], size=(60, 2)),
            rng.uniform(-3.0, 7.0, size=(20, 2)),
        ]
    )


def brute_force_log_density(estimator: GaussianMixture, X: np.ndarray) -> np.ndarray:
    """log(Σ_k π_k N(x | μ_k, Σ_k) + π_0 V⁻¹), row by row with scipy."""
    covariances = np.broadcast_to(estimator.covariances_, (estimator.n_components, 2, 2))
    density = np.full(X.shape[0], estimator.noise_proportion_ * estimator.Vinv_)
    for k in range(estimator.n_components):
        density += estimator.weights_[k] * stats.multivariate_normal(
            estimator.means_[k], covariances[k]
        ).pdf(X)
    return np.log(density)


def brute_force_hypervolume(X: np.ndarray) -> float:
    """min(Π ranges of the columns, Π ranges of the principal-component scores), with the
    rotation from scipy's SVD of the centred data."""
    box = np.prod(X.max(axis=0) - X.min(axis=0))
    centred = X - X.mean(axis=0)
    _, _, rotation = np.linalg.svd(centred, full_matrices=False)
    scores = centred @ rotation.T
    return float(min(box, np.prod(scores.max(axis=0) - scores.min(axis=0))))


def test_hypervolume_equals_the_brute_force_one():
    X = data(1)
    assert np.isclose(hypervolume(X), brute_force_hypervolume(X), rtol=1e-12)
    # A rotated box: the principal components' box is the smaller one.
    angle = np.pi / 5
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = np.random.default_rng(2).uniform(0, [4.0, 1.0], size=(400, 2)) @ rotation.T
    assert hypervolume(rotated) < np.prod(rotated.max(axis=0) - rotated.min(axis=0))
    assert np.isclose(hypervolume(rotated), brute_force_hypervolume(rotated), rtol=1e-12)


@pytest.mark.parametrize("code", ["VVV", "EII", "VEV", "EEE"])
def test_log_likelihood_equals_a_brute_force_sum(code):
    X = data(3)
    estimator = GaussianMixture(2, covariance_type=code, noise=True, random_state=0).fit(X)
    assert np.isclose(estimator.Vinv_, 1.0 / brute_force_hypervolume(X), rtol=1e-12)
    expected = brute_force_log_density(estimator, X)
    np.testing.assert_allclose(estimator.score_samples(X), expected, rtol=1e-10)
    assert np.isclose(estimator.log_likelihood_, expected.mean(), rtol=1e-10)
    assert np.isclose(estimator.noise_proportion_ + estimator.weights_.sum(), 1.0)


@pytest.mark.parametrize(
    "code, equal_proportions", list(itertools.product(["VVV", "VII", "EVE"], [False, True]))
)
def test_em_never_decreases_the_likelihood(code, equal_proportions):
    X = data(4)
    estimator = GaussianMixture(
        2,
        covariance_type=code,
        noise=True,
        equal_proportions=equal_proportions,
        random_state=0,
        tol=1e-10,
        max_iter=50,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X)
    history = estimator.log_likelihood_history_
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history[1:]))
    if equal_proportions:
        assert np.allclose(estimator.weights_, estimator.weights_[0], rtol=0, atol=1e-15)


def test_predictions_mark_noise_with_minus_one_and_the_last_column():
    X = data(5)
    estimator = GaussianMixture(2, noise=True, random_state=0).fit(X)
    proba = estimator.predict_proba(X)
    labels = estimator.predict(X)
    assert proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    expected = np.argmax(proba, axis=1)
    np.testing.assert_array_equal(labels, np.where(expected == 2, -1, expected))
    # The far background rows are noise; the cluster cores are not.
    assert np.mean(labels[120:] == -1) > 0.5 and np.mean(labels[:120] == -1) < 0.05
    assert estimator._n_parameters() == GaussianMixture(2).fit(X)._n_parameters() + 2


def test_given_vinv_and_start_from_a_noise_mask_or_responsibilities():
    X = data(6)
    mask = np.zeros(X.shape[0], dtype=bool)
    mask[120:] = True
    from_mask = GaussianMixture(2, noise=True, noise_init=mask, Vinv=0.01).fit(X)
    assert from_mask.Vinv_ == 0.01
    responsibilities = np.zeros((X.shape[0], 3))
    responsibilities[:60, 0] = responsibilities[60:120, 1] = responsibilities[120:, 2] = 1.0
    given = GaussianMixture(
        2, noise=True, responsibilities_init=responsibilities, Vinv=0.01, tol=1e-10
    ).fit(X)
    np.testing.assert_allclose(
        np.sort(given.means_[:, 0]), np.sort(from_mask.means_[:, 0]), atol=1e-3
    )
    drawn = GaussianMixture(2, noise=True, noise_init=0.1, random_state=0).fit(X)
    assert np.isfinite(drawn.log_likelihood_)


def test_bad_noise_settings_are_refused():
    X = data()
    with pytest.raises(InvalidParameterError, match="noise_init"):
        GaussianMixture(2, noise=True, noise_init=np.ones(3, dtype=bool)).fit(X)
    with pytest.raises(InvalidParameterError, match="noise_init"):
        GaussianMixture(2, noise=True, noise_init=1.5).fit(X)
    with pytest.raises(InvalidParameterError, match="responsibilities_init"):
        GaussianMixture(2, noise=True, responsibilities_init=np.full((X.shape[0], 2), 0.5)).fit(X)


def test_sample_weights_equal_repeated_rows():
    X = data(7)
    weights = np.random.default_rng(8).integers(1, 3, size=X.shape[0])
    start = np.zeros((X.shape[0], 3))
    start[:60, 0] = start[60:120, 1] = start[120:, 2] = 1.0
    vinv = 1.0 / brute_force_hypervolume(X)
    settings = dict(noise=True, Vinv=vinv, tol=1e-12, max_iter=500)
    weighted = GaussianMixture(2, responsibilities_init=start, **settings).fit(
        X, sample_weight=weights
    )
    plain = GaussianMixture(
        2, responsibilities_init=np.repeat(start, weights, axis=0), **settings
    ).fit(np.repeat(X, weights, axis=0))
    np.testing.assert_allclose(weighted.means_, plain.means_, atol=1e-8)
    assert np.isclose(weighted.noise_proportion_, plain.noise_proportion_, atol=1e-10)


def test_numpy_torch_and_dask_give_the_same_fit():
    torch = pytest.importorskip("torch")
    da = pytest.importorskip("dask.array")
    X = data(9)
    weights = np.random.default_rng(10).uniform(0.5, 2.0, X.shape[0])
    settings = dict(noise=True, random_state=0, tol=1e-10, max_iter=200, covariance_type="VEV")
    reference = GaussianMixture(2, **settings).fit(X, sample_weight=weights)
    fits = [
        GaussianMixture(2, backend="torch", **settings).fit(
            torch.from_numpy(X), sample_weight=weights
        ),
        GaussianMixture(2, **settings).fit(da.from_array(X, chunks=40), sample_weight=weights),
    ]
    for fit in fits:
        np.testing.assert_allclose(fit.means_, reference.means_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fit.covariances_, reference.covariances_, rtol=0, atol=1e-10)
        assert abs(fit.log_likelihood_ - reference.log_likelihood_) < 1e-10
        assert abs(fit.noise_proportion_ - reference.noise_proportion_) < 1e-10
        assert fit.Vinv_ == pytest.approx(reference.Vinv_, rel=1e-12)
    lazy_labels = fits[1].predict(da.from_array(X, chunks=40)).compute()
    np.testing.assert_array_equal(lazy_labels, reference.predict(X))
    np.testing.assert_array_equal(
        fits[0].predict(torch.from_numpy(X)).numpy(), reference.predict(X)
    )


def test_model_file_round_trip_and_refusal(tmp_path):
    X = data(11)
    fitted = GaussianMixture(2, noise=True, random_state=0).fit(X)
    path = fitted.save(tmp_path / "noise.gmm")
    loaded = GaussianMixture.load(path)
    assert loaded.noise is True and loaded.Vinv_ == fitted.Vinv_
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded.score_samples(X), fitted.score_samples(X))
    # A noise model without its density is refused.
    del fitted.Vinv_
    fitted.save(tmp_path / "broken.gmm")
    with pytest.raises(ModelFileError, match="noise"):
        GaussianMixture.load(tmp_path / "broken.gmm")


def test_sample_of_a_noise_model_is_refused():
    estimator = GaussianMixture(2, noise=True, random_state=0).fit(data(12))
    with pytest.raises(InvalidParameterError, match="noise component"):
        estimator.sample(5)
