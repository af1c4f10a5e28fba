"""The small-data executor against the chunked one: same statistics, fits and predictions.

Data that fit in one task of :class:`NumpyBackend` get :class:`SmallDataBackend`
(``numpy_backend`` decides); a ``chunk_size`` below N/8 reaches the chunked executor,
its blocks and its thread pool, explicitly. The two sum the same rows in another order,
so they must agree to rounding.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

import gaussmix.covariance as covariance
from gaussmix import GaussianMixture, fused
from gaussmix.backends.numpy import NumpyBackend, SmallDataBackend, numpy_backend
from gaussmix.covariance import MCLUST_MODELS
from gaussmix.datasets import load_old_faithful
from gaussmix.exceptions import CollapsedComponentError, CollapsedComponentWarning
from gaussmix.kernels import _upper_inverses, prepare_parameters
from test_kernels_reference import (
    FORMS,
    KINDS,
    assert_statistics_match,
    random_parameters,
    reference,
)

NAMES = (*MCLUST_MODELS, "full", "tied", "diag", "spherical")
FAITHFUL = load_old_faithful().data
# Chunks of 16 rows: 17 chunks, 3 blocks of the fused kernels, so the chunked executor
# sums blocks from its thread pool.
CHUNKED = 16
FIT_FIELDS = ("weights_", "means_", "covariances_", "log_likelihood_history_")
needs_numba = pytest.mark.skipif(not fused.available(), reason="numba is not installed")


def _weights(n_samples: int) -> np.ndarray:
    weights = np.random.default_rng(5).uniform(0.0, 2.0, n_samples)
    weights[::7] = 0.0
    return weights


def _relative_gap(computed: np.ndarray, expected: np.ndarray) -> float:
    """Largest entrywise difference relative to the largest magnitude of ``expected``."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.max(np.abs(expected))
    return float(np.max(np.abs(np.asarray(computed, dtype=np.float64) - expected)) / scale)


@pytest.fixture
def converged_inner_solvers(monkeypatch):
    """Iterative M-steps (VEI, VEE, VEV, EVE, VVE) solved to rounding, not to 1e-10.

    Their inner fixed points stop at a relative change of ``tol`` (1e-10): a rounding-level
    difference in the statistics may stop one of them an iteration earlier or later,
    which moves the fit by up to ~1e-9, between two chunk sizes of the chunked executor
    as much as between the two executors. Solved to 1e-15, the M-step is a smooth
    function of the statistics and the comparison measures the executors alone.
    """
    for name in NAMES:
        model = covariance.get_covariance_model(name)
        if dataclasses.is_dataclass(model) and any(
            field.name == "tol" for field in dataclasses.fields(model)
        ):
            monkeypatch.setitem(covariance._REGISTRY, name, dataclasses.replace(model, tol=1e-15))


def test_the_factory_chooses_the_executor_by_size_once():
    X = np.zeros((200, 2))
    assert isinstance(numpy_backend(X, None, 25, use_fused=True), SmallDataBackend)  # 8 chunks
    assert isinstance(numpy_backend(X, None, 24, use_fused=True), NumpyBackend)
    assert isinstance(numpy_backend(X, None, 200, use_fused=False), SmallDataBackend)
    assert isinstance(numpy_backend(X, None, 199, use_fused=False), NumpyBackend)
    model = GaussianMixture(3)
    assert isinstance(model._backend(FAITHFUL, None), SmallDataBackend)
    assert isinstance(model.set_params(chunk_size=CHUNKED)._backend(FAITHFUL, None), NumpyBackend)


@pytest.mark.parametrize("use_fused", [pytest.param(True, marks=needs_numba), False])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", KINDS)
def test_statistics_equal_the_chunked_executor_and_the_reference(use_fused, form, kind):
    parameters = random_parameters(form, 3, 4, seed=2)
    rng = np.random.default_rng(3)
    X = rng.normal(scale=2.0, size=(150, 4))
    for weights in (None, _weights(150)):
        small = SmallDataBackend(X, weights, 1000, use_fused=use_fused).statistics(parameters, kind)
        chunked = NumpyBackend(X, weights, 7, n_threads=2, use_fused=use_fused).statistics(
            parameters, kind
        )
        for field in ("n_k", "weighted_sum", "scatter"):
            gap = _relative_gap(getattr(small, field), getattr(chunked, field))
            assert gap <= 1e-12, (field, gap)
        assert small.log_likelihood == pytest.approx(chunked.log_likelihood, rel=1e-12)
        assert small.total_weight == pytest.approx(chunked.total_weight, rel=1e-13)
        np.testing.assert_array_equal(small.shift, parameters.means)
        # And both to the independent scipy reference.
        assert_statistics_match(small, reference(X, weights, parameters, kind), 1e-12)


