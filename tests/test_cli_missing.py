"""--missing em on fit/predict/score and the impute command, in-process (click's runner)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gaussmix import GaussianMixture, GaussianMixtureImputer, load
from gaussmix.cli import cli


@pytest.fixture
def holes_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (80, 3)), rng.normal(4, 1, (80, 3))])
    X[rng.random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    path = tmp_path / "holes.csv"
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(path, index=False)
    return path, X


def _invoke(*arguments):
    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


def test_fit_refuses_empty_cells_unless_missing_em(tmp_path, holes_csv):
    path, X = holes_csv
    refused = _invoke("fit", path, "-k", "2", "-o", tmp_path / "m.gmm", "-q")
    assert refused.exit_code == 2
    assert "--missing em" in refused.output
    done = _invoke(
        "fit", path, "-k", "2", "--missing", "em", "--seed", "0", "-o", tmp_path / "m.gmm", "--json"
    )
    assert done.exit_code == 0, done.output
    model = load(tmp_path / "m.gmm")
    assert model.missing == "em"
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    expected = GaussianMixture(
        2, random_state=0, tol=1e-5, convergence="relative", max_iter=1000, missing="em"
    ).fit(frame)
    np.testing.assert_allclose(model.means_, expected.means_, atol=1e-10)
    # The model file remembers missing="em": predict and score read empty cells.
    predicted = _invoke("predict", tmp_path / "m.gmm", path)
    assert predicted.exit_code == 0, predicted.output
    labels = pd.read_csv(pd.io.common.StringIO(predicted.output))["label"].to_numpy()
    np.testing.assert_array_equal(labels, expected.predict(frame))
    scored = _invoke("score", tmp_path / "m.gmm", path, "--json")
    assert json.loads(scored.output)["mean_log_likelihood"] == pytest.approx(
        expected.score(frame), abs=1e-10
    )
    refused = _invoke("score", tmp_path / "m.gmm", path, "--missing", "error")
    assert refused.exit_code == 2


def test_fit_and_select_name_the_line_with_nothing_observed_and_predict_accepts_it(
    tmp_path, holes_csv
):
    _, X = holes_csv
    empty = X.copy()
    empty[[5, 9]] = np.nan
    path = tmp_path / "empty.csv"
    pd.DataFrame(empty, columns=["a", "b", "c"]).to_csv(path, index=False)
    for command in (["fit", path, "-k", "2"], ["select", path, "-k", "1-2", "--models", "VVV"]):
        refused = _invoke(*command, "--missing", "em", "-q")
        assert refused.exit_code == 2, refused.output
        # Row 5 of the data is line 7 of the file (after the header).
        assert "line 7 of" in refused.output and "2 such lines" in refused.output
    done = _invoke(
        "fit", holes_csv[0], "-k", "2", "--missing", "em", "-o", tmp_path / "m.gmm", "-q"
    )
    assert done.exit_code == 0, done.output
    predicted = _invoke("predict", tmp_path / "m.gmm", path)
    assert predicted.exit_code == 0, predicted.output


def test_impute_writes_the_completed_table(tmp_path, holes_csv):
    path, X = holes_csv
    output = tmp_path / "completed.csv"
    result = _invoke("impute", path, "-k", "2", "--seed", "0", "-o", output, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n_missing"] == int(np.isnan(X).sum())
    completed = pd.read_csv(output)
    assert list(completed.columns) == ["a", "b", "c"]
    expected = GaussianMixtureImputer(2, random_state=0).fit_transform(X)
    np.testing.assert_allclose(completed.to_numpy(), expected, atol=1e-12)


def test_impute_with_a_standardised_model_file(tmp_path, holes_csv):
    path, X = holes_csv
    fitted = _invoke(
        "fit",
        path,
        "-k",
        "2",
        "--missing",
        "em",
        "--standardize",
        "--seed",
        "1",
        "-o",
        tmp_path / "m.gmm",
        "-q",
    )
    assert fitted.exit_code == 0, fitted.output
    output = tmp_path / "completed.csv"
    result = _invoke("impute", path, "--model", tmp_path / "m.gmm", "-o", output, "-q")
    assert result.exit_code == 0, result.output
    completed = pd.read_csv(output).to_numpy()
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(completed[observed], X[observed])
    assert not np.isnan(completed).any()


def test_select_reads_empty_cells_with_missing_em(tmp_path, holes_csv):
    path, X = holes_csv
    refused = _invoke("select", path, "-k", "1-3", "--models", "EII,VVV", "-q")
    assert refused.exit_code == 2
    assert "--missing em" in refused.output
    done = _invoke(
        "select",
        path,
        "-k",
        "1-3",
        "--models",
        "EII,VVV",
        "--missing",
        "em",
        "--json",
        "-o",
        tmp_path / "best.gmm",
    )
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    from gaussmix import select_model

    expected = select_model(
        pd.DataFrame(X, columns=["a", "b", "c"]),
        [1, 2, 3],
        ["EII", "VVV"],
        missing="em",
        random_state=0,
    )
    assert document["best"]["n_components"] == expected.best_params_["n_components"]
    np.testing.assert_allclose(
        [row["bic"] for row in document["results"]], expected.results_["bic"], rtol=1e-9
    )
    model = load(tmp_path / "best.gmm")
    assert model.missing == "em"
    np.testing.assert_array_equal(
        model.predict(pd.DataFrame(X, columns=["a", "b", "c"])), expected.labels_
    )
