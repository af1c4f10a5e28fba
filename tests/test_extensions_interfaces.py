"""The extensions through the command line, select_model and the plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from gaussmix import GaussianMixture, select_model
from gaussmix.cli import cli


def noisy_data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack(
        [
            rng.normal([0.0, 0.0], 0.5, size=(80, 2)),
            rng.normal([4.0, 4.0], 0.5, size=(80, 2)),
            rng.uniform(-3.0, 7.0, size=(25, 2)),
        ]
    )


@pytest.fixture
def noisy_csv(tmp_path):
    path = tmp_path / "noisy.csv"
    np.savetxt(path, noisy_data(), delimiter=",", header="a,b", comments="")
    return path


def test_fit_command_takes_the_three_options(noisy_csv, tmp_path):
    model_path = tmp_path / "model.gmm"
    arguments = ["fit", str(noisy_csv), "-k", "2", "-c", "VVV", "--seed", "0"]
    result = CliRunner().invoke(
        cli,
        [
            *arguments,
            "--prior",
            "default",
            "--equal-proportions",
            "--noise",
            "-o",
            str(model_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    model = GaussianMixture.load(model_path)
    assert model.prior == "default" and model.equal_proportions and model.noise
    assert np.allclose(model.weights_, model.weights_[0])
    # The weights of the document are the Gaussians'; with the noise they sum to one.
    assert np.isclose(sum(document["weights"]) + model.noise_proportion_, 1.0)
    assert document["noise_proportion"] == model.noise_proportion_
    assert document["Vinv"] == model.Vinv_
    info = CliRunner().invoke(cli, ["info", str(model_path)])
    assert info.exit_code == 0, info.output
    noise_row = next(line for line in info.output.splitlines() if "noise" in line and "│" in line)
    assert f"{model.noise_proportion_:.4f}" in noise_row
    assert f"Vinv = {model.Vinv_:.4g}" in info.output
    info_json = json.loads(CliRunner().invoke(cli, ["info", str(model_path), "--json"]).output)
    assert info_json["noise_proportion"] == model.noise_proportion_
    predicted = CliRunner().invoke(
        cli,
        ["predict", str(model_path), str(noisy_csv), "--proba", "-o", str(tmp_path / "labels.csv")],
    )
    assert predicted.exit_code == 0, predicted.output
    header = (tmp_path / "labels.csv").read_text().splitlines()[0]
    assert header == "label,proba_0,proba_1,proba_noise"


def test_bad_prior_option_is_refused(noisy_csv):
    result = CliRunner().invoke(cli, ["fit", str(noisy_csv), "--prior", "flat"])
    assert result.exit_code == 2 and "default" in result.output


def test_select_command_with_noise_counts_noise_rows(noisy_csv):
    result = CliRunner().invoke(
        cli, ["select", str(noisy_csv), "-k", "1-3", "--models", "EII,VVV", "--noise", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert len(document["clustering"]) == document["best"]["n_components"] + 1


def test_select_model_with_noise_and_a_mask():
    X = noisy_data(1)
    mask = np.r_[np.zeros(160, dtype=bool), np.ones(25, dtype=bool)]
    selection = select_model(
        X, n_components=[1, 2, 3], covariance_types=["EII", "VVV"], noise=True, noise_init=mask
    )
    table = selection.results_
    for _, row in table.iterrows():
        G = int(row["n_components"])
        covariance = {"EII": 1, "VVV": 3 * G}[row["covariance_type"]]
        assert row["n_parameters"] == covariance + 2 * G + (G - 1) + 2
    assert selection.best_params_["n_components"] == 2
    best = selection.best_estimator_
    assert best.noise and np.isclose(best.weights_.sum() + best.noise_proportion_, 1.0)
    assert np.mean(selection.labels_[160:] == -1) > 0.5


def test_select_model_with_a_prior_marks_the_four_models_without_one():
    X = noisy_data(2)[:160]
    table = select_model(X, n_components=[2], covariance_types="all", prior="default").results_
    refused = table[table["error"].str.contains("prior is defined", regex=False)]
    assert sorted(refused["covariance_type"]) == ["EVE", "EVV", "VEE", "VVE"]
    assert table.loc[~table.index.isin(refused.index), "bic"].notna().all()


def test_plot_clusters_draws_the_noise_points():
    pytest.importorskip("matplotlib")
    from gaussmix import plotting

    X = noisy_data(3)
    model = GaussianMixture(2, noise=True, random_state=0).fit(X)
    n_noise = int(np.count_nonzero(model.predict(X) == -1))
    figure = plotting.plot_clusters(model, X)
    collections = figure.axes[0].collections
    noise = [c for c in collections if c.get_label() == "noise"]
    assert len(noise) == 1 and noise[0].get_offsets().shape[0] == n_noise
    hidden = plotting.plot_clusters(model, X, show_noise=False)
    assert not [c for c in hidden.axes[0].collections if c.get_label() == "noise"]


def test_select_model_reports_the_noise_only_row_without_choosing_it():
    X = noisy_data(4)
    selection = select_model(X, n_components=[0, 1, 2], covariance_types=["EII"], noise=True)
    row = selection.results_[selection.results_["n_components"] == 0].iloc[0]
    from gaussmix.noise import hypervolume

    expected = X.shape[0] * np.log(1.0 / hypervolume(X))
    assert np.isclose(row["log_likelihood"], expected, rtol=1e-12)
    assert row["n_parameters"] == 1
    assert np.isclose(row["bic"], -2 * expected + np.log(X.shape[0]), rtol=1e-12)
    assert selection.best_params_["n_components"] >= 1
