"""The covariance forms as objects: each method against the string-switched definitions.

The ``expected_*`` helpers below state each quantity per form name, by the definitions
the forms had as plain strings (compact shapes, Σ⁻¹ = U Uᵀ, ½ log|Σ⁻¹| = Σ log U_dd, the
dense expansion, the whitened moment), written out independently of the form objects.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from gaussmix.covariance.forms import (
    CovarianceForm,
    as_form,
    compact_shape,
    covariances_from_precision_cholesky,
    dense_covariances,
    log_det_precision_cholesky,
    precision_cholesky_from_covariances,
    precision_cholesky_from_precisions,
)
from gaussmix.exceptions import CollapsedComponentError
from gaussmix.parameters import MixtureParameters

NAMES = ("spherical", "diagonal", "tied", "full")
K, D = 3, 4


def expected_shape(name: str) -> tuple[int, ...]:
    return {"spherical": (K,), "diagonal": (K, D), "tied": (D, D), "full": (K, D, D)}[name]


def expected_dense(name: str, covariances: np.ndarray) -> np.ndarray:
    if name == "full":
        return covariances
    if name == "tied":
        return np.stack([covariances] * K)
    if name == "diagonal":
        return np.stack([np.diag(row) for row in covariances])
    return np.stack([value * np.eye(D) for value in covariances])


def random_covariances(name: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(K, D, D))
    dense = factors @ np.swapaxes(factors, 1, 2) / D + np.eye(D)
    return {
        "full": dense,
        "tied": dense[1],
        "diagonal": rng.uniform(0.5, 2.0, size=(K, D)),
        "spherical": rng.uniform(0.5, 2.0, size=K),
    }[name]


@pytest.mark.parametrize("name", NAMES)
def test_a_form_is_its_name(name):
    form = CovarianceForm(name)
    assert form == name and name == form
    assert hash(form) == hash(name)
    assert {name: 1}[form] == 1
    assert f"{form}" == name and str(form) == name
    assert json.dumps(form) == json.dumps(name)
    assert pickle.loads(pickle.dumps(form)) is form
    assert as_form(name) is form and as_form(form) is form
    assert form.elementwise == (name in ("spherical", "diagonal"))
    assert form.shared == (name == "tied")


def test_an_unknown_form_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"one of \['spherical', 'diagonal', 'tied', 'full'\]"):
        as_form("diag")


@pytest.mark.parametrize("name", NAMES)
def test_layout_methods_equal_the_definitions(name):
    form = CovarianceForm(name)
    covariances = random_covariances(name)
    assert form.compact_shape(K, D) == expected_shape(name) == compact_shape(name, K, D)
    dense = form.dense(covariances, K, D)
    np.testing.assert_array_equal(dense, expected_dense(name, covariances))
    np.testing.assert_array_equal(dense_covariances(covariances, name, K, D), dense)
    factors = form.precision_cholesky(covariances)
    assert factors.shape == expected_shape(name)
    np.testing.assert_array_equal(precision_cholesky_from_covariances(covariances, name), factors)
    # Σ⁻¹ = U Uᵀ (upper U) or 1/σ², whichever the form, checked on the dense matrices.
    dense_factors = expected_dense(name, factors)
    if form.elementwise:
        np.testing.assert_allclose(form.precisions(factors), 1.0 / covariances, rtol=1e-13)
    else:
        np.testing.assert_array_equal(dense_factors, np.triu(dense_factors))
        np.testing.assert_allclose(
            expected_dense(name, form.precisions(factors)), np.linalg.inv(dense), rtol=1e-12
        )
    sign, log_det = np.linalg.slogdet(np.linalg.inv(dense))
    assert np.all(sign > 0)
    half = np.broadcast_to(form.log_det_precision_cholesky(factors, D), (K,))
    np.testing.assert_allclose(half, 0.5 * log_det, rtol=1e-12)
    np.testing.assert_array_equal(log_det_precision_cholesky(factors, name, D), half[: half.size])


@pytest.mark.parametrize("name", NAMES)
def test_conversions_between_precisions_and_covariances_round_trip(name):
    form = CovarianceForm(name)
    covariances = random_covariances(name, seed=3)
    factors = form.precision_cholesky(covariances)
    np.testing.assert_allclose(
        form.covariances_from_precision_cholesky(factors), covariances, rtol=1e-12
    )
    np.testing.assert_allclose(
        covariances_from_precision_cholesky(factors, name), covariances, rtol=1e-12
    )
    from_precisions = form.precision_cholesky_from_precisions(form.precisions(factors))
    np.testing.assert_allclose(from_precisions, factors, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(
        precision_cholesky_from_precisions(form.precisions(factors), name), from_precisions
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scatter_kind", ("trace", "diagonal", "full"))
def test_second_moment_is_full_unless_an_elementwise_form_needs_less(name, scatter_kind):
    expected = "full" if name in ("full", "tied") or scatter_kind == "full" else "diagonal"
    assert CovarianceForm(name).second_moment(scatter_kind) == expected


@pytest.mark.parametrize("name", NAMES)
def test_stacked_and_component_follow_sharing(name):
    form = CovarianceForm(name)
    covariances = random_covariances(name)
    if name == "tied":
        assert form.stacked(covariances).shape == (1, D, D)
        assert form.component(0) is None
    else:
        assert form.stacked(covariances) is covariances
        assert form.component(np.int64(2)) == 2


def test_collapsed_covariances_name_the_component_as_before():
    variances = np.array([1.0, 0.0, 2.0])
    with pytest.raises(CollapsedComponentError, match="component 1") as raised:
        CovarianceForm.SPHERICAL.precision_cholesky(variances, n_k=np.array([5.0, 0.5, 4.0]))
    assert raised.value.component == 1
    singular = np.zeros((D, D))
    with pytest.raises(CollapsedComponentError, match=r"shared \(tied\)"):
        CovarianceForm.TIED.precision_cholesky(singular)
    stack = np.stack([np.eye(D), np.eye(D), singular])
    with pytest.raises(CollapsedComponentError, match="component 2"):
        CovarianceForm.FULL.precision_cholesky(stack)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_hold_a_form_object_built_from_its_name(name):
    covariances = random_covariances(name)
    parameters = MixtureParameters(
        weights=np.full(K, 1.0 / K),
        means=np.zeros((K, D)),
        covariances=covariances,
        precisions_cholesky=precision_cholesky_from_covariances(covariances, name),
        form=name,
    )
    assert type(parameters.form) is CovarianceForm and parameters.form == name
    np.testing.assert_allclose(
        expected_dense(name, parameters.precisions()),
        np.linalg.inv(expected_dense(name, covariances)),
        rtol=1e-12,
    )


@pytest.mark.parametrize("name", ("spherical", "diagonal"))
def test_variances_are_the_diagonals_of_the_dense_matrices(name):
    covariances = random_covariances(name, seed=3)
    variances = CovarianceForm(name).variances(covariances, D)
    expected = np.diagonal(expected_dense(name, covariances), axis1=1, axis2=2)
    assert variances.shape == (K, D)
    assert variances.tobytes() == np.ascontiguousarray(expected).tobytes()


@pytest.mark.parametrize("name", ("tied", "full"))
def test_variances_of_non_diagonal_forms_are_refused(name):
    with pytest.raises(ValueError, match="not diagonal"):
        CovarianceForm(name).variances(random_covariances(name), D)


@pytest.mark.parametrize("dtype", (np.float64, np.float32))
@pytest.mark.parametrize("name", ("spherical", "diagonal"))
def test_dense_diagonal_matrices_are_the_products_with_the_identity(name, dtype):
    covariances = random_covariances(name, seed=4).astype(dtype)
    dense = dense_covariances(covariances, name, K, D)
    product = (covariances[:, :, None] if name == "diagonal" else covariances[:, None, None]) * (
        np.eye(D)
    )
    assert dense.dtype == product.dtype == np.float64
    assert dense.flags.c_contiguous
    assert dense.tobytes() == product.tobytes()
    # +0.0 off the diagonal (the bytes of -0.0 differ).
    assert not np.signbit(dense).any()


@pytest.mark.parametrize("n_features", (1, 2, 5, 7))
@pytest.mark.parametrize("name", ("tied", "full"))
def test_precision_factors_are_the_triangle_of_the_inverse_cholesky_factor(name, n_features):
    rng = np.random.default_rng(n_features)
    factors = rng.normal(size=(K, n_features, n_features))
    dense = factors @ np.swapaxes(factors, 1, 2) / n_features + np.eye(n_features)
    covariances = dense if name == "full" else dense[0]
    upper = precision_cholesky_from_covariances(covariances, name)
    # The definition written with NumPy's own triu: U = triu((L⁻¹)ᵀ), L the Cholesky
    # factor of the symmetrised Σ; the same bits, with exact +0.0 below the diagonal.
    symmetric = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
    lower = np.linalg.cholesky(symmetric)
    identity = np.broadcast_to(np.eye(n_features), lower.shape)
    expected = np.triu(np.swapaxes(np.linalg.solve(lower, identity), -1, -2))
    assert upper.shape == expected.shape
    assert upper.tobytes() == expected.tobytes()
    np.testing.assert_allclose(
        upper @ np.swapaxes(upper, -1, -2), np.linalg.inv(covariances), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("n_features", (1, 3, 6))
@pytest.mark.parametrize("name", ("tied", "full"))
def test_conversions_from_given_precisions_equal_their_solve_definitions(name, n_features):
    rng = np.random.default_rng(10 + n_features)
    factors = rng.normal(size=(K, n_features, n_features))
    dense = factors @ np.swapaxes(factors, 1, 2) / n_features + np.eye(n_features)
    precisions = dense if name == "full" else dense[0]

    def inverse(matrices):  # the inverse as a solve against the identity
        return np.linalg.solve(matrices, np.broadcast_to(np.eye(n_features), matrices.shape))

    lower = np.linalg.cholesky(0.5 * (precisions + np.swapaxes(precisions, -1, -2)))
    root = inverse(lower)
    covariances = np.swapaxes(root, -1, -2) @ root
    symmetric = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
    expected = np.triu(np.swapaxes(inverse(np.linalg.cholesky(symmetric)), -1, -2))
    upper = precision_cholesky_from_precisions(precisions, name)
    assert upper.tobytes() == expected.tobytes()
    back = inverse(expected)
    assert (
        covariances_from_precision_cholesky(upper, name).tobytes()
        == (np.swapaxes(back, -1, -2) @ back).tobytes()
    )
