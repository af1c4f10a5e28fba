"""The 14 covariance models: M-steps against brute-force constrained maximisation, constraints,
one-component limits and parameter counts."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy import linalg, optimize

from gaussmix.covariance import MCLUST_MODELS, get_covariance_model
from gaussmix.covariance.decomposition import decompose
from gaussmix.covariance.forms import dense_covariances

N_COMPONENTS, N_FEATURES = 3, 3


def random_statistics(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Effective counts and full centred scatter matrices of a random, well-posed mixture."""
    rng = np.random.default_rng(seed)
    n_k = rng.uniform(6.0, 20.0, size=N_COMPONENTS)
    scatter = np.empty((N_COMPONENTS, N_FEATURES, N_FEATURES))
    for k in range(N_COMPONENTS):
        rows = rng.normal(size=(int(n_k[k]) + 4, N_FEATURES)) * rng.uniform(0.5, 2.0, N_FEATURES)
        rows = rows @ linalg.qr(rng.normal(size=(N_FEATURES, N_FEATURES)))[0]
        scatter[k] = rows.T @ rows
    return n_k, scatter


def reduce_scatter(scatter: np.ndarray, kind: str) -> np.ndarray:
    if kind == "full":
        return scatter
    diagonal = np.diagonal(scatter, axis1=1, axis2=2).copy()
    return diagonal if kind == "diagonal" else diagonal.sum(axis=1)


def fitted_dense(code: str, n_k: np.ndarray, scatter: np.ndarray, reg_covar=0.0) -> np.ndarray:
    model = get_covariance_model(code)
    compact = model.estimate(n_k, reduce_scatter(scatter, model.scatter), reg_covar, N_FEATURES)
    return dense_covariances(compact, model.form, n_k.shape[0], N_FEATURES)


def objective(n_k: np.ndarray, scatter: np.ndarray, covariances: np.ndarray) -> float:
    """−2 × expected complete-data log-likelihood (covariance part), written with loops."""
    total = 0.0
    for k in range(n_k.shape[0]):
        total += n_k[k] * np.linalg.slogdet(covariances[k])[1]
        total += np.trace(scatter[k] @ np.linalg.inv(covariances[k]))
    return total


class Parameterisation:
    """Σ_k = λ_k D_k A_k D_kᵀ from an unconstrained vector, following the letters of a code.

    λ = exp(a), A = diag(exp(b)) with Σ b = 0, D = expm(skew(c)); each letter says whether
    the block is one for all components (E), one per component (V) or absent (I).
    """

    def __init__(self, code: str, n_components: int, n_features: int):
        self.code, self.K, self.D = code, n_components, n_features
        volume, shape, orientation = code
        self.n_volume = 1 if volume == "E" else n_components
        self.n_shape = {"I": 0, "E": 1, "V": n_components}[shape] * (n_features - 1)
        self.n_angle = {"I": 0, "E": 1, "V": n_components}[orientation] * (
            n_features * (n_features - 1) // 2
        )
        self.size = self.n_volume + self.n_shape + self.n_angle

    def covariances(self, vector: np.ndarray) -> np.ndarray:
        K, D = self.K, self.D
        volume_part = vector[: self.n_volume]
        shape_part = vector[self.n_volume : self.n_volume + self.n_shape]
        angle_part = vector[self.n_volume + self.n_shape :]
        volumes = np.broadcast_to(np.exp(volume_part), (K,))
        shapes = np.ones((K, D))
        if self.n_shape:
            free = shape_part.reshape(-1, D - 1)
            log_shape = np.hstack([free, -free.sum(axis=1, keepdims=True)])
            shapes = np.broadcast_to(np.exp(log_shape), (K, D))
        orientations = np.broadcast_to(np.eye(D), (K, D, D))
        if self.n_angle:
            per = D * (D - 1) // 2
            rotations = []
            for angles in angle_part.reshape(-1, per):
                skew = np.zeros((D, D))
                skew[np.triu_indices(D, 1)] = angles
                rotations.append(linalg.expm(skew - skew.T))
            orientations = np.broadcast_to(np.array(rotations), (K, D, D))
        return np.array(
            [
                volumes[k] * orientations[k] @ np.diag(shapes[k]) @ orientations[k].T
                for k in range(K)
            ]
        )

    def start(self, covariances: np.ndarray) -> np.ndarray:
        """A vector whose covariances approximate the given ones (a start for the optimiser)."""
        volume, shape, orientation = self.code
        eigenvalues, vectors = np.linalg.eigh(covariances)
        eigenvalues, vectors = eigenvalues[:, ::-1], vectors[:, :, ::-1]
        if orientation == "I":
            eigenvalues = np.diagonal(covariances, axis1=1, axis2=2)
        vectors = vectors * np.where(np.linalg.det(vectors) < 0, -1.0, 1.0)[:, None, None]
        log_volume = np.mean(np.log(eigenvalues), axis=1)
        log_shape = np.log(eigenvalues) - log_volume[:, None]
        parts = [log_volume.mean(keepdims=True) if volume == "E" else log_volume]
        if shape == "E":
            parts.append(log_shape.mean(axis=0)[:-1])
        elif shape == "V":
            parts.append(log_shape[:, :-1].ravel())
        count = {"I": 0, "E": 1, "V": self.K}[orientation]
        for k in range(count):
            skew = np.real(linalg.logm(vectors[k]))
            parts.append(skew[np.triu_indices(self.D, 1)])
        return np.concatenate(parts)


