"""Every executor keeps the one contract of ``gaussmix.backends.base.Executor``.

The statistics and the per-row posterior of each executor are compared with a reference
written here (scipy log-densities, explicit sums over rows), not with another executor.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import fused
from gaussmix.backends.base import Executor
from gaussmix.backends.numpy import NumpyBackend, SmallDataBackend
from gaussmix.covariance.forms import CovarianceForm
from gaussmix.kernels import unwhiten
from gaussmix.parameters import MixtureParameters

FORMS = ("full", "tied", "diagonal", "spherical")
SCATTER_KINDS = ("full", "diagonal", "trace")
N_ROWS, N_FEATURES, N_COMPONENTS = 203, 3, 2

needs_numba = pytest.mark.skipif(not fused.available(), reason="numba is not installed")


def mixture(form: str, seed: int = 0) -> MixtureParameters:
    """Random well-conditioned parameters of a form (dense matrices reduced to the form)."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(N_COMPONENTS, N_FEATURES, N_FEATURES))
    dense = factors @ np.swapaxes(factors, 1, 2) / N_FEATURES + np.eye(N_FEATURES)
    covariances = {
        "full": dense,
        "tied": dense[0],
        "diagonal": np.diagonal(dense, axis1=1, axis2=2).copy(),
        "spherical": np.trace(dense, axis1=1, axis2=2) / N_FEATURES,
    }[form]
    shape = CovarianceForm(form)
    return MixtureParameters(
        weights=np.array([0.4, 0.6]),
        means=rng.normal(scale=2.0, size=(N_COMPONENTS, N_FEATURES)),
        covariances=covariances,
        precisions_cholesky=shape.precision_cholesky(covariances),
        form=form,
    )


def reference_log_prob(X: np.ndarray, parameters: MixtureParameters) -> np.ndarray:
    """log π_k + log N(x_n | μ_k, Σ_k) with scipy, each component's matrix written out."""
    covariances = parameters.covariances
    columns = []
    for k in range(N_COMPONENTS):
        if parameters.form == "full":
            covariance = covariances[k]
        elif parameters.form == "tied":
            covariance = covariances
        elif parameters.form == "diagonal":
            covariance = np.diag(covariances[k])
        else:
            covariance = covariances[k] * np.eye(N_FEATURES)
        density = multivariate_normal(parameters.means[k], covariance).logpdf(X)
        columns.append(np.log(parameters.weights[k]) + density)
    return np.column_stack(columns)


def reference_statistics(X, weights, parameters, kind):
    """n_k, Σ r (x − μ_k), the scatter about μ_k and Σ w log p, by explicit sums."""
    weighted = reference_log_prob(X, parameters)
    log_norm = logsumexp(weighted, axis=1)
    responsibilities = weights[:, None] * np.exp(weighted - log_norm[:, None])
    differences = X[:, None, :] - parameters.means[None]
    scatter = np.einsum("nk,nkd,nke->kde", responsibilities, differences, differences)
    if kind == "diagonal":
        scatter = np.diagonal(scatter, axis1=1, axis2=2)
    elif kind == "trace":
        scatter = np.trace(scatter, axis1=1, axis2=2)
    return {
        "n_k": responsibilities.sum(axis=0),
        "weighted_sum": np.einsum("nk,nkd->kd", responsibilities, differences),
        "scatter": scatter,
        "log_likelihood": float(np.sum(weights * log_norm)),
        "total_weight": float(np.sum(weights)),
    }


def executors(X: np.ndarray, weights: np.ndarray) -> list[tuple[str, Executor]]:
    """One executor of every kind that can run here, on the same rows."""
    made = [
        ("chunked, array kernels", NumpyBackend(X, weights, 17, n_threads=2, use_fused=False)),
        ("small data, array kernels", SmallDataBackend(X, weights, 64, use_fused=False)),
    ]
    if fused.available():
        made += [
            ("chunked, compiled", NumpyBackend(X, weights, 17, n_threads=2, use_fused=True)),
            ("small data, compiled", SmallDataBackend(X, weights, 64, use_fused=True)),
        ]
    try:
        import torch

        from gaussmix.backends.torch import TorchBackend

        made.append(
            (
                "torch, CPU",
                TorchBackend(X, torch.from_numpy(weights), 41, device="cpu", n_components=2),
            )
        )
    except ImportError:
        pass
    try:
        import dask.array as da

        from gaussmix.backends.dask import DaskBackend

        chunks = ((70, 70, 63), (N_FEATURES,))
        lazy_X, lazy_weights = da.from_array(X, chunks=chunks), da.from_array(weights, (chunks[0],))
        made.append(("dask", DaskBackend(lazy_X, lazy_weights, 19)))
        if fused.available():
            made.append(
                ("dask, compiled", DaskBackend(lazy_X, lazy_weights, 19, use_fused=True))
            )
    except ImportError:
        pass
    return made


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.normal(scale=2.0, size=(N_ROWS, N_FEATURES))
    weights = rng.uniform(0.0, 2.0, size=N_ROWS)
    return X, weights


