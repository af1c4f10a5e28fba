"""gaussmix classify fit/predict and gaussmix bootstrap, in-process with click's runner,
against the library called directly."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gaussmix
from gaussmix import GaussianMixture, MixtureDiscriminantAnalysis, bootstrap
from gaussmix.cli import cli


@pytest.fixture
def iris_csv(tmp_path):
    source = resources.files("gaussmix").joinpath("data", "iris.csv")
    with resources.as_file(source) as path:
        shutil.copy(path, tmp_path / "iris.csv")
    return tmp_path / "iris.csv"


def _iris():
    frame = pd.read_csv(resources.files("gaussmix") / "data/iris.csv")
    return frame.iloc[:, :4], frame["Species"].to_numpy()


def _invoke(*arguments):
    return CliRunner().invoke(cli, [str(part) for part in arguments])


def test_classify_fit_edda_and_predict_match_the_library(tmp_path, iris_csv):
    model = tmp_path / "iris.gmc"
    fitted = _invoke(
        "classify", "fit", iris_csv, "--label", "Species", "--model-type", "edda",
        "-c", "EEE,VVV,VEV", "-o", model, "--json",
    )  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    document = json.loads(fitted.stdout)
    X, y = _iris()
    direct = MixtureDiscriminantAnalysis(
        model_type="edda", covariance_type=["EEE", "VVV", "VEV"], reg_covar=0.0
    ).fit(X, y)
    assert document["class_models"][0]["covariance_type"] == direct.covariance_type_ == "VEV"
    np.testing.assert_allclose(document["bic"], direct.bic_, rtol=1e-12)
    assert document["classes"] == ["setosa", "versicolor", "virginica"]
    predicted = _invoke(
        "classify", "predict", model, iris_csv, "--label", "Species", "--proba",
        "-o", tmp_path / "p.csv", "--json",
    )  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    summary = json.loads(predicted.stdout)
    np.testing.assert_allclose(summary["accuracy"], np.mean(direct.predict(X) == y))
    table = pd.read_csv(tmp_path / "p.csv")
    assert table["class"].tolist() == direct.predict(X).tolist()
    np.testing.assert_allclose(
        table[["proba_setosa", "proba_versicolor", "proba_virginica"]], direct.predict_proba(X),
        rtol=1e-12, atol=1e-300,
    )  # fmt: skip


def test_classify_fit_mixture_with_priors(tmp_path, iris_csv):
    model = tmp_path / "m.gmc"
    result = _invoke(
        "classify", "fit", iris_csv, "-l", "Species", "-k", "1-2", "-c", "EEE,VVE",
        "--priors", "setosa=0.2,versicolor=0.3,virginica=0.5", "-o", model, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    X, y = _iris()
    direct = MixtureDiscriminantAnalysis(
        n_components=(1, 2), covariance_types=("EEE", "VVE"), priors=[0.2, 0.3, 0.5],
        random_state=0,
    ).fit(X, y)  # fmt: skip
    assert [m["n_components"] for m in document["class_models"]] == [
        e.n_components for e in direct.estimators_
    ]
    assert document["priors"] == [0.2, 0.3, 0.5]
    loaded = MixtureDiscriminantAnalysis.load(model)
    np.testing.assert_allclose(loaded.predict_proba(X), direct.predict_proba(X), rtol=1e-9)
    # Without -o, predictions are printed as CSV.
    printed = _invoke("classify", "predict", model, iris_csv)
    assert printed.exit_code == 0
    assert printed.stdout.splitlines()[1:] == direct.predict(X).tolist()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--label", "Kind"], "has no column 'Kind'"),
        (["--label", "Species", "--priors", "setosa=1"], "one probability per class"),
        (["--label", "Species", "-k", "0-2"], "numbers ≥ 1"),
        (["--label", "Species", "-c", "XYZ", "--model-type", "edda"], "XYZ"),
    ],
)
def test_classify_fit_errors_are_one_line_and_write_nothing(tmp_path, iris_csv, arguments, message):
    output = tmp_path / "c.gmc"
    result = _invoke("classify", "fit", iris_csv, *arguments, "-o", output)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert not output.exists()


def test_classify_predict_refuses_a_mixture_model_and_wrong_columns(tmp_path, iris_csv):
    X, y = _iris()
    mixture = GaussianMixture(2, random_state=0).fit(X.to_numpy()).save(tmp_path / "m.gmm")
    refused = _invoke("classify", "predict", mixture, iris_csv)
    assert refused.exit_code == 2 and "is a mixture model file" in refused.stderr
    MixtureDiscriminantAnalysis(model_type="edda").fit(X.iloc[:, :2], y).save(tmp_path / "c.gmc")
    (tmp_path / "other.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    wrong = _invoke("classify", "predict", tmp_path / "c.gmc", tmp_path / "other.csv")
    assert wrong.exit_code == 2 and wrong.stderr.startswith("Error: ")


def test_bootstrap_table_matches_the_library(tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-3, 1, 40), rng.normal(3, 1, 60)].reshape(-1, 1)
    pd.DataFrame({"x": X[:, 0]}).to_csv(tmp_path / "x.csv", index=False)
    model = GaussianMixture(2, covariance_type="spherical", means_init=[[-3], [3]])
    model.fit(pd.DataFrame({"x": X[:, 0]}))
    gaussmix.save(model, tmp_path / "m.gmm")
    result = _invoke(
        "bootstrap", tmp_path / "m.gmm", tmp_path / "x.csv", "--method", "jackknife",
        "-o", tmp_path / "se.csv", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no warning about column names, no progress with --json
    document = json.loads(result.stdout)
    assert document["n_fitted"] == 100 and document["failures"] == []
    direct = bootstrap(gaussmix.load(tmp_path / "m.gmm"), X, method="jackknife")
    table = pd.read_csv(tmp_path / "se.csv")
    expected = np.r_[
        direct.standard_errors["weights"],
        direct.standard_errors["means"].ravel(),
        direct.standard_errors["covariances"],
    ]
    np.testing.assert_allclose(table["standard_error"], expected, rtol=1e-12)
    assert table["entry"].tolist() == ["0", "1", "0:x", "1:x", "0", "1"]
    printed = _invoke("bootstrap", tmp_path / "m.gmm", tmp_path / "x.csv", "-n", "5", "-q")
    assert printed.exit_code == 0 and printed.stdout == ""


def test_bootstrap_of_a_classifier_file_is_an_error(tmp_path, iris_csv):
    X, y = _iris()
    MixtureDiscriminantAnalysis(model_type="edda").fit(X, y).save(tmp_path / "c.gmc")
    result = _invoke("bootstrap", tmp_path / "c.gmc", iris_csv)
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")


def test_help_lists_every_option():
    for path in (["classify", "fit"], ["classify", "predict"], ["bootstrap"]):
        text = _invoke(*path, "--help")
        assert text.exit_code == 0, text.output
        command = cli
        for name in path:
            command = command.commands[name]
        for parameter in command.params:
            for option in parameter.opts:
                if option.startswith("-"):
                    assert option in text.stdout, (path, option)
