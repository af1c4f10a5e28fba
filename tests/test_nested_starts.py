"""select_model's second starts from nested models' fits (gaussmix.nested_starts)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gaussmix import GaussianMixture, select_model
from gaussmix.covariance import MCLUST_MODELS
from gaussmix.datasets import load_iris
from gaussmix.nested_starts import is_nested

pytest.importorskip("pandas")

OPTIONS = {"tol": 1e-5, "convergence": "relative", "reg_covar": 0.0, "max_iter": 1000}


def _constraint_sets(code: str) -> tuple[set[str], set[str], set[str]]:
    # A letter's constraint as the set of models it admits: I ⊂ E ⊂ V.
    admits = {"I": {"I"}, "E": {"I", "E"}, "V": {"I", "E", "V"}}
    return tuple(admits[letter] for letter in code)


@pytest.mark.parametrize("outer", MCLUST_MODELS)
@pytest.mark.parametrize("inner", MCLUST_MODELS)
def test_nesting_is_inclusion_of_every_constraint(inner, outer):
    contained = all(
        a <= b for a, b in zip(_constraint_sets(inner), _constraint_sets(outer), strict=True)
    )
    assert is_nested(inner, outer) == (contained and inner != outer)


def test_known_nestings():
    assert is_nested("EEE", "EEV") and is_nested("EVE", "VVE") and is_nested("EII", "VVV")
    assert not is_nested("VEV", "VVE") and not is_nested("VVV", "EEE")
    assert not is_nested("full", "VVV")


def _iris_eve_and_eee(nested_starts: bool):
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selection = select_model(
            X,
            n_components=[3],
            covariance_types=["EEE", "EVE"],
            n_jobs=1,
            nested_starts=nested_starts,
        )
    return X, selection.results_.set_index("covariance_type")


def test_from_the_shared_start_alone_iris_eve_ends_below_the_eee_nested_in_it():
    # The case the second starts are for (mclust's table has it too).
    _, table = _iris_eve_and_eee(nested_starts=False)
    assert table.loc["EVE", "log_likelihood"] < table.loc["EEE", "log_likelihood"] - 1.0
    assert (table["start"] == "").all()


def test_a_second_start_from_the_nested_fit_makes_eve_at_least_as_likely_as_eee():
    X, table = _iris_eve_and_eee(nested_starts=True)
    assert table.loc["EVE", "start"] == "EEE"
    assert table.loc["EVE", "log_likelihood"] >= table.loc["EEE", "log_likelihood"]
    # The row is the fit of EVE from EEE's posterior, made here with the estimator.
    eee = GaussianMixture(3, covariance_type="EEE", init_params="hierarchical", **OPTIONS).fit(X)
    eve = GaussianMixture(
        3, covariance_type="EVE", responsibilities_init=eee.predict_proba(X), **OPTIONS
    ).fit(X)
    assert table.loc["EVE", "log_likelihood"] == pytest.approx(
        eve.log_likelihood_ * X.shape[0], rel=1e-10
    )
    assert table.loc["EVE", "bic"] == pytest.approx(eve.bic(X), rel=1e-10)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_the_table_with_second_starts_is_the_same_in_parallel(backend):
    joblib = pytest.importorskip("joblib")
    X = load_iris().data
    kwargs = {"n_components": [2, 3], "covariance_types": ["EEE", "EVE", "VVE", "VEV"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequential = select_model(X, n_jobs=1, **kwargs).results_
        with joblib.parallel_config(backend=backend):
            parallel = select_model(X, n_jobs=2, **kwargs).results_
    np.testing.assert_array_equal(sequential["start"], parallel["start"])
    if backend == "threading":
        # The same process and BLAS set-up: the same bits.
        np.testing.assert_array_equal(sequential["bic"], parallel["bic"])
    # Worker processes may round differently in the last bit (their own BLAS set-up).
    np.testing.assert_allclose(sequential["bic"], parallel["bic"], rtol=1e-12, atol=0)
