"""Draw the figures of the README tour into docs/images/ (small PNGs, committed).

Run from the repository root: ``python docs/make_figures.py``. Uses only bundled data
(Old Faithful from gaussmix, iris from scikit-learn), fixed seeds, 80 dpi.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris

from gaussmix import GaussianMixture, plotting, select_model
from gaussmix.datasets import load_old_faithful
from gaussmix.demo import run_demo

IMAGES = Path(__file__).resolve().parent / "images"


def main() -> None:
    """Write every figure of the tour."""
    IMAGES.mkdir(exist_ok=True)
    faithful = load_old_faithful(as_frame=True).frame
    model = GaussianMixture(2, random_state=0).fit(faithful)
    figures = {
        "clusters.png": plotting.plot_clusters(model, faithful),
        "density.png": plotting.plot_density(model, faithful),
        "uncertainty.png": plotting.plot_uncertainty(
            GaussianMixture(3, random_state=0).fit(faithful), faithful
        ),
        "log_likelihood.png": plotting.plot_log_likelihood(
            GaussianMixture(2, init_params="random", random_state=3, tol=1e-6).fit(faithful)
        ),
        "histogram.png": plotting.plot_histogram(
            GaussianMixture(2, random_state=0).fit(faithful[["eruptions"]]),
            faithful[["eruptions"]],
        ),
        # mclust's BIC curves: the 14 models for G = 1…9 (Old Faithful selects EEE, G = 3);
        # ModelSelection.plot is plotting.plot_bic with the selection's best fit starred.
        "bic.png": select_model(faithful, range(1, 10), "all").plot(),
    }
    iris = load_iris(as_frame=True).data
    iris.columns = ["sepal length", "sepal width", "petal length", "petal width"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures["scatter_matrix.png"] = plotting.plot_scatter_matrix(
            GaussianMixture(3, random_state=0, n_init=3).fit(iris), iris
        )
    # A noise component: Old Faithful with 40 uniform background rows over its box.
    rng = np.random.default_rng(0)
    values = faithful.to_numpy()
    background = rng.uniform(values.min(axis=0), values.max(axis=0), size=(40, 2))
    noisy = pd.DataFrame(np.vstack([values, background]), columns=faithful.columns)
    figures["noise.png"] = plotting.plot_clusters(
        GaussianMixture(2, noise=True, random_state=0).fit(noisy), noisy
    )
    for name, figure in figures.items():
        # 80 dpi keeps every PNG under 150 KB and is still sharp in a README.
        plotting.save_figure(figure, IMAGES / name, dpi=65 if name == "scatter_matrix.png" else 80)
    run_demo(IMAGES / "em_progress.png", show=False, dpi=70)
    for path in sorted(IMAGES.glob("*.png")):
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