@needs_numba
@pytest.mark.parametrize("form", FORMS)
def test_float32_statistics_equal_the_chunked_float32_executor(form):
    parameters = random_parameters(form, 3, 3, seed=4)
    X = np.random.default_rng(6).normal(scale=2.0, size=(300, 3)).astype(np.float32)
    weights = _weights(300).astype(np.float32)
    kind = {"full": "full", "tied": "full", "diagonal": "diagonal", "spherical": "trace"}[form]
    small = SmallDataBackend(X, weights, 1000).statistics(parameters, kind)
    chunked = NumpyBackend(X, weights, 7, n_threads=2).statistics(parameters, kind)
    # Both evaluate each row in float32 from the same float32 parameters and add in
    # float64; what differs is float64 rounding, and (rarely) the float32 rounding of a
    # parameter laid out in another order.
    for field in ("n_k", "weighted_sum", "scatter"):
        assert _relative_gap(getattr(small, field), getattr(chunked, field)) <= 1e-6, field
    assert small.log_likelihood == pytest.approx(chunked.log_likelihood, rel=1e-6)


@needs_numba
@pytest.mark.parametrize("form", FORMS)
def test_compiled_preparation_refuses_an_infinite_variance_like_the_array_kernels(form):
    parameters = random_parameters(form, 3, 2, seed=7)
    factors = parameters.precisions_cholesky.copy()
    if form in ("full", "tied"):
        (factors[1] if form == "full" else factors)[0, 0] = 0.0
    else:
        factors[1] = 0.0
    broken = dataclasses.replace(parameters, precisions_cholesky=factors)
    with pytest.raises(CollapsedComponentError) as expected:
        prepare_parameters(broken)
    with pytest.raises(CollapsedComponentError) as computed:
        SmallDataBackend(FAITHFUL, None, 1000).statistics(broken, "full")
    assert computed.value.component == expected.value.component
    assert str(computed.value) == str(expected.value)


@pytest.mark.parametrize("n_features", [1, 3, 40])  # batched LAPACK, and SciPy's solves
def test_the_unwhitening_inverts_triangular_factors(n_features):
    rng = np.random.default_rng(n_features)
    # Factors as the M-step makes them: the transposed Cholesky factors of well-conditioned
    # matrices (random triangular matrices are ill-conditioned as D grows).
    spread = rng.normal(size=(4, n_features, n_features))
    matrices = spread @ np.swapaxes(spread, 1, 2) / n_features + np.eye(n_features)
    factors = np.swapaxes(np.linalg.cholesky(matrices), 1, 2)
    inverses = _upper_inverses(factors)
    np.testing.assert_allclose(
        factors @ inverses, np.broadcast_to(np.eye(n_features), factors.shape), atol=1e-12
    )
    assert np.all(np.tril(inverses, -1) == 0.0)


def test_fortran_ordered_data_give_the_same_statistics():
    parameters = random_parameters("full", 3, 2, seed=8)
    c_order = SmallDataBackend(FAITHFUL, None, 1000).statistics(parameters, "full")
    f_order = SmallDataBackend(np.asfortranarray(FAITHFUL), None, 1000).statistics(
        parameters, "full"
    )
    np.testing.assert_array_equal(c_order.scatter, f_order.scatter)
    assert c_order.log_likelihood == f_order.log_likelihood


def _fit_pair(name: str, X: np.ndarray, weights: np.ndarray | None, **options):
    settings = dict(covariance_type=name, random_state=0, max_iter=40, tol=0.0, **options)
    small = GaussianMixture(3, **settings)
    chunked = GaussianMixture(3, chunk_size=CHUNKED, **settings)
    assert isinstance(small._backend(X, None), SmallDataBackend)
    assert isinstance(chunked._backend(X, None), NumpyBackend)
    with pytest.warns(ConvergenceWarning):  # tol = 0: every fit runs its 40 iterations
        small.fit(X, sample_weight=weights)
    with pytest.warns(ConvergenceWarning):
        chunked.fit(X, sample_weight=weights)
    return small, chunked


