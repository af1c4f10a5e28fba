"""GaussianMixture with the fourteen mclust models: EM monotonicity, weights, float32,
public attributes, responsibilities_init and ICL."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from gaussmix import GaussianMixture, InvalidParameterError
from gaussmix.covariance import MCLUST_MODELS

ALIASES = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 4.0, 1.0]])
    labels = np.repeat([0, 1, 2], 40)
    mixing = rng.normal(size=(3, 3, 3)) * 0.6 + np.eye(3)
    X = centres[labels] + np.einsum("nd,nde->ne", rng.normal(size=(120, 3)), mixing[labels])
    # A rough start (one label in six moved) so that EM has work to do.
    start = labels.copy()
    start[::6] = (start[::6] + 1) % 3
    return X, start


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_log_likelihood_never_decreases_at_zero_regularisation(blobs, code):
    X, start = blobs
    gm = GaussianMixture(
        3, covariance_type=code, reg_covar=0.0, tol=0.0, max_iter=40, responsibilities_init=start
    )
    with pytest.warns(Warning):  # ConvergenceWarning: tol=0 never converges
        gm.fit(X)
    history = gm.log_likelihood_history_
    assert history[-1] > history[0] + 1e-3
    # Iterative models solve their M-step to a relative 1e-10; allow that much.
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_integer_sample_weights_equal_repeated_rows(blobs, code):
    X, start = blobs
    weights = np.random.default_rng(1).integers(0, 4, size=X.shape[0])
    weights[:3] = 1  # keep every starting group populated
    options = {"covariance_type": code, "reg_covar": 0.0, "tol": 1e-10, "max_iter": 30}
    weighted = GaussianMixture(3, responsibilities_init=start, **options)
    repeated = GaussianMixture(3, responsibilities_init=np.repeat(start, weights), **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted.fit(X, sample_weight=weights)
        repeated.fit(np.repeat(X, weights, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-8)


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_float32_data_give_float64_fit_close_to_float64_data(blobs, code):
    X, start = blobs
    options = {"covariance_type": code, "reg_covar": 0.0, "tol": 1e-8, "max_iter": 200}
    single = GaussianMixture(3, responsibilities_init=start, **options).fit(X.astype(np.float32))
    double = GaussianMixture(3, responsibilities_init=start, **options).fit(X)
    assert single.covariances_.dtype == np.float64
    assert single.predict(X.astype(np.float32)).dtype.kind == "i"
    np.testing.assert_allclose(single.means_, double.means_, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(single.covariances_, double.covariances_, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_mclust_codes_report_dense_matrices_and_their_decomposition(blobs, code):
    X, start = blobs
    gm = GaussianMixture(3, covariance_type=code, responsibilities_init=start).fit(X)
    assert gm.covariances_.shape == (3, 3, 3)
    assert gm.precisions_.shape == gm.precisions_cholesky_.shape == (3, 3, 3)
    for k in range(3):
        np.testing.assert_allclose(gm.precisions_[k] @ gm.covariances_[k], np.eye(3), atol=1e-8)
        factor = gm.precisions_cholesky_[k]
        np.testing.assert_allclose(factor @ factor.T, gm.precisions_[k], rtol=1e-10)
    rebuilt = np.einsum(
        "k,kij,kj,klj->kil", gm.volume_, gm.orientation_, gm.shape_, gm.orientation_
    )
    np.testing.assert_allclose(rebuilt, gm.covariances_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.prod(gm.shape_, axis=1), 1.0, rtol=1e-10)
    # predict & co. read the dense attributes back: same as a density computed here.
    from scipy.stats import multivariate_normal

    densities = np.column_stack(
        [
            gm.weights_[k] * multivariate_normal(gm.means_[k], gm.covariances_[k]).pdf(X)
            for k in range(3)
        ]
    )
    np.testing.assert_allclose(gm.score_samples(X), np.log(densities.sum(axis=1)), rtol=1e-10)
    np.testing.assert_array_equal(gm.predict(X), densities.argmax(axis=1))


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_scikit_learn_names_keep_scikit_learn_shapes_and_values(blobs, alias):
    X, _ = blobs
    ours = GaussianMixture(3, covariance_type=alias, random_state=0, tol=0, max_iter=5)
    theirs = SklearnGaussianMixture(3, covariance_type=alias, random_state=0, tol=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X)
        theirs.fit(X)
    assert ours.covariances_.shape == theirs.covariances_.shape
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-8, atol=1e-10)
    code = GaussianMixture(3, covariance_type=ALIASES[alias], random_state=0, tol=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        code.fit(X)
    np.testing.assert_allclose(code.predict_proba(X), ours.predict_proba(X), rtol=1e-10)


def test_precisions_init_for_an_mclust_code_is_dense(blobs):
    X, start = blobs
    gm = GaussianMixture(
        3, covariance_type="EEI", responsibilities_init=start, tol=1e-12, max_iter=1000
    ).fit(X)
    one_step = GaussianMixture(
        3,
        covariance_type="EEI",
        weights_init=gm.weights_,
        means_init=gm.means_,
        precisions_init=gm.precisions_,
        max_iter=1,
    )
    with pytest.warns(ConvergenceWarning):
        one_step.fit(X)
    np.testing.assert_allclose(one_step.covariances_, gm.covariances_, rtol=1e-6)
    with pytest.raises(InvalidParameterError, match="precisions_init must have shape"):
        GaussianMixture(3, covariance_type="EEI", precisions_init=np.ones((3, 3))).fit(X)


def test_labels_and_one_hot_responsibilities_give_the_same_fit(blobs):
    X, start = blobs
    one_hot = np.eye(3)[start]
    by_labels = GaussianMixture(3, covariance_type="VEV", responsibilities_init=start).fit(X)
    by_matrix = GaussianMixture(3, covariance_type="VEV", responsibilities_init=one_hot).fit(X)
    np.testing.assert_allclose(by_labels.means_, by_matrix.means_, rtol=1e-12)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros(5, dtype=int), "labels must be integers of shape"),
        (np.full(120, 3), "labels must lie in"),
        (np.full((120, 3), 0.5), "rows must sum to one"),
        (np.ones((120, 2)), "must have shape"),
    ],
)
def test_bad_responsibilities_init_raise_before_fitting(blobs, value, message):
    X, _ = blobs
    gm = GaussianMixture(3, responsibilities_init=value)
    with pytest.raises(InvalidParameterError, match=message):
        gm.fit(X)
    assert not hasattr(gm, "means_")


def test_icl_is_bic_plus_twice_the_hard_classification_entropy(blobs):
    X, start = blobs
    gm = GaussianMixture(3, covariance_type="EVE", responsibilities_init=start).fit(X)
    probabilities = gm.predict_proba(X)
    entropy = -sum(np.log(row[np.argmax(row)]) for row in probabilities)
    assert gm.icl(X) == pytest.approx(gm.bic(X) + 2 * entropy, rel=1e-12)
    assert entropy > 1e-3


def test_hierarchical_initialisation_is_deterministic(blobs):
    X, _ = blobs
    first = GaussianMixture(3, covariance_type="VVV", init_params="hierarchical").fit(X)
    second = GaussianMixture(3, covariance_type="VVV", init_params="hierarchical").fit(X)
    np.testing.assert_array_equal(first.means_, second.means_)


def test_all_zero_responsibility_rows_are_left_out_of_the_first_m_step(blobs):
    X, start = blobs
    partial = np.eye(3)[start]
    partial[60:] = 0.0
    gm = GaussianMixture(3, covariance_type="EEE", responsibilities_init=partial, max_iter=0)
    gm.fit(X)
    np.testing.assert_allclose(gm.means_[start[0]], X[:60][start[:60] == start[0]].mean(axis=0))
