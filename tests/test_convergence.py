"""The two convergence rules: scikit-learn's absolute one and mclust's relative one.

Each stop is checked against the published definition recomputed from the fit's own
log-likelihood history: the rule holds at the last iteration and at no earlier one.
"""

from __future__ import annotations

import json
import math
from importlib.resources import files

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture, InvalidParameterError
from gaussmix.em import has_converged


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return np.loadtxt(files("gaussmix") / "data/faithful.csv", delimiter=",", skiprows=1)


def _relative_changes(history: np.ndarray, total_weight: float) -> np.ndarray:
    """mclust's |L_i − L_{i−1}| / (1 + |L_i|) on the total log-likelihood L = n × mean."""
    totals = np.asarray(history, dtype=float) * total_weight
    return np.abs(np.diff(totals)) / (1.0 + np.abs(totals[1:]))


@pytest.mark.parametrize("covariance_type", ["VVV", "EEE", "VEV"])
def test_relative_rule_stops_at_the_first_iteration_below_tol(faithful, covariance_type):
    tol = 1e-5
    gm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        tol=tol,
        convergence="relative",
        reg_covar=0.0,
        max_iter=1000,
        init_params="hierarchical",
    ).fit(faithful)
    assert gm.converged_
    changes = _relative_changes(gm.lower_bounds_, faithful.shape[0])
    assert changes.shape == (gm.n_iter_ - 1,)
    assert changes[-1] < tol
    assert np.all(changes[:-1] >= tol)
    # Not the absolute rule with the same tol: |Δ mean| = relative change × (1 + |L|)/n,
    # about 4 times larger here (mean log-likelihood ≈ −4.1), so that rule goes on.
    absolute = np.abs(np.diff(gm.lower_bounds_))
    assert absolute[-1] >= tol


def test_relative_rule_uses_the_sample_weighted_total(faithful):
    weights = np.random.default_rng(0).integers(1, 4, size=faithful.shape[0]).astype(float)
    gm = GaussianMixture(
        2, covariance_type="VVV", tol=1e-6, convergence="relative", reg_covar=0.0, max_iter=500
    )
    gm.set_params(init_params="hierarchical").fit(faithful, sample_weight=weights)
    changes = _relative_changes(gm.lower_bounds_, weights.sum())
    assert changes[-1] < 1e-6 and np.all(changes[:-1] >= 1e-6)


def test_absolute_rule_is_unchanged_and_the_default(faithful):
    gm = GaussianMixture(3, random_state=0, tol=1e-4).fit(faithful)
    assert gm.convergence == "absolute"
    changes = np.abs(np.diff(gm.lower_bounds_))
    assert changes[-1] < 1e-4 and np.all(changes[:-1] >= 1e-4)


def test_has_converged_follows_the_definitions():
    # Total L = 1000 × (−2.0005) after a mean change of 1e-5: relative change 1e-2/2001.5.
    assert has_converged(1e-5, -2.0005, 1e-5, "absolute") is False
    assert has_converged(0.9e-5, -2.0005, 1e-5, "absolute") is True
    relative = 1000 * 1e-5 / (1 + 1000 * 2.0005)
    assert has_converged(1e-5, -2.0005, relative * 1.001, "relative", 1000.0) is True
    assert has_converged(1e-5, -2.0005, relative * 0.999, "relative", 1000.0) is False
    assert has_converged(math.inf, -2.0, 1.0, "relative", 10.0) is False
    assert has_converged(math.nan, -2.0, 1.0, "absolute") is False


def test_relative_rule_is_measured_in_the_data_units_of_extreme_data(faithful):
    # Data 2^40 times larger are fitted at an exact power-of-two scale; the rule must see
    # the log-likelihood of the data as given, whose level differs by n·D·40·log 2.
    scaled = np.ldexp(faithful, 40)
    options = {"tol": 1e-7, "convergence": "relative", "reg_covar": 0.0, "max_iter": 1000}
    gm = GaussianMixture(2, covariance_type="VVV", init_params="hierarchical", **options)
    gm.fit(scaled)
    changes = _relative_changes(gm.lower_bounds_, scaled.shape[0])
    assert changes[-1] < 1e-7 and np.all(changes[:-1] >= 1e-7)


def test_unknown_rule_is_refused(faithful):
    with pytest.raises(InvalidParameterError, match="convergence must be one of"):
        GaussianMixture(2, convergence="loose").fit(faithful)


def test_model_files_keep_the_rule_and_older_files_load(tmp_path, faithful):
    pytest.importorskip("safetensors")
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    gm = GaussianMixture(2, convergence="relative", tol=1e-5, random_state=0).fit(faithful)
    path = gaussmix.save(gm, tmp_path / "relative.gmm")
    loaded = gaussmix.load(path)
    assert loaded.convergence == "relative" and loaded.tol == 1e-5

    # A file written before the option existed has no "convergence" parameter: the
    # default (absolute) applies.
    with safe_open(str(path), framework="numpy") as opened:
        header = json.loads(opened.metadata()["gaussmix"])
    del header["parameters"]["convergence"]
    arrays = load_file(str(path))
    header["checksum"] = gaussmix.io._checksum(header, arrays)
    old = tmp_path / "old.gmm"
    save_file(arrays, str(old), metadata={"gaussmix": json.dumps(header, sort_keys=True)})
    before = gaussmix.load(old)
    assert before.convergence == "absolute"
    np.testing.assert_array_equal(before.means_, gm.means_)


def test_the_callback_is_told_which_iteration_met_the_rule():
    from gaussmix.datasets import load_old_faithful

    seen = []
    model = GaussianMixture(
        2, tol=1e-5, convergence="relative", random_state=0, callback=seen.append
    ).fit(load_old_faithful().data)
    assert model.converged_
    flags = [info.converged for info in seen]
    assert flags[-1] and not any(flags[:-1])
    assert len(seen) == model.n_iter_
