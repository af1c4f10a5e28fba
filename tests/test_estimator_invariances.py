"""Invariances of GaussianMixture.fit: affine maps, row and feature order, repeatability.

Each test fits the original and the transformed data from correspondingly transformed
starting points (tol=0, a fixed number of iterations) and compares the results with
what the transformation predicts, computed here by hand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture

N_ITER = 15


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(42)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-3.0, 7.0, 4.0]])
    spread = rng.normal(size=(3, 3, 3)) * 0.6 + np.eye(3)
    rows = [rng.normal(size=(60, 3)) @ spread[k] + centres[k] for k in range(3)]
    return np.vstack(rows)


def start_for(covariance_type: str, n_features: int) -> dict:
    """A deterministic start: three means, unequal weights, a simple precision."""
    means = np.array([[1.0, 0.5, 0.0], [5.0, 0.0, -1.0], [-2.0, 6.0, 3.0]])[:, :n_features]
    precision = np.array([[1.0, 0.2, 0.0], [0.2, 0.8, 0.1], [0.0, 0.1, 0.5]])
    precision = precision[:n_features, :n_features]
    precisions = {
        "full": np.stack([precision, 2.0 * precision, 0.5 * precision]),
        "tied": precision,
        "diag": np.array([[1.0, 0.8, 0.5], [2.0, 1.6, 1.0], [0.5, 0.4, 0.25]])[:, :n_features],
        "spherical": np.array([1.0, 2.0, 0.5]),
    }[covariance_type]
    return {
        "weights_init": np.array([0.5, 0.3, 0.2]),
        "means_init": means,
        "precisions_init": precisions,
    }


def fit(X, covariance_type, start, reg_covar=0.0, sample_weight=None) -> GaussianMixture:
    model = GaussianMixture(
        3,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=N_ITER,
        reg_covar=reg_covar,
        **start,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, sample_weight=sample_weight)


def dense_covariances(model: GaussianMixture) -> np.ndarray:
    """(K, D, D) covariances of any covariance type, expanded here independently."""
    covariances = model.covariances_
    n_components, n_features = model.means_.shape
    if model.covariance_type == "full":
        return covariances
    if model.covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if model.covariance_type == "diag":
        return np.stack([np.diag(row) for row in covariances])
    return np.stack([value * np.eye(n_features) for value in covariances])


def transformed_precisions(covariance_type: str, precisions, scale: float, rotation):
    """Precisions of a·x·R when x has precisions P: Rᵀ P R / a² (isotropic forms: P / a²)."""
    if covariance_type in ("diag", "spherical"):
        return precisions / scale**2
    if covariance_type == "tied":
        return rotation.T @ precisions @ rotation / scale**2
    return np.stack([rotation.T @ p @ rotation / scale**2 for p in precisions])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "spherical"])
@pytest.mark.parametrize("scale", [0.37, 25.0])
def test_affine_map_transforms_the_fitted_mixture(blobs, covariance_type, scale):
    # x ↦ a·x·R + b with R a rotation: full, tied and spherical models are equivariant.
    # reg_covar is a variance, so it is scaled by a² along with the data.
    rotation = ortho_group.rvs(3, random_state=1)
    shift = np.array([100.0, -40.0, 7.5])
    start = start_for(covariance_type, 3)
    moved = {
        "weights_init": start["weights_init"],
        "means_init": scale * start["means_init"] @ rotation + shift,
        "precisions_init": transformed_precisions(
            covariance_type, start["precisions_init"], scale, rotation
        ),
    }
    original = fit(blobs, covariance_type, start, reg_covar=1e-3)
    moved_blobs = scale * blobs @ rotation + shift
    mapped = fit(moved_blobs, covariance_type, moved, reg_covar=1e-3 * scale**2)

    np.testing.assert_allclose(mapped.weights_, original.weights_, rtol=1e-8)
    np.testing.assert_allclose(
        mapped.means_, scale * original.means_ @ rotation + shift, rtol=1e-8, atol=1e-8 * scale
    )
    covariances = dense_covariances(original)
    expected = scale**2 * np.einsum("di,kde,ej->kij", rotation, covariances, rotation)
    np.testing.assert_allclose(dense_covariances(mapped), expected, rtol=1e-7, atol=1e-9 * scale**2)
    np.testing.assert_allclose(
        mapped.predict_proba(moved_blobs),
        original.predict_proba(blobs),
        atol=1e-9,
    )
    # The density picks up the Jacobian 1/a^D of the map (|det R| = 1).
    np.testing.assert_allclose(
        mapped.log_likelihood_, original.log_likelihood_ - 3 * np.log(scale), rtol=1e-10
    )


def test_axis_scaling_and_shift_transform_a_diagonal_mixture(blobs):
    # Diagonal covariances are equivariant under per-axis scaling (not under rotations).
    scales = np.array([0.5, 30.0, 2.0])
    shift = np.array([-1.0, 5.0, 1e3])
    start = start_for("diag", 3)
    moved = {
        "weights_init": start["weights_init"],
        "means_init": start["means_init"] * scales + shift,
        "precisions_init": start["precisions_init"] / scales**2,
    }
    original = fit(blobs, "diag", start)
    mapped = fit(blobs * scales + shift, "diag", moved)
    np.testing.assert_allclose(mapped.weights_, original.weights_, rtol=1e-8)
    np.testing.assert_allclose(mapped.means_, original.means_ * scales + shift, rtol=1e-9)
    np.testing.assert_allclose(mapped.covariances_, original.covariances_ * scales**2, rtol=1e-7)
    np.testing.assert_allclose(
        mapped.predict_proba(blobs * scales + shift), original.predict_proba(blobs), atol=1e-9
    )


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_row_order_does_not_change_the_fit(blobs, covariance_type):
    rng = np.random.default_rng(5)
    order = rng.permutation(blobs.shape[0])
    weights = rng.uniform(0.5, 2.0, size=blobs.shape[0])
    start = start_for(covariance_type, 3)
    original = fit(blobs, covariance_type, start, sample_weight=weights)
    shuffled = fit(blobs[order], covariance_type, start, sample_weight=weights[order])
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(shuffled, name), getattr(original, name), rtol=1e-9, atol=1e-12
        )
    np.testing.assert_allclose(shuffled.log_likelihood_, original.log_likelihood_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_permuting_features_permutes_the_parameters(blobs, covariance_type):
    permutation = np.array([2, 0, 1])
    start = start_for(covariance_type, 3)
    precisions = start["precisions_init"]
    if covariance_type == "full":
        permuted_precisions = precisions[:, permutation][:, :, permutation]
    elif covariance_type == "tied":
        permuted_precisions = precisions[permutation][:, permutation]
    elif covariance_type == "diag":
        permuted_precisions = precisions[:, permutation]
    else:
        permuted_precisions = precisions
    moved = {
        "weights_init": start["weights_init"],
        "means_init": start["means_init"][:, permutation],
        "precisions_init": permuted_precisions,
    }
    original = fit(blobs, covariance_type, start)
    permuted = fit(blobs[:, permutation], covariance_type, moved)
    np.testing.assert_allclose(permuted.weights_, original.weights_, rtol=1e-10)
    np.testing.assert_allclose(permuted.means_, original.means_[:, permutation], rtol=1e-10)
    np.testing.assert_allclose(
        dense_covariances(permuted),
        dense_covariances(original)[:, permutation][:, :, permutation],
        rtol=1e-9,
        atol=1e-12,
    )


def fitted_state(model: GaussianMixture) -> dict:
    names = ("weights_", "means_", "covariances_", "precisions_cholesky_")
    names += ("log_likelihood_history_",)
    return {name: np.asarray(getattr(model, name)) for name in names}


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_same_random_state_gives_bit_identical_fits(blobs, init_params, covariance_type):
    def run():
        model = GaussianMixture(
            3,
            covariance_type=covariance_type,
            init_params=init_params,
            n_init=3,
            max_iter=30,
            random_state=11,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fitted_state(model.fit(blobs))

    first, second = run(), run()
    for name, value in first.items():
        assert np.array_equal(value, second[name]), name


def test_re_seeded_fits_are_bit_identical_too():
    # Identical rows empty the k-means clusters, so the collapse policy re-seeds them.
    X = np.vstack([np.ones((10, 2)), np.zeros((10, 2))])

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fitted_state(GaussianMixture(4, n_init=2, random_state=3).fit(X))

    first, second = run(), run()
    for name, value in first.items():
        assert np.array_equal(value, second[name]), name


def convergence_warnings(model: GaussianMixture, X: np.ndarray) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    return sum(issubclass(w.category, ConvergenceWarning) for w in caught)


@pytest.mark.parametrize("n_init", [1, 4])
def test_reaching_max_iter_warns_exactly_once_per_fit(blobs, n_init):
    model = GaussianMixture(3, max_iter=2, tol=0.0, n_init=n_init, random_state=0)
    assert convergence_warnings(model, blobs) == 1
    assert not model.converged_


def test_a_converged_fit_does_not_warn(blobs):
    model = GaussianMixture(3, max_iter=500, random_state=0)
    assert convergence_warnings(model, blobs) == 0
    assert model.converged_


def test_duplicated_points_still_give_one_convergence_warning():
    # k-means would warn once per start that it found fewer distinct clusters; gaussmix
    # reports the consequence through its collapse policy instead.
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 10, axis=0)
    model = GaussianMixture(3, max_iter=1, tol=0.0, n_init=3, random_state=0)
    assert convergence_warnings(model, X) == 1
