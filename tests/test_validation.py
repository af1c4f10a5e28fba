"""Clear errors: every message says what must hold, what was received and how to fix it."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from gaussmix import (
    CollapsedComponentError,
    CollapsedComponentWarning,
    GaussianMixture,
    InvalidInputError,
    InvalidParameterError,
    NonNumericDataError,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 2))


def raises_with(error: type[Exception], *parts: str):
    """pytest.raises that also requires every part (a literal string) in the message."""
    return pytest.raises(error, match="(?s)" + "".join(f"(?=.*{re.escape(p)})" for p in parts))


def with_value(index: int, value: float) -> np.ndarray:
    bad = X.copy()
    bad.flat[index] = value
    return bad


# ------------------------------------------------------------------------ data
@pytest.mark.parametrize(
    ("data", "parts"),
    [
        (with_value(5, np.nan), ["must contain only finite values", "1 NaN", "row 2, column 1"]),
        (with_value(0, np.inf), ["must contain only finite values", "1 inf", "row 0, column 0"]),
        (with_value(3, -np.inf), ["finite", "1 inf", "impute"]),
    ],
)
def test_non_finite_data_are_refused(data, parts):
    with raises_with(InvalidInputError, *parts):
        GaussianMixture().fit(data)


def test_one_dimensional_data_are_refused_with_the_reshape_hint():
    with raises_with(InvalidInputError, "must be 2-D", "shape (20,)", "X.reshape(-1, 1)"):
        GaussianMixture().fit(X[:, 0])
    with raises_with(InvalidInputError, "must be 2-D", "shape (1, 20, 2)"):
        GaussianMixture().fit(X[None])


def test_empty_data_are_refused():
    with raises_with(InvalidInputError, "0 sample(s)", "minimum of 1"):
        GaussianMixture().fit(np.empty((0, 2)))
    with raises_with(InvalidInputError, "0 feature(s)", "minimum of 1"):
        GaussianMixture().fit(np.empty((5, 0)))


def test_fewer_samples_than_components_is_refused():
    with raises_with(
        InvalidInputError, "n_samples must be >= n_components", "n_samples = 3", "n_components = 5"
    ):
        GaussianMixture(n_components=5).fit(X[:3])
    # Rows of weight zero do not count.
    weights = np.r_[np.ones(2), np.zeros(18)]
    with raises_with(InvalidInputError, "n_samples = 2", "positive weight"):
        GaussianMixture(n_components=3).fit(X, sample_weight=weights)


def test_strings_are_refused_as_non_numeric():
    strings = np.array([["a", "b"], ["c", "d"]], dtype=object)
    with raises_with(NonNumericDataError, "must contain only numbers", "'a'", "encode"):
        GaussianMixture().fit(strings)
    with raises_with(NonNumericDataError, "must contain only numbers", "'x'"):
        GaussianMixture().fit([[1.0, "x"], [2.0, 3.0]])
    # Also a TypeError, as NumPy and scikit-learn's checks expect.
    with pytest.raises(TypeError):
        GaussianMixture().fit(strings)


def test_dataframe_with_a_string_column_names_the_column():
    frame = pd.DataFrame({"height": [1.0, 2.0, 3.0], "species": ["x", "y", "z"]})
    with raises_with(NonNumericDataError, "numeric columns", "['species']", "select_dtypes"):
        GaussianMixture().fit(frame)


def test_complex_data_are_refused():
    with pytest.raises(ValueError, match=r"[Cc]omplex"):
        GaussianMixture().fit(X + 1j)


def test_predicting_with_the_wrong_number_of_features_is_refused():
    gm = GaussianMixture(random_state=0).fit(X)
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with raises_with(InvalidInputError, "X has 3 features", "expecting 2 features"):
            method(np.zeros((4, 3)))
    with raises_with(InvalidInputError, "must be 2-D", "Reshape your data"):
        gm.predict(np.zeros(2))


# ------------------------------------------------------------- sample weights
def test_negative_sample_weights_are_refused():
    weights = np.ones(20)
    weights[[4, 7]] = -0.5
    with raises_with(
        InvalidInputError, "must be non-negative", "2 negative weights", "-0.5", "row 4", "zero"
    ):
        GaussianMixture().fit(X, sample_weight=weights)


def test_sample_weights_of_the_wrong_length_are_refused():
    with raises_with(InvalidInputError, "sample_weight must have shape (20,)", "got shape (19,)"):
        GaussianMixture().fit(X, sample_weight=np.ones(19))


@pytest.mark.parametrize(
    ("weights", "parts"),
    [
        (np.zeros(20), ["at least one positive", "all zeros"]),
        (np.r_[np.nan, np.ones(19)], ["sample_weight must contain only finite values", "1 NaN"]),
        (np.array(["a"] * 20), ["sample_weight must be numeric"]),
    ],
)
def test_other_bad_sample_weights_are_refused(weights, parts):
    with raises_with(InvalidInputError, *parts):
        GaussianMixture().fit(X, sample_weight=weights)


# ------------------------------------------------------------ hyper-parameters
@pytest.mark.parametrize(
    ("options", "parts"),
    [
        ({"n_components": 0}, ["n_components must be an integer >= 1", "got 0"]),
        ({"n_components": 2.5}, ["n_components must be an integer", "got 2.5"]),
        ({"n_components": "3"}, ["n_components must be an integer", "got '3'"]),
        ({"tol": -1.0}, ["tol must be a finite number >= 0", "got -1.0"]),
        ({"tol": np.nan}, ["tol must be a finite number", "got nan"]),
        ({"reg_covar": -1e-6}, ["reg_covar must be a finite number >= 0", "got -1e-06"]),
        ({"max_iter": -1}, ["max_iter must be an integer >= 0", "got -1"]),
        ({"max_iter": 10.0}, ["max_iter must be an integer", "got 10.0"]),
        ({"n_init": 0}, ["n_init must be an integer >= 1", "got 0"]),
        ({"verbose_interval": 0}, ["verbose_interval must be an integer >= 1", "got 0"]),
        ({"chunk_size": 0}, ["chunk_size must be an integer >= 1", "got 0"]),
        ({"chunk_size": 1.5}, ["chunk_size must be an integer", "got 1.5"]),
        ({"init_params": "kmeans+"}, ["init_params must be one of", "'k-means++'", "'kmeans+'"]),
        ({"covariance_type": "ful"}, ["covariance_type must be one of", "'full'", "got 'ful'"]),
        ({"callback": 3}, ["callback must be callable", "got int"]),
    ],
)
def test_bad_hyper_parameters_are_refused(options, parts):
    with raises_with(InvalidParameterError, *parts):
        GaussianMixture(**options).fit(X)


def test_hyper_parameter_messages_say_how_to_fix():
    with raises_with(InvalidParameterError, "Set tol to a valid value"):
        GaussianMixture(tol=-1.0).fit(X)


# ---------------------------------------------------------------- initial values
@pytest.mark.parametrize(
    ("covariance_type", "options", "parts"),
    [
        ("full", {"weights_init": [1.0]}, ["weights_init must have shape (2,)", "got shape (1,)"]),
        ("full", {"means_init": np.zeros((2, 3))}, ["means_init must have shape (2, 2)", "(2, 3)"]),
        ("full", {"means_init": np.zeros(2)}, ["means_init must have shape (2, 2)", "(2,)"]),
        (
            "full",
            {"precisions_init": np.ones((2, 2))},
            ["precisions_init must have shape (2, 2, 2)", "got shape (2, 2)"],
        ),
        ("tied", {"precisions_init": np.ones(2)}, ["precisions_init must have shape (2, 2)"]),
        ("diag", {"precisions_init": np.ones(2)}, ["precisions_init must have shape (2, 2)"]),
        ("spherical", {"precisions_init": np.ones(3)}, ["precisions_init must have shape (2,)"]),
    ],
)
def test_initial_arrays_of_the_wrong_shape_are_refused(covariance_type, options, parts):
    with raises_with(InvalidParameterError, *parts, "covariance_type"):
        GaussianMixture(n_components=2, covariance_type=covariance_type, **options).fit(X)


def test_weights_init_must_sum_to_one():
    with raises_with(
        InvalidParameterError, "weights_init must sum to one", "0.6", "Divide them by their sum"
    ):
        GaussianMixture(n_components=2, weights_init=[0.3, 0.3]).fit(X)
    with raises_with(InvalidParameterError, "weights_init must lie in [0, 1]", "-0.5"):
        GaussianMixture(n_components=2, weights_init=[1.5, -0.5]).fit(X)


@pytest.mark.parametrize(
    ("covariance_type", "precisions", "parts"),
    [
        (
            "full",
            [np.eye(2), [[1.0, 2.0], [2.0, 1.0]]],
            ["precisions_init must be positive definite", "matrix 1", "eigenvalue -1"],
        ),
        ("tied", [[1.0, 0.5], [0.0, 1.0]], ["precisions_init must be symmetric", "matrix 0"]),
        ("diag", [[1.0, 1.0], [1.0, 0.0]], ["precisions_init must be positive", "minimum of 0"]),
        ("spherical", [1.0, -2.0], ["precisions_init must be positive", "minimum of -2"]),
    ],
)
def test_invalid_precisions_init_are_refused(covariance_type, precisions, parts):
    with raises_with(InvalidParameterError, *parts):
        GaussianMixture(
            n_components=2, covariance_type=covariance_type, precisions_init=np.array(precisions)
        ).fit(X)


def test_non_finite_initial_values_are_refused():
    with raises_with(InvalidParameterError, "means_init must contain only finite values"):
        GaussianMixture(n_components=2, means_init=[[0.0, np.nan], [1.0, 1.0]]).fit(X)


# ------------------------------------------------------------ collapsed components
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_component_on_repeated_points_collapses_with_a_named_error(covariance_type):
    # Two distinct points, two components and no regularisation: each component ends on
    # copies of one point, with zero variance.
    points = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    with raises_with(CollapsedComponentError, "component", "reg_covar", "fewer components") as info:
        GaussianMixture(n_components=2, covariance_type=covariance_type, reg_covar=0.0).fit(points)
    assert isinstance(info.value, ValueError)
    assert info.value.component in (0, 1)
    assert f"component {info.value.component}" in str(info.value)


def test_tied_collapse_names_the_shared_covariance():
    # Collinear data: the pooled scatter is singular.
    line = np.column_stack([np.arange(10.0), 2.0 * np.arange(10.0)])
    with raises_with(CollapsedComponentError, "shared (tied) covariance", "reg_covar"):
        GaussianMixture(n_components=2, covariance_type="tied", reg_covar=0.0).fit(line)


@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_components_started_on_single_points_collapse_with_a_named_error(init_params):
    with raises_with(CollapsedComponentError, "component 0", "n_k = 1", "reg_covar") as info:
        GaussianMixture(n_components=2, init_params=init_params, reg_covar=0.0, random_state=0).fit(
            X
        )
    assert info.value.n_k == pytest.approx(1.0)


def test_component_that_loses_every_point_is_reseeded_with_a_warning():
    # Component 1 starts far from all data and owns no point: with reg_covar=0 its
    # covariance would be exactly zero. The collapse policy re-seeds it on the data and
    # says so, instead of returning NaN or a silent empty component.
    with pytest.warns(CollapsedComponentWarning, match="component"):
        gm = GaussianMixture(
            n_components=2, reg_covar=0.0, means_init=[[0.0, 0.0], [1e3, 1e3]]
        ).fit(X)
    assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.covariances_))
    assert np.all(np.abs(gm.means_) < np.abs(X).max())
    assert np.all(gm.weights_ > 0.01)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_data_whose_variances_overflow_give_a_named_error_not_nan(covariance_type):
    # Data at 1e160 have variances near 1e320, beyond float64: no finite covariance
    # exists, so the fit must say so and how to fix it, not return NaN or inf.
    huge = RNG.normal(size=(50, 2)) * 1e160
    gm = GaussianMixture(n_components=2, covariance_type=covariance_type, random_state=0)
    with raises_with(InvalidInputError, "representable in float64", "Rescale X"):
        gm.fit(huge)
    assert not hasattr(gm, "means_")


def test_collapse_never_leaves_nan_parameters():
    gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    before = gm.means_.copy()
    points = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    gm.set_params(reg_covar=0.0)
    with pytest.raises(CollapsedComponentError):
        gm.fit(points)
    np.testing.assert_array_equal(gm.means_, before)
    assert np.all(np.isfinite(gm.covariances_))


# ------------------------------------------------------------- nothing written
def test_bad_input_leaves_a_fitted_estimator_untouched():
    gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    state = {name: np.copy(value) for name, value in vars(gm).items() if name.endswith("_")}
    bad_inputs = [
        with_value(1, np.nan),
        np.hstack([X, with_value(0, np.nan)[:, :1]]),  # 3 features, one NaN
        np.empty((0, 3)),
    ]
    for bad in bad_inputs:
        with pytest.raises(InvalidInputError):
            gm.fit(bad)
    with pytest.raises(InvalidParameterError):
        gm.set_params(means_init=np.zeros((2, 2))).fit(RNG.normal(size=(5, 3)))
    gm.set_params(means_init=None)
    assert set(state) == {name for name in vars(gm) if name.endswith("_")}
    for name, value in state.items():
        np.testing.assert_array_equal(getattr(gm, name), value, err_msg=name)
    gm.predict(X)


@pytest.mark.parametrize(
    "X",
    [
        np.random.default_rng(0).standard_normal((40, 3)),
        np.asfortranarray(np.random.default_rng(1).standard_normal((40, 3))),
        np.random.default_rng(2).standard_normal((40, 3)).astype(np.float32),
        np.random.default_rng(3).standard_normal((40, 6))[:, ::2],
    ],
    ids=["C", "Fortran", "float32", "strided"],
)
def test_plain_arrays_are_recorded_as_scikit_learns_validation_records_them(X):
    # A fit on a float ndarray skips scikit-learn's validate_data; what the estimator
    # records and the array it fits must be the same as through it.
    from sklearn.utils.validation import validate_data

    from gaussmix.validation import check_data

    ours, reference = GaussianMixture(2), GaussianMixture(2)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    for estimator in (ours, reference):
        check_data(estimator, frame, reset=True)
        assert list(estimator.feature_names_in_) == ["a", "b", "c"]
    checked = check_data(ours, X, reset=True)
    expected = validate_data(reference, X, reset=True, dtype=[np.float64, np.float32])
    assert checked is X
    assert checked.dtype == expected.dtype
    np.testing.assert_array_equal(checked, expected)
    assert ours.n_features_in_ == reference.n_features_in_ == 3
    assert not hasattr(ours, "feature_names_in_") and not hasattr(reference, "feature_names_in_")
    with pytest.raises(InvalidInputError, match="finite"):
        check_data(GaussianMixture(2), np.where(X > 1.5, np.inf, X), reset=True)


# ------------------------------------------------------------ numbers and given precisions
@pytest.mark.parametrize(
    ("value", "integer", "valid"),
    [
        (3, True, True),
        (3, False, True),
        (2.5, False, True),
        (2.5, True, False),
        (np.float32(2.5), False, True),
        (np.int64(3), True, True),
        (np.float64(3.0), True, False),
        (10**400, False, True),  # an int beyond float's range is finite
        (True, True, False),
        (True, False, False),
        (float("nan"), False, False),
        (float("inf"), False, False),
        (np.float64("-inf"), False, False),
        (-1, True, False),
        (-0.5, False, False),
        ("1", False, False),
        (None, False, False),
        (1 + 0j, False, False),
    ],
)
def test_number_checks_accept_real_numbers_and_refuse_the_rest(value, integer, valid):
    from gaussmix.validation import check_number

    if valid:
        check_number("x", value, integer=integer, minimum=0)
    else:
        with raises_with(InvalidParameterError, "x must be", "Set x to a valid value"):
            check_number("x", value, integer=integer, minimum=0)


@pytest.mark.parametrize("seed", range(4))
def test_precisions_init_symmetry_is_judged_as_numpy_isclose_judges_it(seed):
    from gaussmix.covariance.forms import CovarianceForm
    from gaussmix.validation import _check_init_precisions

    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(3, 4, 4))
    precisions = factors @ np.swapaxes(factors, 1, 2) + 4 * np.eye(4)
    decisions = set()
    for scale in (1e-12, 1e-9, 1e-7, 1e-6, 1e-5, 1e-4):
        perturbed = precisions.copy()
        perturbed[1, 0, 3] += scale * max(1.0, abs(perturbed[1, 3, 0]))
        symmetric = np.isclose(perturbed, np.swapaxes(perturbed, 1, 2)).all()
        decisions.add(bool(symmetric))
        if symmetric:
            _check_init_precisions(perturbed, CovarianceForm.FULL)
        else:
            with raises_with(InvalidParameterError, "must be symmetric", "matrix 1"):
                _check_init_precisions(perturbed, CovarianceForm.FULL)
    assert decisions == {True, False}  # both sides of the tolerance were tried
