"""Missing values on the command line: ``--missing em`` and the ``impute`` command.

``fit``, ``select``, ``predict`` and ``score`` take ``--missing em`` (empty cells, ``NA``, ``NaN``
become missing values; :mod:`gaussmix.missing`); a model file fitted so keeps the
setting, and ``predict``/``score`` then read empty cells without the option. ``impute``
writes DATA with every empty cell filled by its conditional mean (or a draw) under a
mixture: one fitted to DATA (``-k``, ``-c``, ``--seed``) or a model file (``--model``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from gaussmix.files.tables import read_table, write_table

__all__ = ["impute", "missing_option", "nan_standardization", "reads_missing"]


def missing_option(function: Any) -> Any:
    """``--missing {error,em}`` (default: the model file's setting, else ``error``)."""
    return click.option(
        "--missing",
        type=click.Choice(["error", "em"]),
        default=None,
        help="em: empty cells (and NA, NaN) are missing values, fitted by EM on the "
        "observed-data likelihood; error: refuse them (the default, or the model file's).",
    )(function)


def reads_missing(model: Any) -> bool:
    """Whether data for ``model`` may have empty cells (its ``missing`` is ``"em"``)."""
    return getattr(model, "missing", "error") == "em"


def nan_standardization(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations of the observed entries.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)

    Returns
    -------
    (ndarray, ndarray)
        NumPy's mean and std when nothing is missing (the same numbers as before).
    """
    if not np.isnan(values).any():
        return values.mean(axis=0), values.std(axis=0)
    return np.nanmean(values, axis=0), np.nanstd(values, axis=0)


def _completed(
    values: np.ndarray,
    model_path: Path | None,
    n_components: int,
    covariance: str,
    seed: int | None,
    draw: bool,
) -> tuple[np.ndarray, list[str] | None]:
    """DATA completed under a model file's mixture or one fitted here."""
    from gaussmix.imputation import GaussianMixtureImputer
    from gaussmix.io import read_model_file
    from gaussmix.missing import conditional_completion

    if model_path is None:
        imputer = GaussianMixtureImputer(
            n_components, covariance_type=covariance, random_state=seed, sample_posterior=draw
        )
        return imputer.fit_transform(values), None
    stored = read_model_file(model_path)
    model = stored.model
    names = getattr(model, "feature_names_in_", None)
    if values.shape[1] != model.n_features_in_:
        raise click.UsageError(
            f"DATA must have the model's {model.n_features_in_} features; got "
            f"{values.shape[1]} columns. Pass data with the model's columns."
        )
    centre, scale = (0.0, 1.0) if stored.standardization is None else stored.standardization
    draws = np.random.RandomState(seed) if draw else None
    filled = conditional_completion((values - centre) / scale, model._fitted_parameters(), draws)
    # Observed cells are written as read, not through the standardisation and back.
    filled = np.where(np.isnan(values), filled * scale + centre, values)
    return filled, None if names is None else [str(n) for n in names]


@click.command()
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write (default: print to stdout).",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A model file to impute with (default: fit a mixture to DATA).",
)
@click.option(
    "-k",
    "--n-components",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Components of the mixture fitted to DATA.",
)
@click.option(
    "-c",
    "--covariance",
    default="full",
    show_default=True,
    help="Covariance model of the mixture fitted to DATA.",
)
@click.option("--columns", help="Comma-separated columns to use (default: all).")
@click.option(
    "--draw",
    is_flag=True,
    help="Draw each missing block from its conditional distribution (multiple "
    "imputation) instead of filling the conditional mean.",
)
@click.option("--seed", type=int, default=None, help="Seed of the start and the draws.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def impute(
    data: Path,
    output: Path | None,
    model_path: Path | None,
    n_components: int,
    covariance: str,
    columns: str | None,
    draw: bool,
    seed: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Fill the empty cells of DATA with their conditional means under a mixture.

    \f
    Parameters
    ----------
    data : Path
        The data file (empty cells, NA or NaN are missing).
    output : Path or None
        CSV to write; None prints it.
    model_path : Path or None
        A model file; None fits ``GaussianMixtureImputer(n_components, covariance)``.
    n_components, covariance, seed
        The mixture fitted to DATA (and the seed of the draws).
    columns : str or None
        Comma-separated columns to use.
    draw : bool
        ``sample_posterior=True``.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    chosen = None if columns is None else [part.strip() for part in columns.split(",")]
    table = read_table(str(data), chosen, allow_missing=True)
    values = table.values
    holes = int(np.isnan(values).sum())
    filled, names = _completed(values, model_path, n_components, covariance, seed, draw)
    header = names if names is not None and len(names) == filled.shape[1] else table.feature_names
    frame = {name: filled[:, index] for index, name in enumerate(header)}
    if output is None and not as_json:
        import pandas as pd

        click.echo(pd.DataFrame(frame).to_csv(index=False), nl=False)
        return
    if output is not None:
        write_table(output, frame)
    document = {
        "output": None if output is None else str(output),
        "n_samples": int(values.shape[0]),
        "n_missing": holes,
    }
    if as_json:
        click.echo(json.dumps(document))
    elif not quiet:
        click.echo(f"{holes} missing values of {values.shape[0]} rows filled; written to {output}")
