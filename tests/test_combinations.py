"""Options that change different rules of the engine combine; those that cannot are refused."""

from __future__ import annotations

import numpy as np
import pytest

from gaussmix import GaussianMixture
from gaussmix.exceptions import InvalidInputError, InvalidParameterError


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(5, 1, (60, 2))])
    labels = np.full(120, -1)
    labels[:5], labels[60:65] = 0, 1
    return X, labels


def _chunks(X):
    def source():
        for start in range(0, X.shape[0], 50):
            yield X[start : start + 50]

    return source


@pytest.mark.parametrize("option", [{"noise": True}, {"prior": "default"}])
def test_missing_values_refuse_noise_and_priors(data, option):
    X = data[0].copy()
    X[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="missing='em' does not combine"):
        GaussianMixture(2, missing="em", random_state=0, **option).fit(X)


@pytest.mark.parametrize("option", [{"noise": True}, {"prior": "default"}])
def test_streamed_sources_refuse_noise_and_priors(data, option):
    with pytest.raises(InvalidInputError, match="streamed source"):
        GaussianMixture(2, random_state=0, **option).fit(_chunks(data[0]))


def test_streamed_sources_refuse_labels(data):
    X, labels = data
    with pytest.raises(InvalidInputError, match="streamed source"):
        GaussianMixture(2, semi_supervised=True, random_state=0).fit(_chunks(X), labels)


@pytest.mark.parametrize(
    "option", [{"noise": True}, {"prior": "default"}, {"equal_proportions": True}]
)
def test_partial_fit_refuses_the_options_of_fit(data, option):
    with pytest.raises(InvalidParameterError, match="partial_fit runs plain online EM"):
        GaussianMixture(2, random_state=0, **option).partial_fit(data[0])


def test_equal_proportions_stream_as_in_memory(data):
    X = data[0]
    kwargs = {"covariance_type": "VVV", "equal_proportions": True, "random_state": 0}
    streamed = GaussianMixture(2, **kwargs).fit(_chunks(X))
    in_memory = GaussianMixture(2, **kwargs).fit(X)
    np.testing.assert_allclose(streamed.means_, in_memory.means_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(streamed.weights_, [0.5, 0.5])


def test_labels_with_missing_em_and_no_nan_equal_the_labelled_fit(data):
    X, labels = data
    kwargs = {"covariance_type": "VVV", "semi_supervised": True, "random_state": 0}
    both = GaussianMixture(2, missing="em", **kwargs).fit(X, labels)
    labelled = GaussianMixture(2, **kwargs).fit(X, labels)
    np.testing.assert_allclose(both.means_, labelled.means_, rtol=0, atol=1e-12)
    assert abs(both.log_likelihood_ - labelled.log_likelihood_) < 1e-12


def test_labels_with_missing_values_keep_the_labelled_rows_in_their_components(data):
    X, labels = data
    X = X.copy()
    X[[3, 70, 100], [1, 0, 0]] = np.nan
    fit = GaussianMixture(
        2, covariance_type="VVV", semi_supervised=True, missing="em", random_state=0
    ).fit(X, labels)
    # Labelled rows pull their component to their side: component 0 near the rows at 0.
    assert np.linalg.norm(fit.means_[0]) < 1.0 < np.linalg.norm(fit.means_[1])
    history = fit.log_likelihood_history_
    assert np.all(np.diff(history[1:]) >= -1e-12 * np.abs(history[1:-1]).max())


def test_partial_fit_with_missing_em_runs_batches_without_nan_and_refuses_nan(data):
    X = data[0]
    online = GaussianMixture(2, missing="em", random_state=0).partial_fit(X)
    plain = GaussianMixture(2, random_state=0).partial_fit(X)
    np.testing.assert_array_equal(online.means_, plain.means_)
    holed = X.copy()
    holed[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="the batch has NaN entries"):
        online.partial_fit(holed)


def test_a_streamed_source_with_nan_says_missing_em_needs_the_rows_in_memory(data):
    X = data[0].copy()
    X[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="missing='em' needs X in memory"):
        GaussianMixture(2, missing="em", random_state=0).fit(_chunks(X))