def as_numpy(array) -> np.ndarray:
    if hasattr(array, "compute"):
        array = array.compute()
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def test_every_executor_declares_the_members_callers_read(rows):
    X, weights = rows
    for name, executor in executors(X, weights):
        assert isinstance(executor, Executor), name
        assert executor.X.shape == X.shape, name
        assert executor.sample_weight is not None, name
        assert isinstance(executor.chunk_size, int) and executor.chunk_size >= 1, name
        assert isinstance(executor.n_threads, int) and executor.n_threads >= 1, name
        assert isinstance(executor.use_fused, bool), name
        with pytest.raises(AttributeError):
            executor.use_fused = not executor.use_fused
    if fused.available():
        assert SmallDataBackend(X, weights, 64).use_fused
        assert NumpyBackend(X, weights, 17).use_fused


def test_an_executor_without_its_two_methods_cannot_be_made():
    class Incomplete(Executor):
        def map_rows(self, function):
            return function(self.X)

    with pytest.raises(TypeError, match="sum_moments"):
        Incomplete()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", SCATTER_KINDS)
def test_statistics_of_every_executor_equal_the_reference(rows, form, kind):
    X, weights = rows
    parameters = mixture(form)
    expected = reference_statistics(X, weights, parameters, kind)
    for name, executor in executors(X, weights):
        statistics = executor.statistics(parameters, kind)
        for field in ("n_k", "weighted_sum", "scatter"):
            np.testing.assert_allclose(
                getattr(statistics, field), expected[field], rtol=1e-10, atol=1e-10, err_msg=name
            )
        assert statistics.log_likelihood == pytest.approx(expected["log_likelihood"], rel=1e-12)
        assert statistics.total_weight == pytest.approx(expected["total_weight"], rel=1e-12)
        np.testing.assert_array_equal(statistics.shift, parameters.means)
        # The template: the executor's summed moments, unwhitened once on the host.
        moments = executor.sum_moments(executor.prepare(parameters), form_moment(form, kind))
        assert isinstance(moments.n_k, np.ndarray), name
        unwhitened = unwhiten(moments, parameters, kind)
        np.testing.assert_allclose(unwhitened.scatter, statistics.scatter, rtol=1e-12, atol=1e-12)


def form_moment(form: str, kind: str) -> str:
    return CovarianceForm(form).second_moment(kind)


@pytest.mark.parametrize("form", FORMS)
def test_posterior_function_mapped_over_rows_equals_the_reference(rows, form):
    X, weights = rows
    parameters = mixture(form, seed=2)
    weighted = reference_log_prob(X, parameters)
    log_norm = logsumexp(weighted, axis=1)
    for name, executor in executors(X, weights):
        posterior = executor.posterior_function(executor.prepare(parameters))
        # Dask ships it to workers: it must not drag the executor (and its data) along.
        assert b"Backend" not in pickle.dumps(posterior), name
        computed = as_numpy(
            executor.map_rows(lambda block, posterior=posterior: posterior(block)[0])
        )
        np.testing.assert_allclose(computed, log_norm, rtol=1e-12, err_msg=name)
        responsibilities = as_numpy(
            executor.map_rows(lambda block, posterior=posterior: posterior(block)[1])
        )
        np.testing.assert_allclose(
            responsibilities, np.exp(weighted - log_norm[:, None]), atol=1e-12, err_msg=name
        )


@needs_numba
def test_the_compiled_codes_of_each_form_are_those_of_the_compiled_module():
    from gaussmix import _compiled

    assert fused._SWEEP_CODES == {
        CovarianceForm.FULL: _compiled.FULL,
        CovarianceForm.TIED: _compiled.TIED,
        CovarianceForm.DIAGONAL: _compiled.PLAIN,
        CovarianceForm.SPHERICAL: _compiled.PLAIN,
    }
    assert fused._LAYOUTS == {
        CovarianceForm.FULL: _compiled.FULL,
        CovarianceForm.TIED: _compiled.TIED,
        CovarianceForm.DIAGONAL: _compiled.PLAIN,
        CovarianceForm.SPHERICAL: _compiled.SPHERICAL,
    }
    assert fused._SCATTER_KINDS == {
        "trace": _compiled.SCATTER_TRACE,
        "diagonal": _compiled.SCATTER_DIAGONAL,
        "full": _compiled.SCATTER_FULL,
    }
