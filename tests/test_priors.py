"""Conjugate priors: each MAP M-step against a numerical maximiser of its log-posterior, the
published divisors, the log-posterior never decreasing, and the ML limit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize

from gaussmix import GaussianMixture
from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.forms import dense_covariances
from gaussmix.exceptions import InvalidParameterError
from gaussmix.initialization import parameters_from_responsibilities
from gaussmix.mstep import MStepRule
from gaussmix.priors import PRIOR_MODELS, Prior, log_prior, resolve_prior

G, D = 3, 2


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    X = np.vstack([rng.normal(centre, [1.0, 0.6], size=(12, D)) for centre in centres])
    responsibilities = rng.dirichlet(np.ones(G), size=X.shape[0])
    return X, responsibilities


def covariance_terms(code: str, nu: float) -> tuple[np.ndarray, bool]:
    """(α_k, shared scale) of each model's prior, written from the posterior densities:
    an inverse Wishart / gamma counted once for a shared covariance part.

    Two models count the prior in units of a scalar: VEI's prior on each component is
    λ_k^{-(ν+3)/2} exp(−½ s tr Σ_k⁻¹) (an inverse gamma on the volume, the mean's normaliser
    counted once), and EEV's is one |Σ|^{-(ν+D+2)/2} for the shared volume and shape times
    exp(−½ tr Σ_k⁻¹S) for each component. Here each component already carries the mean's
    log|Σ_k| = D log λ_k, hence the −1."""
    alpha = {
        "EII": (nu + 2) / (G * D),
        "VII": (nu + 2) / D,
        "EEI": (nu + 2) / G - 1,
        "VEI": (nu + 3) / D - 1,
        "EVI": (nu + 2) / G - 1,
        "VVI": nu + 2,
        "EEE": (nu + D + 1) / G,
        "EEV": (nu + D + 2) / G - 1,
        "VEV": -1.0,
        "VVV": nu + D + 1,
    }[code]
    return np.full(G, alpha), code in ("EII", "EEI", "EEE")


def log_posterior(code, X, responsibilities, means, dense, kappa, mu_p, nu, scale) -> float:
    """Expected complete-data log-likelihood (covariance and mean part) plus the log-prior,
    with loops and explicit inverses."""
    alpha, shared = covariance_terms(code, nu)
    total = 0.0
    for k in range(G):
        inverse = np.linalg.inv(dense[k])
        logdet = np.linalg.slogdet(dense[k])[1]
        for n in range(X.shape[0]):
            diff = X[n] - means[k]
            total += responsibilities[n, k] * -0.5 * (logdet + diff @ inverse @ diff)
        # μ_k | Σ_k ~ N(μ_P, Σ_k/κ)
        offset = means[k] - mu_p
        total += -0.5 * (logdet + kappa * offset @ inverse @ offset)
        # The covariance term: an inverse Wishart (full scale) or inverse gamma per variance.
        share = G if shared else 1
        if np.ndim(scale) == 2:
            pairing = np.trace(inverse @ scale)
        elif code in ("EII", "VII"):
            pairing = scale / dense[k][0, 0]
        else:
            pairing = scale * np.trace(inverse)
        total += -0.5 * (alpha[k] * logdet + pairing / share)
    return total


class Vector:
    """Means and covariances from an unconstrained vector (Σ_k = λ_k D_k A_k D_kᵀ, D = 2)."""

    def __init__(self, code: str):
        self.code = code
        volume, shape, orientation = code
        self.n_volume = 1 if volume == "E" else G
        self.n_shape = {"I": 0, "E": 1, "V": G}[shape]
        self.n_angle = {"I": 0, "E": 1, "V": G}[orientation]

    def split(self, vector):
        means = vector[: G * D].reshape(G, D)
        rest = vector[G * D :]
        volumes = np.broadcast_to(np.exp(rest[: self.n_volume]), (G,))
        rest = rest[self.n_volume :]
        shapes = np.broadcast_to(rest[: self.n_shape], (G,)) if self.n_shape else np.zeros(G)
        rest = rest[self.n_shape :]
        angles = np.broadcast_to(rest, (G,)) if self.n_angle else np.zeros(G)
        dense = []
        for k in range(G):
            rotation = np.array(
                [[np.cos(angles[k]), -np.sin(angles[k])], [np.sin(angles[k]), np.cos(angles[k])]]
            )
            dense.append(
                volumes[k] * rotation @ np.diag(np.exp([shapes[k], -shapes[k]])) @ rotation.T
            )
        return means, np.array(dense)

    def size(self) -> int:
        return G * D + self.n_volume + self.n_shape + self.n_angle


@pytest.mark.parametrize("code", PRIOR_MODELS)
def test_map_m_step_is_the_numerical_maximiser_of_the_log_posterior(code):
    X, responsibilities = data()
    model = get_covariance_model(code)
    scale = 0.7 if model.scatter != "full" else np.array([[0.9, 0.2], [0.2, 0.5]])
    prior = Prior(shrinkage=0.5, mean=[1.0, 1.0], dof=4.0, scale=scale)
    resolved = resolve_prior(prior, X, None, model, G)
    rule = MStepRule(model, 0.0, resolved)
    fitted = parameters_from_responsibilities(X, None, responsibilities, model, 0.0, rule)
    fitted_dense = dense_covariances(fitted.covariances, model.form, G, D)
    vector = Vector(code)

    def negative(v):
        means, dense = vector.split(v)
        return -log_posterior(code, X, responsibilities, means, dense, 0.5, [1.0, 1.0], 4.0, scale)

    rng = np.random.default_rng(1)
    best = None
    for _ in range(4):
        start = np.concatenate([rng.normal(2, 1, G * D), rng.normal(0, 0.3, vector.size() - G * D)])
        found = optimize.minimize(negative, start, method="BFGS", options={"gtol": 1e-9})
        if best is None or found.fun < best.fun:
            best = found
    means, dense = vector.split(best.x)
    # The M-step's value is at least the optimiser's, and the two maximisers agree.
    assert -negative_at(code, X, responsibilities, fitted.means, fitted_dense, scale) >= (
        -best.fun - 1e-7
    )
    np.testing.assert_allclose(fitted.means, means, atol=1e-4)
    np.testing.assert_allclose(fitted_dense, dense, atol=1e-4)


def negative_at(code, X, responsibilities, means, dense, scale):
    return -log_posterior(code, X, responsibilities, means, dense, 0.5, [1.0, 1.0], 4.0, scale)


def test_vvv_and_eee_use_the_published_divisors():
    """Fraley & Raftery (2007), Table 2: VVV divides by ν + n_k + D + 2, EEE by
    ν + n + D + G + 1."""
    X, responsibilities = data(3)
    mu_p, kappa, nu = X.mean(axis=0), 0.01, D + 2.0
    n_k = responsibilities.sum(axis=0)
    xbar = responsibilities.T @ X / n_k[:, None]
    covariance = np.cov(X, rowvar=False)
    scale = (1.0 / G) ** (2.0 / D) * covariance
    scatter = []
    for k in range(G):
        centred = X - xbar[k]
        within = (responsibilities[:, k, None] * centred).T @ centred
        offset = (xbar[k] - mu_p)[:, None]
        scatter.append(within + kappa * n_k[k] / (n_k[k] + kappa) * offset @ offset.T)
    scatter = np.array(scatter)
    expected = {
        "VVV": (scale + scatter) / (nu + n_k + D + 2)[:, None, None],
        "EEE": (scale + scatter.sum(axis=0)) / (nu + X.shape[0] + D + G + 1),
    }
    for code, value in expected.items():
        model = get_covariance_model(code)
        rule = MStepRule(model, 0.0, resolve_prior(Prior(), X, None, model, G))
        fitted = parameters_from_responsibilities(X, None, responsibilities, model, 0.0, rule)
        dense = dense_covariances(fitted.covariances, model.form, G, D)
        np.testing.assert_allclose(dense, np.broadcast_to(value, dense.shape), rtol=1e-12)
        np.testing.assert_allclose(
            fitted.means, (n_k[:, None] * xbar + kappa * mu_p) / (n_k + kappa)[:, None], rtol=1e-12
        )


def test_default_hyperparameters_follow_mclust():
    X, _ = data(4)
    for code, expected_scale in [
        ("VVV", (1 / 2) ** (2 / D) * np.cov(X, rowvar=False)),
        ("VII", (1 / 2) ** (2 / D) * np.var(X, axis=0, ddof=1).sum() / D),
    ]:
        resolved = resolve_prior(Prior(), X, None, get_covariance_model(code), 2)
        np.testing.assert_allclose(resolved.mean, X.mean(axis=0))
        np.testing.assert_allclose(resolved.scale[0], expected_scale, rtol=1e-12)
        assert resolved.shrinkage == 0.01


def _log_posterior_of_fit(estimator, X):
    """Observed log-likelihood + log-prior of the fitted parameters (mclust's default prior)."""
    code = estimator.covariance_type
    model = get_covariance_model(code)
    resolved = resolve_prior(Prior(), X, None, model, estimator.n_components)
    dense = np.broadcast_to(
        estimator.covariances_, (estimator.n_components, X.shape[1], X.shape[1])
    )
    return estimator.score(X) * X.shape[0] + log_prior(resolved, estimator.means_, dense)


@pytest.mark.parametrize("code", ["VVV", "EEI", "VEI", "EVI", "VEV", "EII"])
def test_em_never_decreases_the_log_posterior(code):
    X, _ = data(5)
    previous = -np.inf
    for n_iter in range(1, 12):
        estimator = GaussianMixture(
            3,
            covariance_type=code,
            prior="default",
            random_state=0,
            max_iter=n_iter,
            tol=0.0,
            reg_covar=0.0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X)
        value = _log_posterior_of_fit(estimator, X)
        assert value >= previous - 1e-9 * abs(value)
        previous = value


def test_vanishing_prior_tends_to_the_ml_fit():
    """VEV's counts are n_k (mclust's rule), so κ → 0 and S → 0 leave exactly the ML fit."""
    X, responsibilities = data(6)
    tiny = Prior(shrinkage=1e-12, dof=1e-12, scale=1e-12 * np.eye(D))
    ml = GaussianMixture(
        3,
        covariance_type="VEV",
        responsibilities_init=responsibilities,
        reg_covar=0.0,
        tol=1e-10,
        max_iter=500,
    ).fit(X)
    map_fit = GaussianMixture(
        3,
        covariance_type="VEV",
        responsibilities_init=responsibilities,
        reg_covar=0.0,
        tol=1e-10,
        max_iter=500,
        prior=tiny,
    ).fit(X)
    np.testing.assert_allclose(map_fit.means_, ml.means_, atol=1e-6)
    np.testing.assert_allclose(map_fit.covariances_, ml.covariances_, atol=1e-6)


@pytest.mark.parametrize("code", ["EVE", "VEE", "VVE", "EVV"])
def test_models_without_a_prior_are_refused(code):
    X, _ = data()
    with pytest.raises(InvalidParameterError, match="prior is defined for the models"):
        GaussianMixture(2, covariance_type=code, prior="default").fit(X)


def test_bad_prior_is_refused():
    X, _ = data()
    with pytest.raises(InvalidParameterError, match="prior must be None"):
        GaussianMixture(2, prior="mclust").fit(X)
    with pytest.raises(InvalidParameterError, match="must be a number"):
        GaussianMixture(2, covariance_type="VII", prior=Prior(scale=np.eye(D))).fit(X)


def test_log_likelihood_is_the_plain_one_and_parameter_count_unchanged():
    X, _ = data(7)
    estimator = GaussianMixture(3, prior="default", random_state=0).fit(X)
    assert np.isclose(estimator.log_likelihood_, estimator.score(X), rtol=0, atol=1e-12)
    plain = GaussianMixture(3, random_state=0).fit(X)
    assert estimator._n_parameters() == plain._n_parameters()


def test_plain_settings_are_bit_identical_to_the_ml_rule():
    X, responsibilities = data(8)
    model = get_covariance_model("VEV")
    a = parameters_from_responsibilities(X, None, responsibilities, model, 1e-6)
    b = parameters_from_responsibilities(
        X, None, responsibilities, model, 1e-6, MStepRule(model, 1e-6)
    )
    assert np.array_equal(a.covariances, b.covariances) and np.array_equal(a.means, b.means)


@pytest.mark.parametrize("options", [{"prior": "default"}, {"equal_proportions": True}])
def test_numpy_torch_and_dask_give_the_same_fit(options):
    torch = pytest.importorskip("torch")
    da = pytest.importorskip("dask.array")
    X, _ = data(9)
    weights = np.random.default_rng(10).uniform(0.5, 2.0, X.shape[0])
    settings = dict(random_state=0, tol=1e-12, max_iter=500, covariance_type="VVV", **options)
    reference = GaussianMixture(3, **settings).fit(X, sample_weight=weights)
    fits = [
        GaussianMixture(3, backend="torch", **settings).fit(
            torch.from_numpy(X), sample_weight=weights
        ),
        GaussianMixture(3, **settings).fit(da.from_array(X, chunks=10), sample_weight=weights),
    ]
    for fit in fits:
        np.testing.assert_allclose(fit.means_, reference.means_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fit.covariances_, reference.covariances_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fit.weights_, reference.weights_, rtol=0, atol=1e-12)
        assert abs(fit.log_likelihood_ - reference.log_likelihood_) < 1e-10


def test_the_default_prior_of_dask_data_uses_every_row():
    da = pytest.importorskip("dask.array")
    X, _ = data(11)
    model = get_covariance_model("VVV")
    lazy = resolve_prior(Prior(), da.from_array(X, chunks=7), None, model, 2)
    eager = resolve_prior(Prior(), X, None, model, 2)
    np.testing.assert_allclose(lazy.mean, eager.mean, rtol=1e-14)
    np.testing.assert_allclose(lazy.scale, eager.scale, rtol=1e-13)


def _scatters(X, responsibilities, kappa, mu_p):
    """n_k, x̄_k and B_k = W_k + κ n_k/(n_k + κ)(x̄_k − μ_P)(x̄_k − μ_P)ᵀ, with loops."""
    n_k = responsibilities.sum(axis=0)
    xbar = responsibilities.T @ X / n_k[:, None]
    scatter = np.zeros((G, D, D))
    for k in range(G):
        for n in range(X.shape[0]):
            diff = (X[n] - xbar[k])[:, None]
            scatter[k] += responsibilities[n, k] * diff @ diff.T
        offset = (xbar[k] - mu_p)[:, None]
        scatter[k] += kappa * n_k[k] / (n_k[k] + kappa) * offset @ offset.T
    return n_k, xbar, scatter


def _default_fit(code, X, responsibilities, prior=None):
    model = get_covariance_model(code)
    rule = MStepRule(model, 0.0, resolve_prior(prior or Prior(), X, None, model, G))
    fitted = parameters_from_responsibilities(X, None, responsibilities, model, 0.0, rule)
    return fitted, dense_covariances(fitted.covariances, model.form, G, D)


def test_shared_volume_models_and_vei_use_mclusts_divisors():
    """mclust 6's EM with a prior (meEEV, meEVI, meEEI, meVEI): EEV's volume is
    |Σ_k eig(B_k + S)|^{1/D} over n + ν + D + 2, EVI's Σ_k |diag(B_k) + s|^{1/D} and EEI's
    |s + Σ_k diag(B_k)|^{1/D} over n + ν + 2; VEI's λ_k and A solve
    λ_k = Σ_j w_jk/a_j / (D n_k + ν + 3) and a_j ∝ Σ_k w_jk/λ_k with Π_j a_j = 1, where
    w_jk = s + (B_k)_jj."""
    X, responsibilities = data(12)
    kappa, nu, mu_p = 0.01, D + 2.0, X.mean(axis=0)
    n_k, _, scatter = _scatters(X, responsibilities, kappa, mu_p)
    factor = (1.0 / G) ** (2.0 / D)
    full_scale = factor * np.cov(X, rowvar=False)
    _, dense = _default_fit("EEV", X, responsibilities)
    eigenvalues = sum(np.sort(np.linalg.eigvalsh(scatter[k] + full_scale)) for k in range(G))
    volume = np.prod(eigenvalues) ** (1.0 / D) / (X.shape[0] + nu + D + 2)
    for k in range(G):
        assert np.isclose(np.linalg.det(dense[k]) ** (1.0 / D), volume, rtol=1e-12)
    s = factor * np.trace(np.cov(X, rowvar=False)) / D
    diagonals = np.array([np.diag(scatter[k]) for k in range(G)])
    _, dense = _default_fit("EVI", X, responsibilities)
    volume = sum(np.prod(diagonals[k] + s) ** (1.0 / D) for k in range(G))
    volume /= X.shape[0] + nu + 2
    for k in range(G):
        assert np.isclose(np.linalg.det(dense[k]) ** (1.0 / D), volume, rtol=1e-12)
    _, dense = _default_fit("EEI", X, responsibilities)
    volume = np.prod(s + diagonals.sum(axis=0)) ** (1.0 / D) / (X.shape[0] + nu + 2)
    assert np.isclose(np.linalg.det(dense[0]) ** (1.0 / D), volume, rtol=1e-12)
    _, dense = _default_fit("VEI", X, responsibilities)
    w = s + np.array([np.diag(scatter[k]) for k in range(G)])  # (G, D)
    volumes = np.array([np.linalg.det(dense[k]) ** (1.0 / D) for k in range(G)])
    shape = np.diag(dense[0]) / volumes[0]
    for k in range(G):
        np.testing.assert_allclose(np.diag(dense[k]), volumes[k] * shape, rtol=1e-12)
    np.testing.assert_allclose(volumes, (w / shape).sum(axis=1) / (D * n_k + nu + 3), rtol=1e-9)
    unnormalised = (w / volumes[:, None]).sum(axis=0)
    np.testing.assert_allclose(shape, unnormalised / np.prod(unnormalised) ** (1.0 / D), rtol=1e-9)


def test_eii_with_a_zero_scale_is_mclusts_eii_rule():
    """mclust 6's EII (meEII) leaves the prior scale out: σ² = Σ_k tr B_k /
    (ν + (n + G)D + 2). Ours is the mode of the prior with the scale, (s + Σ_k tr B_k) over
    the same count, and equals mclust's with Prior(scale=0)."""
    X, responsibilities = data(13)
    kappa, nu, mu_p = 0.01, D + 2.0, X.mean(axis=0)
    _, _, scatter = _scatters(X, responsibilities, kappa, mu_p)
    count = nu + (X.shape[0] + G) * D + 2
    s = (1.0 / G) ** (2.0 / D) * np.trace(np.cov(X, rowvar=False)) / D
    trace = sum(np.trace(scatter[k]) for k in range(G))
    _, dense = _default_fit("EII", X, responsibilities, Prior(scale=0.0))
    np.testing.assert_allclose(dense[:, 0, 0], trace / count, rtol=1e-12)
    _, dense = _default_fit("EII", X, responsibilities)
    np.testing.assert_allclose(dense[:, 0, 0], (s + trace) / count, rtol=1e-12)


def test_without_shrinkage_the_means_prior_count_goes_as_in_mclust():
    """κ = 0 (mclust's ``priorControl(shrinkage = 0)``): no prior on the means, and their
    count leaves VVI's divisor (n_k + ν + 2) and EEE's (n + ν + D + 1); VVV keeps
    n_k + ν + D + 2."""
    X, responsibilities = data(14)
    nu = D + 2.0
    n_k, xbar, scatter = _scatters(X, responsibilities, 0.0, X.mean(axis=0))
    factor = (1.0 / G) ** (2.0 / D)
    full_scale = factor * np.cov(X, rowvar=False)
    s = np.trace(full_scale) / D
    flat = Prior(shrinkage=0.0)
    fitted, dense = _default_fit("VVI", X, responsibilities, flat)
    np.testing.assert_allclose(fitted.means, xbar, rtol=1e-13)
    for k in range(G):
        np.testing.assert_allclose(
            np.diag(dense[k]), (s + np.diag(scatter[k])) / (n_k[k] + nu + 2), rtol=1e-12
        )
    _, dense = _default_fit("EEE", X, responsibilities, flat)
    expected = (full_scale + scatter.sum(axis=0)) / (X.shape[0] + nu + D + 1)
    np.testing.assert_allclose(dense[0], expected, rtol=1e-12)
    _, dense = _default_fit("VVV", X, responsibilities, flat)
    for k in range(G):
        expected = (full_scale + scatter[k]) / (n_k[k] + nu + D + 2)
        np.testing.assert_allclose(dense[k], expected, rtol=1e-12)
