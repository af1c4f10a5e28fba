"""The PyTorch backend gives the NumPy backend's answers, on every device that exists here."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from gaussmix import GaussianMixture, InvalidInputError
from gaussmix.backends.torch import TorchBackend, import_torch
from gaussmix.covariance import MCLUST_MODELS, get_covariance_model
from gaussmix.kernels import chunk_statistics
from gaussmix.mstep import maximize
from gaussmix.statistics import SufficientStatistics

torch = pytest.importorskip("torch")

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="no CUDA device on this machine"
        ),
    ),
]
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def clustered(n_samples=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [-3.0, 3.0, 2.0]])
    labels = rng.integers(0, 3, size=n_samples)
    return centres[labels] + rng.normal(scale=[1.0, 0.7, 1.3], size=(n_samples, 3))


def start(X, covariance_type):
    """One start for every backend: three data rows as means, precisions 1/2."""
    means = X[[0, 1, 2]]
    precisions = {
        "full": np.broadcast_to(np.eye(3) / 2, (3, 3, 3)).copy(),
        "tied": np.eye(3) / 2,
        "diag": np.full((3, 3), 0.5),
        "spherical": np.full(3, 0.5),
    }[covariance_type]
    return {"weights_init": np.full(3, 1 / 3), "means_init": means, "precisions_init": precisions}


def fit(X, covariance_type, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(
            3,
            covariance_type=covariance_type,
            tol=0.0,
            max_iter=15,
            **start(np.asarray(X.cpu() if hasattr(X, "cpu") else X), covariance_type),
            **options,
        ).fit(X)


def assert_same_fit(a, b, rtol):
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=rtol, atol=0)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=rtol)
    np.testing.assert_allclose(b.log_likelihood_history_, a.log_likelihood_history_, rtol=rtol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float64_fit_equals_the_numpy_fit(device, covariance_type):
    X = clustered()
    expected = fit(X, covariance_type)
    on_torch = fit(X, covariance_type, backend="torch", device=device, chunk_size=97)
    assert_same_fit(expected, on_torch, 1e-10)
    tensor = fit(torch.from_numpy(X).to(device), covariance_type, backend="auto")
    assert_same_fit(expected, tensor, 1e-10)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fit_is_within_1e_4_of_float64(device, covariance_type):
    X = clustered()
    expected = fit(X, covariance_type)
    single = fit(torch.from_numpy(X.astype(np.float32)).to(device), covariance_type, backend="auto")
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(single, name), getattr(expected, name), rtol=1e-4)
    np.testing.assert_allclose(single.lower_bound_, expected.lower_bound_, rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_auto_returns_tensors_on_the_device_of_x(device):
    X = clustered()
    model = fit(X, "full")
    tensor = torch.from_numpy(X).to(device)
    model.set_params(backend="auto")
    log_density = model.score_samples(tensor)
    responsibilities = model.predict_proba(tensor)
    labels = model.predict(tensor)
    for output in (log_density, responsibilities, labels):
        assert isinstance(output, torch.Tensor)
        assert output.device.type == torch.device(device).type
    np.testing.assert_allclose(
        log_density.cpu().numpy(), model.set_params(backend="numpy").score_samples(X), rtol=1e-12
    )
    np.testing.assert_allclose(responsibilities.cpu().numpy(), model.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(labels.cpu().numpy(), model.predict(X))
    assert model.set_params(backend="auto").score(tensor) == pytest.approx(model.score(X), 1e-12)


def test_torch_backend_on_numpy_input_returns_numpy():
    X = clustered()
    model = fit(X, "diag", backend="torch", device="cpu")
    assert isinstance(model.predict_proba(X), np.ndarray)
    assert isinstance(model.predict(X), np.ndarray)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("form", ("full", "tied", "diagonal", "spherical"))
def test_chunk_kernels_on_tensors_equal_numpy(device, form):
    X = clustered(200)
    model = fit(X, {"diagonal": "diag"}.get(form, form))
    parameters = model._fitted_parameters()
    weights = np.random.default_rng(1).uniform(size=200)
    kind = get_covariance_model({"diagonal": "diag"}.get(form, form)).scatter
    expected = chunk_statistics(X, weights, parameters, kind)
    got = chunk_statistics(
        torch.from_numpy(X).to(device), torch.from_numpy(weights).to(device), parameters, kind
    )
    for name in ("n_k", "weighted_sum", "scatter"):
        scale = np.abs(getattr(expected, name)).max()
        assert np.abs(getattr(got, name) - getattr(expected, name)).max() <= 1e-12 * scale
    assert got.log_likelihood == pytest.approx(expected.log_likelihood, rel=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_host_data_streamed_in_pinned_chunks_give_the_same_statistics():
    X = clustered(1000)
    model = fit(X, "full")
    parameters = model._fitted_parameters()
    backend = TorchBackend(X, None, 128, "cuda")
    backend._resident = False
    backend.X = backend.X.cpu()
    streamed = backend.statistics(parameters, "full")
    resident = TorchBackend(X, None, 128, "cuda").statistics(parameters, "full")
    np.testing.assert_allclose(streamed.scatter, resident.scatter, rtol=1e-12)


def test_sample_weight_tensor_and_statistics_feed_the_m_step():
    X = clustered(300)
    weights = np.random.default_rng(2).integers(0, 3, size=300).astype(float)
    model = fit(X, "full")
    parameters = model._fitted_parameters()
    statistics = TorchBackend(X, torch.from_numpy(weights), 50, "cpu").statistics(
        parameters, "full"
    )
    assert isinstance(statistics, SufficientStatistics)
    repeated = np.repeat(X, weights.astype(int), axis=0)
    on_repeats = TorchBackend(repeated, None, 50, "cpu").statistics(parameters, "full")
    model_full = get_covariance_model("full")
    np.testing.assert_allclose(
        maximize(statistics, model_full, 1e-6).covariances,
        maximize(on_repeats, model_full, 1e-6).covariances,
        rtol=1e-10,
    )


def test_bad_tensors_are_refused_with_a_remedy():
    model = GaussianMixture(2, backend="auto")
    with pytest.raises(InvalidInputError, match="reshape"):
        model.fit(torch.zeros(10))
    bad = torch.from_numpy(clustered(20))
    bad[3, 1] = float("nan")
    with pytest.raises(InvalidInputError, match="finite"):
        model.fit(bad)
    fitted = GaussianMixture(2, backend="auto", random_state=0).fit(torch.from_numpy(clustered()))
    with pytest.raises(InvalidInputError, match="3 features"):
        fitted.predict(torch.zeros((4, 2), dtype=torch.float64))


def test_integer_tensors_become_float64():
    X = torch.from_numpy(np.round(clustered() * 10).astype(np.int64))
    model = GaussianMixture(3, backend="auto", random_state=0).fit(X)
    assert model.score_samples(X).dtype == torch.float64


def test_missing_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pip install 'gaussmix\[torch\]'"):
        import_torch()


# ------------------------------------------------ every covariance model on tensors
# Inner iterations of VEI, VEE, EVE, VVE and VEV stop at 1e-10 of the largest entry
# (gaussmix.covariance.iterative); over EM iterations that leaves differences of that order
# relative to the largest entry, not to every entry.
ITERATIVE_MODELS = {"VEI", "VEE", "EVE", "VVE", "VEV"}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("covariance_type", MCLUST_MODELS)
def test_every_mclust_model_with_weights_equals_the_numpy_fit(device, covariance_type):
    X = clustered(n_samples=400)
    weights = np.random.default_rng(3).integers(0, 4, size=X.shape[0]).astype(float)
    start = {
        "weights_init": np.full(3, 1 / 3),
        "means_init": X[[0, 1, 2]],
        "precisions_init": np.broadcast_to(np.eye(3) / 2, (3, 3, 3)).copy(),
    }

    def model(**options) -> GaussianMixture:
        return GaussianMixture(
            3, covariance_type=covariance_type, tol=0.0, max_iter=8, **start, **options
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = model().fit(X, sample_weight=weights)
        fitted = model(backend="auto", chunk_size=97).fit(
            torch.from_numpy(X).to(device), sample_weight=torch.from_numpy(weights).to(device)
        )
    iterative = covariance_type in ITERATIVE_MODELS
    for name in ("weights_", "means_", "covariances_", "volume_", "shape_"):
        expected = getattr(reference, name)
        np.testing.assert_allclose(
            getattr(fitted, name),
            expected,
            rtol=1e-10,
            atol=1e-8 * np.max(np.abs(expected)) if iterative else 0,
        )
    np.testing.assert_allclose(fitted.log_likelihood_, reference.log_likelihood_, rtol=1e-10)
    # Tensor in, tensor out under backend="auto", for every model; icl accepts tensors.
    labels = fitted.predict(torch.from_numpy(X).to(device))
    assert isinstance(labels, torch.Tensor)
    np.testing.assert_array_equal(labels.cpu().numpy(), reference.predict(X))
    assert fitted.icl(torch.from_numpy(X).to(device)) == pytest.approx(reference.icl(X), rel=1e-9)