@pytest.mark.usefixtures("converged_inner_solvers")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_fits_and_predictions_equal_the_chunked_executor(name, weighted, dtype):
    X = FAITHFUL.astype(dtype)
    weights = _weights(X.shape[0]).astype(dtype) if weighted else None
    small, chunked = _fit_pair(name, X, weights)
    # float64: rounding only. float32: each fit is float32 arithmetic over 40 iterations;
    # the two executors agree far below float32's resolution (1.2e-7) on most models.
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for field in FIT_FIELDS:
        gap = _relative_gap(getattr(small, field), getattr(chunked, field))
        assert gap <= tolerance, (field, gap)
    assert small.n_iter_ == chunked.n_iter_ == 40
    # Predictions of one fitted model through both executors.
    proba = small.predict_proba(X)
    log_density = small.score_samples(X)
    small.set_params(chunk_size=CHUNKED)
    assert isinstance(small._backend(X, None), NumpyBackend)
    np.testing.assert_allclose(proba, small.predict_proba(X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(log_density, small.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), small.predict(X))


@pytest.mark.usefixtures("converged_inner_solvers")
@pytest.mark.parametrize("name", ["VVV", "EEE", "EVE", "VEI", "EII", "tied"])
def test_fits_without_numba_equal_the_chunked_array_kernels(name, monkeypatch):
    monkeypatch.setattr(fused, "available", lambda: False)
    small, chunked = _fit_pair(name, FAITHFUL, _weights(FAITHFUL.shape[0]))
    assert not small._backend(FAITHFUL, None).use_fused
    for field in FIT_FIELDS:
        assert _relative_gap(getattr(small, field), getattr(chunked, field)) <= 1e-12, field


def test_an_emptied_component_is_reseeded_alike_on_both_executors():
    # Component 2 starts far from every row with a negligible weight: it owns nothing, and
    # is re-seeded at the worst-explained row (a pass of map_rows over all rows).
    rng = np.random.default_rng(9)
    second_blob = rng.normal(size=(60, 2)) + np.array([6.0, 0.0])
    X = np.vstack([rng.normal(size=(60, 2)), second_blob, [[3.0, 9.0]]])
    settings = dict(
        n_components=3,
        max_iter=30,
        tol=0.0,
        weights_init=[0.5, 0.5 - 1e-30, 1e-30],
        means_init=[[0.0, 0.0], [6.0, 0.0], [-500.0, -500.0]],
        precisions_init=np.stack([np.eye(2)] * 3),
    )
    fits = []
    for chunk_size in (None, 4):
        model = GaussianMixture(**settings, chunk_size=chunk_size)
        with pytest.warns(CollapsedComponentWarning, match="re-seeded"):
            with pytest.warns(ConvergenceWarning):
                model.fit(X)
        fits.append(model)
    small, chunked = fits
    assert isinstance(small._backend(X, None), SmallDataBackend)
    assert isinstance(chunked._backend(X, None), NumpyBackend)
    np.testing.assert_allclose(small.means_[2], chunked.means_[2], rtol=1e-12)
    for field in FIT_FIELDS:
        assert _relative_gap(getattr(small, field), getattr(chunked, field)) <= 1e-12, field


def _openmp_threads() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"}


def test_kmeans_of_small_data_runs_on_one_openmp_thread(monkeypatch):
    import gaussmix.fitting as fitting

    if not _openmp_threads():
        pytest.skip("no OpenMP runtime loaded")
    seen: list[set[int]] = []
    drawn = fitting.draw_start

    def recording(*arguments, **options):
        seen.append(_openmp_threads())
        return drawn(*arguments, **options)

    monkeypatch.setattr(fitting, "draw_start", recording)
    before = _openmp_threads()
    GaussianMixture(3, n_init=2, random_state=0).fit(FAITHFUL)
    assert seen == [{1}, {1}]
    assert _openmp_threads() == before
    # The chunked executor keeps the threads it has (one per core).
    seen.clear()
    GaussianMixture(3, random_state=0, chunk_size=CHUNKED).fit(FAITHFUL)
    backend = GaussianMixture(3, chunk_size=CHUNKED)._backend(FAITHFUL, None)
    assert seen == [before] or backend.n_threads == 1
