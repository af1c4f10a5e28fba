"""numpy.ma input: masked entries are refused everywhere X is read, unmasked arrays are data."""

from __future__ import annotations

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture, InvalidInputError


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(size=(80, 2))


@pytest.fixture(scope="module")
def fitted(data):
    return GaussianMixture(2, random_state=0).fit(data)


def _masked(data):
    # The hidden values are far away: fitted as data, they would make a component of
    # their own.
    values = data.copy()
    values[[3, 7], 1] = 1e6
    mask = np.zeros(values.shape, bool)
    mask[[3, 7], 1] = True
    return np.ma.MaskedArray(values, mask=mask)


def _check_refused(caught):
    text = str(caught.value)
    assert "masked entries" in text and "2 masked entries" in text
    assert "row 3, column 1" in text
    assert "X.filled(" in text and "X[~X.mask.any(axis=1)]" in text


def test_fit_refuses_masked_entries(data):
    with pytest.raises(InvalidInputError) as caught:
        GaussianMixture(2, random_state=0).fit(_masked(data))
    _check_refused(caught)
    model = GaussianMixture(2, random_state=0)
    with pytest.raises(InvalidInputError):
        model.fit_predict(_masked(data))
    assert not hasattr(model, "n_features_in_")


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic", "icl"]
)
def test_every_method_reading_x_refuses_masked_entries(fitted, data, method):
    with pytest.raises(InvalidInputError) as caught:
        getattr(fitted, method)(_masked(data))
    _check_refused(caught)


def test_select_model_refuses_masked_entries(data):
    with pytest.raises(InvalidInputError) as caught:
        gaussmix.select_model(_masked(data), n_components=[1, 2], covariance_types="VVV")
    _check_refused(caught)


def test_masked_sample_weight_is_refused(data):
    weights = np.ma.MaskedArray(np.ones(len(data)), mask=np.arange(len(data)) == 5)
    with pytest.raises(InvalidInputError, match=r"sample_weight must have no masked.*filled\(0\)"):
        GaussianMixture(2, random_state=0).fit(data, sample_weight=weights)


@pytest.mark.parametrize("mask", [False, "all false"])
def test_a_masked_array_without_masked_entries_is_its_data(fitted, data, mask):
    masked = np.ma.MaskedArray(data, mask=np.zeros(data.shape, bool) if mask else np.ma.nomask)
    model = GaussianMixture(2, random_state=0).fit(masked)
    np.testing.assert_array_equal(model.means_, fitted.means_)
    np.testing.assert_array_equal(model.covariances_, fitted.covariances_)
    np.testing.assert_array_equal(fitted.predict_proba(masked), fitted.predict_proba(data))
    assert fitted.score(masked) == fitted.score(data)
    weights = np.ma.MaskedArray(np.ones(len(data)))
    np.testing.assert_array_equal(
        GaussianMixture(2, random_state=0).fit(data, sample_weight=weights).means_, fitted.means_
    )