def brute_force(code: str, n_k: np.ndarray, scatter: np.ndarray) -> np.ndarray:
    """Constrained minimum of the objective by BFGS from several starts."""
    parameterisation = Parameterisation(code, n_k.shape[0], N_FEATURES)
    per_component = scatter / n_k[:, None, None]
    pooled = np.broadcast_to(scatter.sum(axis=0) / n_k.sum(), scatter.shape)
    best = None
    for start in (per_component, pooled, np.roll(per_component, 1, axis=0)):
        result = optimize.minimize(
            lambda vector: objective(n_k, scatter, parameterisation.covariances(vector)),
            parameterisation.start(start),
            method="BFGS",
            options={"gtol": 1e-9, "maxiter": 5000},
        )
        if best is None or result.fun < best.fun:
            best = result
    return parameterisation.covariances(best.x)


@cache
def optimum(code: str, seed: int) -> np.ndarray:
    """The brute-force optimum for ``random_statistics(seed)``, computed once per session
    (tests/covariance/test_iterative.py holds the warm-started M-steps to it too)."""
    n_k, scatter = random_statistics(seed)
    optimum_covariances = brute_force(code, n_k, scatter)
    optimum_covariances.setflags(write=False)
    return optimum_covariances


@pytest.mark.parametrize("code", MCLUST_MODELS)
@pytest.mark.parametrize("seed", [0, 1])
def test_m_step_equals_brute_force_constrained_maximum(code, seed):
    n_k, scatter = random_statistics(seed)
    ours = fitted_dense(code, n_k, scatter)
    reference = optimum(code, seed)
    assert objective(n_k, scatter, ours) <= objective(n_k, scatter, reference) + 1e-9
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6 * np.abs(ours).max())


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_constraint_holds(code):
    n_k, scatter = random_statistics(3)
    model = get_covariance_model(code)
    dense = fitted_dense(code, n_k, scatter)
    parts = decompose(dense, model.orientation)
    volume, shape, orientation = code
    checks = {
        "E": lambda values: np.allclose(values, values[0], rtol=1e-8),
        "V": lambda values: not np.allclose(values, values[0], rtol=1e-3),
    }
    assert checks[volume](parts.volume)
    if shape == "I":
        np.testing.assert_allclose(parts.shape, 1.0, rtol=1e-10)
    else:
        assert checks[shape](parts.shape)
    # Every matrix must be diagonal in the reported orientation.
    rotated = np.einsum("kji,kjl,klm->kim", parts.orientation, dense, parts.orientation)
    off_diagonal = rotated - np.einsum("kii->ki", rotated)[:, :, None] * np.eye(N_FEATURES)
    assert np.abs(off_diagonal).max() < 1e-8 * np.abs(dense).max()
    if orientation == "I":
        np.testing.assert_allclose(dense, dense * np.eye(N_FEATURES), atol=0)
    elif orientation == "E":
        assert np.allclose(parts.orientation, parts.orientation[0])
    else:
        assert not np.allclose(np.abs(parts.orientation), np.abs(parts.orientation[0]), atol=1e-3)


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_one_component_gives_sample_covariance_or_its_diagonal(code):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, N_FEATURES)) @ rng.normal(size=(N_FEATURES, N_FEATURES))
    centred = X - X.mean(axis=0)
    sample_covariance = centred.T @ centred / X.shape[0]
    model = get_covariance_model(code)
    dense = fitted_dense(code, np.array([40.0]), (centred.T @ centred)[None])[0]
    if code[2] == "I" and code[1] == "I":
        expected = np.trace(sample_covariance) / N_FEATURES * np.eye(N_FEATURES)
    elif model.orientation == "identity":
        expected = np.diag(np.diag(sample_covariance))
    else:
        expected = sample_covariance
    np.testing.assert_allclose(dense, expected, rtol=1e-9, atol=1e-12)


EXPECTED_COVARIANCE_PARAMETERS = {
    "EII": lambda G, d: 1,
    "VII": lambda G, d: G,
    "EEI": lambda G, d: d,
    "VEI": lambda G, d: G + (d - 1),
    "EVI": lambda G, d: 1 + G * (d - 1),
    "VVI": lambda G, d: G * d,
    "EEE": lambda G, d: d * (d + 1) // 2,
    "VEE": lambda G, d: G + (d - 1) + d * (d - 1) // 2,
    "EVE": lambda G, d: 1 + G * (d - 1) + d * (d - 1) // 2,
    "VVE": lambda G, d: G + G * (d - 1) + d * (d - 1) // 2,
    "EEV": lambda G, d: 1 + (d - 1) + G * d * (d - 1) // 2,
    "VEV": lambda G, d: G + (d - 1) + G * d * (d - 1) // 2,
    "EVV": lambda G, d: 1 + G * (d - 1) + G * d * (d - 1) // 2,
    "VVV": lambda G, d: G * d * (d + 1) // 2,
}


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_parameter_counts_match_the_table(code):
    model = get_covariance_model(code)
    for G in (1, 2, 5):
        for d in (1, 2, 4):
            assert model.n_parameters(G, d) == EXPECTED_COVARIANCE_PARAMETERS[code](G, d)


def test_parameter_counts_match_the_brute_force_parameterisation():
    # The parameterisation of the brute force is built from the letters alone.
    for code in MCLUST_MODELS:
        size = Parameterisation(code, 4, 3).size
        assert size == get_covariance_model(code).n_parameters(4, 3)


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_reg_covar_keeps_the_constraint_and_lifts_every_variance(code):
    n_k, scatter = random_statistics(5)
    plain = fitted_dense(code, n_k, scatter)
    regularised = fitted_dense(code, n_k, scatter, reg_covar=1e-1)
    model = get_covariance_model(code)
    parts = decompose(regularised, model.orientation)
    if code[0] == "E":
        np.testing.assert_allclose(parts.volume, parts.volume[0], rtol=1e-8)
    assert np.linalg.eigvalsh(regularised).min() > np.linalg.eigvalsh(plain).min()
