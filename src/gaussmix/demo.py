"""The classic example: EM on Old Faithful after 1, 2, 5 and 20 iterations (Bishop Fig. 9.8)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from gaussmix.datasets import load_old_faithful
from gaussmix.estimator import GaussianMixture
from gaussmix.kernels import log_responsibilities, weighted_log_prob
from gaussmix.parameters import MixtureParameters

__all__ = ["SNAPSHOT_ITERATIONS", "run_demo"]

SNAPSHOT_ITERATIONS = (1, 2, 5, 20)

# A deliberately poor start, as in Bishop's figure: unit covariances, means placed
# across the data's diagonal away from both clusters.
_POOR_MEANS = np.array([[-1.5, 0.5], [1.5, -0.5]])


def _fit_for(X: np.ndarray, n_iterations: int) -> GaussianMixture:
    model = GaussianMixture(
        n_components=2,
        covariance_type="full",
        tol=0.0,
        max_iter=n_iterations,
        weights_init=np.array([0.5, 0.5]),
        means_init=_POOR_MEANS,
        precisions_init=np.stack([np.eye(2), np.eye(2)]),
    )
    # Stopping after a fixed number of iterations is the point here, not a failure.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def run_demo(output: str | Path = "em_progress.png", *, show: bool = True, dpi: int = 100) -> Path:
    """Fit a two-component mixture to standardised Old Faithful data and draw EM's progress.

    Prints the mean log-likelihood at every iteration and the fitted parameters (in
    standardised and original units) and writes a four-panel figure.

    Parameters
    ----------
    output : str or Path, default="em_progress.png"
        Where to write the PNG figure (atomically).
    show : bool, default=True
        Print the log-likelihoods and parameters.
    dpi : int, default=100
        Resolution of the PNG.

    Returns
    -------
    Path
        The absolute path of the figure.
    """
    from gaussmix.plotting import plot_em_progress, save_figure

    dataset = load_old_faithful()
    raw = dataset.data
    centre, scale = raw.mean(axis=0), raw.std(axis=0)
    X = (raw - centre) / scale

    snapshots, log_likelihoods = [], []
    for n_iterations in SNAPSHOT_ITERATIONS:
        model = _fit_for(X, n_iterations)
        parameters = MixtureParameters(
            model.weights_, model.means_, model.covariances_, model.precisions_cholesky_, "full"
        )
        _, log_resp = log_responsibilities(weighted_log_prob(X, parameters))
        snapshots.append((n_iterations, parameters, np.exp(log_resp)))
        log_likelihoods.append(model.log_likelihood_)
    final = model

    if show:
        print("EM on Old Faithful (272 eruptions, standardised), 2 components, full covariances")
        print("iteration  mean log-likelihood")
        for iteration, value in enumerate(final.log_likelihood_history_):
            print(f"{iteration:9d}  {value:.6f}")
        print("\nFitted parameters after 20 iterations (standardised units):")
        for k in range(2):
            print(
                f"  component {k}: weight {final.weights_[k]:.4f}, mean "
                f"{np.array2string(final.means_[k], precision=4)}, covariance "
                f"{np.array2string(final.covariances_[k], precision=4).replace(chr(10), '')}"
            )
        print("In original units (eruptions min, waiting min):")
        for k in range(2):
            mean = final.means_[k] * scale + centre
            covariance = final.covariances_[k] * np.outer(scale, scale)
            print(
                f"  component {k}: mean {np.array2string(mean, precision=3)}, covariance "
                f"{np.array2string(covariance, precision=3).replace(chr(10), '')}"
            )

    figure = plot_em_progress(
        X,
        snapshots,
        feature_names=[f"{name} (standardised)" for name in dataset.feature_names],
        log_likelihoods=log_likelihoods,
    )
    path = Path(output).resolve()
    save_figure(figure, path, dpi=dpi)
    if show:
        print(f"\nFigure written to {path}")
    return path
