"""Hostile inputs: rows far from the model, odd array types, and what comes out for what goes in.

The far-row references are exact: the quadratic form ½‖U_kᵀ(x − μ_k)‖² is evaluated in
rational arithmetic (``fractions.Fraction`` holds every float exactly), so the ranking of
the components and the log-density need no floating-point range at all.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

from gaussmix import (
    CollapsedComponentError,
    GaussianMixture,
    InvalidInputError,
    InvalidParameterError,
    fused,
    select_model,
)
from gaussmix.backends.numpy import NumpyBackend, SmallDataBackend
from gaussmix.covariance import get_covariance_model
from gaussmix.kernels import (
    chunk_statistics,
    far_row_posterior,
    posterior,
    prepare_parameters,
)
from gaussmix.parameters import MixtureParameters

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FORM = {"full": "full", "tied": "tied", "diag": "diagonal", "spherical": "spherical"}
LARGEST = float(np.finfo(np.float64).max)


def blobs(n_features: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [-3.0, 3.0, 2.0]])[:, :n_features]
    labels = rng.integers(0, 3, size=300)
    return centres[labels] + rng.normal(scale=[1.0, 0.7, 1.3][:n_features], size=(300, n_features))


def fitted(covariance_type: str, **options) -> GaussianMixture:
    return GaussianMixture(3, covariance_type=covariance_type, random_state=0, **options).fit(
        blobs()
    )


def parameters_of(model: GaussianMixture) -> MixtureParameters:
    """The mixture from the public attributes (scikit-learn names: compact shapes)."""
    return MixtureParameters(
        weights=model.weights_,
        means=model.means_,
        covariances=model.covariances_,
        precisions_cholesky=model.precisions_cholesky_,
        form=FORM[model.covariance_type],
    )


# Rows far from a unit-scale mixture: squares overflow from ~1e154 on; the last two have
# finite log-densities the kernels cannot resolve to one unit (−1e40, −1e19 < −2^52).
FAR_ROWS = np.array(
    [
        [1e155, 0.0, 0.0],
        [-3e200, 1e100, 7.0],
        [LARGEST, -LARGEST, 1e308],
        [1e20, 1e20, 0.0],
        [0.0, -7e9, 1.0],
    ]
)


def dense_factor(parameters: MixtureParameters, k: int) -> np.ndarray:
    factors = np.asarray(parameters.precisions_cholesky)
    n_features = parameters.n_features
    return {
        "full": lambda: factors[k],
        "tied": lambda: factors,
        "diagonal": lambda: np.diag(factors[k]),
        "spherical": lambda: factors[k] * np.eye(n_features),
    }[parameters.form]()


def exact_exponents(x: np.ndarray, parameters: MixtureParameters) -> list[Fraction]:
    """log π_k N(x | μ_k, Σ_k) with the quadratic form in exact rationals."""
    n_features = parameters.n_features
    exponents = []
    for k in range(parameters.n_components):
        factor = dense_factor(parameters, k)
        difference = [
            Fraction(float(x[d])) - Fraction(float(parameters.means[k, d]))
            for d in range(n_features)
        ]
        whitened = [
            sum(Fraction(float(factor[i, j])) * difference[i] for i in range(n_features))
            for j in range(n_features)
        ]
        constant = (
            math.log(parameters.weights[k])
            + float(np.sum(np.log(np.diag(factor))))
            - 0.5 * n_features * math.log(2 * math.pi)
        )
        exponents.append(Fraction(constant) - sum(w * w for w in whitened) / 2)
    return exponents


def exact_posterior(X: np.ndarray, parameters: MixtureParameters) -> tuple[np.ndarray, np.ndarray]:
    """log p(x) and responsibilities of rows whose best component wins by > 1000 nats."""
    log_norm, responsibilities = [], []
    for x in X:
        exponents = exact_exponents(x, parameters)
        best = max(range(len(exponents)), key=exponents.__getitem__)
        gaps = sorted(exponents[best] - e for k, e in enumerate(exponents) if k != best)
        assert gaps[0] > 1000, "the reference is one-hot only for a clear winner"
        top = exponents[best]
        log_norm.append(-math.inf if top < -Fraction(LARGEST) else float(top))
        responsibilities.append(np.eye(len(exponents))[best])
    return np.array(log_norm), np.array(responsibilities)


def assert_posterior(log_norm, responsibilities, expected_log_norm, expected_responsibilities):
    log_norm = np.asarray(log_norm, dtype=np.float64)
    assert np.array_equal(np.isinf(log_norm), np.isinf(expected_log_norm))
    finite = np.isfinite(expected_log_norm)
    np.testing.assert_allclose(log_norm[finite], expected_log_norm[finite], rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(responsibilities), expected_responsibilities)


def torch_posterior(X, prepared_for):
    torch = pytest.importorskip("torch")
    from array_api_compat import array_namespace

    tensor = torch.from_numpy(X)
    prepared = prepare_parameters(prepared_for, array_namespace(tensor), tensor.dtype)
    log_norm, responsibilities = posterior(tensor, prepared)
    return log_norm.numpy(), responsibilities.numpy()


def fused_posterior(X, parameters):
    if not fused.available():
        pytest.skip("numba is not installed")
    return fused.posterior(X, prepare_parameters(parameters), chunk_size=2)


KERNELS = {
    "array": lambda X, parameters: posterior(X, prepare_parameters(parameters)),
    "fused": fused_posterior,
    "torch": torch_posterior,
    "host": far_row_posterior,
}


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_rows_get_the_exact_posterior_on_every_kernel(kernel, covariance_type):
    parameters = parameters_of(fitted(covariance_type))
    expected = exact_posterior(FAR_ROWS, parameters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_norm, responsibilities = KERNELS[kernel](FAR_ROWS.copy(), parameters)
    assert_posterior(log_norm, responsibilities, *expected)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_log_density_below_the_squares_range_stays_finite(kernel):
    # Variances 4^400: (x − μ)² of a row at 2^900 overflows, yet ½(x − μ)²/σ² ≈ 2^999
    # and the log-density −2^999 − … are ordinary float64 numbers.
    means = np.array([[0.0, 0.0, 0.0], [2.0**420, 0.0, 0.0]])
    sigmas = np.array([[2.0**400] * 3, [2.0**380] * 3])
    parameters = MixtureParameters(
        weights=np.array([0.5, 0.5]),
        means=means,
        covariances=sigmas**2,
        precisions_cholesky=1.0 / sigmas,
        form="diagonal",
    )
    X = np.array([[2.0**900, 1.0, -(2.0**899)]])
    expected = exact_posterior(X, parameters)
    assert np.isfinite(expected[0]).all()
    log_norm, responsibilities = KERNELS[kernel](X.copy(), parameters)
    assert_posterior(log_norm, responsibilities, *expected)


def test_far_row_posterior_agrees_with_the_kernels_on_ordinary_rows():
    X = blobs()
    for covariance_type in COVARIANCE_TYPES:
        parameters = parameters_of(fitted(covariance_type))
        log_norm, responsibilities = posterior(X, prepare_parameters(parameters))
        host_log_norm, host_responsibilities = far_row_posterior(X, parameters)
        np.testing.assert_allclose(host_log_norm, log_norm, rtol=1e-12)
        np.testing.assert_allclose(host_responsibilities, responsibilities, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("backend", ["numpy", "torch", "dask"])
def test_predictions_with_far_rows_keep_the_other_rows(covariance_type, backend):
    model = fitted(covariance_type)
    ordinary = blobs(seed=1)[:6]
    X = np.vstack([ordinary[:3], FAR_ROWS, ordinary[3:]])
    if backend == "torch":
        pytest.importorskip("torch")
        model.set_params(backend="torch", device="cpu")
    elif backend == "dask":
        X = pytest.importorskip("dask.array").from_array(X, chunks=(4, 3))

    def computed(values):
        return np.asarray(values.compute() if hasattr(values, "compute") else values)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_density = computed(model.score_samples(X))
        responsibilities = computed(model.predict_proba(X))
        labels = computed(model.predict(X))
    expected_log_norm, expected_responsibilities = exact_posterior(FAR_ROWS, parameters_of(model))
    far = slice(3, 3 + len(FAR_ROWS))
    assert_posterior(
        log_density[far], responsibilities[far], expected_log_norm, expected_responsibilities
    )
    np.testing.assert_array_equal(labels[far], expected_responsibilities.argmax(axis=1))
    reference = fitted(covariance_type)
    kept = np.r_[0:3, 3 + len(FAR_ROWS) : len(labels)]
    np.testing.assert_allclose(log_density[kept], reference.score_samples(ordinary), rtol=1e-12)
    np.testing.assert_allclose(
        responsibilities[kept], reference.predict_proba(ordinary), atol=1e-12
    )


def test_float32_far_rows_are_finite_when_float32_holds_their_log_density():
    model = fitted("full")
    X = np.array([[1e18, 0.0, 0.0], [1e30, 0.0, 0.0], [0.5, 0.5, 0.5]], dtype=np.float32)
    log_density = model.score_samples(X)
    assert log_density.dtype == np.float32
    # −½·1e36/σ² is a float32 number; −½·1e60/σ² is below float32's range.
    assert np.isfinite(log_density[[0, 2]]).all() and log_density[1] == -np.inf
    expected = exact_posterior(X[:2].astype(np.float64), parameters_of(model))
    np.testing.assert_allclose(log_density[0], expected[0][0], rtol=1e-6)
    np.testing.assert_array_equal(model.predict_proba(X)[:2], expected[1])


@pytest.mark.parametrize("kernel", ["array", "fused", "small", "torch"])
def test_an_e_step_with_rows_beyond_every_component_names_the_cause(kernel):
    parameters = parameters_of(fitted("diag"))
    X = np.vstack([blobs()[:20], [[1e200, 0.0, 0.0]]])
    if kernel == "torch":
        torch = pytest.importorskip("torch")
        X = torch.from_numpy(X)
    if kernel in ("fused", "small") and not fused.available():
        pytest.skip("numba is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CollapsedComponentError, match="finite log-density"):
            if kernel == "small":
                SmallDataBackend(X, None, 64, use_fused=True).statistics(parameters, "diagonal")
            elif kernel == "fused":
                NumpyBackend(X, None, 8, use_fused=True).statistics(parameters, "diagonal")
            else:
                chunk_statistics(X, None, parameters, "diagonal")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitting_a_far_outlier_fails_with_a_clear_error(covariance_type):
    X = np.vstack([blobs(), [[1e155, 0.0, 0.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(CollapsedComponentError, match="outlying rows"):
            GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)


def test_a_singular_scatter_in_the_rotation_sweep_is_a_named_collapse():
    # Component 1 lies on the line y = x: its diagonal is positive, but the rotation
    # sweep of VVE meets a direction of zero variance, which must surface as the named
    # collapse rather than NumPy's raw "divide by zero" warning.
    scatter = np.array([[[2.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            CollapsedComponentError, match=r"component 1 .*scatter matrix is singular"
        ):
            get_covariance_model("VVE").estimate(np.array([5.0, 3.0]), scatter, 0.0, 2)


def test_select_model_records_collapses_in_words_not_numpy_warnings():
    pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = (
        np.repeat(rng.normal(size=(4, 2)), 5, axis=0)
        + np.r_[rng.normal(size=(4, 2)) * 0.1, np.zeros((16, 2))]
    )
    table = select_model(
        X, n_components=[1, 2, 5], covariance_types=["EVE", "VVE", "VVV", "VII"], n_jobs=1
    ).results_
    errors = table.loc[table["error"] != "", "error"]
    assert not errors.empty
    assert not errors.str.contains("Warning").any(), errors.tolist()
    assert errors.str.contains("collapse").all(), errors.tolist()


# ---------------------------------------------------------------- odd input types


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_an_np_matrix_is_read_as_the_array_it_holds():
    X = blobs()
    expected = GaussianMixture(3, random_state=0).fit(X)
    model = GaussianMixture(3, random_state=0).fit(np.matrix(X))
    np.testing.assert_array_equal(model.means_, expected.means_)
    labels = model.predict(np.matrix(X))
    assert type(labels) is np.ndarray and labels.shape == (len(X),)
    np.testing.assert_array_equal(labels, expected.predict(X))
    assert model.score(np.matrix(X)) == expected.score(X)


def test_complex_data_are_refused_in_one_short_sentence():
    with pytest.raises(InvalidInputError, match=r"must be real; got complex values") as caught:
        GaussianMixture(2).fit(np.ones((10, 2), dtype=np.complex128))
    assert len(str(caught.value)) < 200  # not a dump of the array


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
@pytest.mark.parametrize("backend", ["numpy", "torch", "auto"])
def test_half_precision_tensors_are_fitted_as_float64(half, backend):
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(blobs()).to(getattr(torch, half))
    exact = tensor.double().numpy()  # every half-precision value is a float64
    model = GaussianMixture(3, random_state=0, backend=backend, device="cpu").fit(tensor)
    expected = GaussianMixture(3, random_state=0).fit(exact)
    np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-10)
    log_density = model.score_samples(tensor)
    assert log_density.dtype == torch.float64
    np.testing.assert_allclose(log_density.numpy(), expected.score_samples(exact), rtol=1e-10)


def test_cuda_without_cuda_says_so(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = GaussianMixture(2, backend="torch", device="cuda")
    with pytest.raises(InvalidParameterError) as caught:
        model.fit(blobs())
    message = str(caught.value)
    assert "device='cuda'" in message and "torch reports no CUDA device" in message
    assert "torch.cuda.is_available() is False" in message and "device='cpu'" in message


def test_a_cuda_index_beyond_the_devices_and_an_unknown_device_say_so(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InvalidParameterError, match=r"sees 1 CUDA device\(s\) \(indices 0 to 0\)"):
        GaussianMixture(2, backend="torch", device="cuda:3").fit(blobs())
    with pytest.raises(InvalidParameterError, match="device must name a torch device"):
        GaussianMixture(2, backend="torch", device="gpu").fit(blobs())


# ------------------------------------------------------------- outputs follow inputs


def devices() -> list[str]:
    try:
        import torch
    except ImportError:
        return ["cpu"]
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.mark.parametrize("backend", ["numpy", "torch", "auto"])
@pytest.mark.parametrize("device", devices())
def test_outputs_follow_the_type_and_device_of_the_input(backend, device):
    torch = pytest.importorskip("torch")
    X = blobs()
    reference = GaussianMixture(3, random_state=0).fit(X)
    expected = {
        "predict": reference.predict(X),
        "predict_proba": reference.predict_proba(X),
        "score_samples": reference.score_samples(X),
    }
    inputs = {"numpy": X, "list": X.tolist(), "tensor": torch.from_numpy(X).to(device)}
    for kind, data in inputs.items():
        model = GaussianMixture(3, random_state=0, backend=backend, device=device)
        outputs = {"fit_predict": model.fit_predict(data)}
        outputs.update({name: getattr(model, name)(data) for name in expected})
        for name, output in outputs.items():
            if kind == "tensor":
                assert isinstance(output, torch.Tensor), (backend, kind, name)
                assert output.device.type == device, (backend, kind, name)
                output = output.cpu().numpy()
            else:
                assert type(output) is np.ndarray, (backend, kind, name)
            reference_output = expected.get(name, expected["predict"])
            np.testing.assert_allclose(output, reference_output, rtol=1e-10, atol=1e-12)
        for name in ("score", "bic", "aic"):
            value = getattr(model, name)(data)
            assert type(value) is float
            assert value == pytest.approx(getattr(reference, name)(X), rel=1e-10)
        drawn, labels = model.sample(5)
        assert type(drawn) is np.ndarray and type(labels) is np.ndarray


@pytest.mark.parametrize(
    "failure",
    [RuntimeWarning("invalid value encountered in log"), np.linalg.LinAlgError("Singular matrix")],
)
def test_select_model_translates_a_raw_numpy_failure(monkeypatch, failure):
    pytest.importorskip("pandas")
    import gaussmix.selection as selection

    original = selection.fit_mixture

    def fit(data, settings, **options):
        if settings.n_components == 2:
            raise failure
        return original(data, settings, **options)

    monkeypatch.setattr(selection, "fit_mixture", fit, raising=True)
    table = select_model(blobs(), n_components=[1, 2], covariance_types=["VVV"], n_jobs=1).results_
    error = table.loc[table["n_components"] == 2, "error"].item()
    assert error.startswith("the fit degenerated (NumPy: ")
    assert "raise reg_covar" in error
