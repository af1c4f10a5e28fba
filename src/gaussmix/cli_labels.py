"""The commands with labels: ``gaussmix classify fit|predict`` and ``gaussmix bootstrap``.

They follow the conventions of :mod:`gaussmix.cli` (which registers them): every command
takes ``--json`` (one JSON document on stdout) and ``--quiet``; a user error is one
``Error: …`` line on stderr with exit status 2 (the group turns library errors into it);
a warning is one ``warning: …`` line; outputs are written atomically. This module does
not import :mod:`gaussmix.cli`, so imports point down; scikit-learn and pandas load
inside the commands.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from gaussmix.exceptions import InvalidParameterError

__all__ = ["bootstrap_command", "classify"]


# ----------------------------------------------------------------- conventions
def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextlib.contextmanager
def _warnings_as_lines(quiet: bool) -> Iterator[None]:
    def show(message: Any, *where: Any, **_: Any) -> None:
        if not quiet:
            click.echo(f"warning: {_one_line(str(message))}", err=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _finite(value: Any) -> Any:
    """JSON-safe values: arrays as lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _common(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``, ``--quiet``, ``--header/--no-header`` and ``--index-col``."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _warnings_as_lines(bool(kwargs.get("quiet"))):
            return function(*args, **kwargs)

    run = click.option(
        "--index-col", metavar="COLUMN", help="A column of DATA that is a row index."
    )(run)
    run = click.option(
        "--header/--no-header", default=None, help="Whether text DATA starts with column names."
    )(run)
    run = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")(run)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(run)


def _report(as_json: bool, quiet: bool, document: dict[str, Any], text: Callable[[], str]) -> None:
    if as_json:
        click.echo(json.dumps(_finite(document), allow_nan=False))
    elif not quiet:
        click.echo(text())


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _counts(text: str) -> list[int]:
    """``1-5``, ``1,2,4`` or a mix, as numbers of components."""
    counts: list[int] = []
    for part in _split(text) or []:
        low, _, high = part.partition("-")
        try:
            values = range(int(low), int(high or low) + 1)
        except ValueError:
            raise InvalidParameterError(
                f"--n-components takes numbers and ranges such as 1-5 or 1,2,4; got {text!r}."
            ) from None
        counts.extend(values)
    if not counts or min(counts) < 1:
        raise InvalidParameterError(f"--n-components needs numbers ≥ 1; got {text!r}.")
    return counts


def _priors(text: str | None, classes: np.ndarray) -> np.ndarray | None:
    """``--priors a=0.2,b=0.8`` in the order of the classes."""
    if text is None:
        return None
    given: dict[str, float] = {}
    for part in _split(text) or []:
        name, _, value = part.rpartition("=")
        try:
            given[name.strip()] = float(value)
        except ValueError:
            raise InvalidParameterError(
                f"--priors takes CLASS=PROBABILITY pairs such as a=0.3,b=0.7; got {part!r}."
            ) from None
    names = [str(label) for label in classes]
    if sorted(given) != sorted(names):
        raise InvalidParameterError(
            f"--priors must give one probability per class {names}; got classes {sorted(given)}."
        )
    return np.array([given[name] for name in names])


def _as_frame(values: np.ndarray, names: list[str] | None, named: bool) -> Any:
    if not named or names is None:
        return values
    import pandas as pd

    return pd.DataFrame(values, columns=names)


# ------------------------------------------------------------------- classify
@click.group()
def classify() -> None:
    """Classify with one Gaussian mixture per class (mclust's MclustDA and EDDA)."""


@classify.command("fit")
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--label", "-l", required=True, help="The column of DATA holding the classes.")
@click.option(
    "--model-type",
    type=click.Choice(["mixture", "edda"]),
    default="mixture",
    show_default=True,
    help="mixture: a mixture per class (MclustDA); edda: one Gaussian per class, one "
    "covariance model for all (EEE is LDA, VVV QDA).",
)
@click.option(
    "-c",
    "--covariance",
    default=None,
    help="Covariance models to choose from, comma-separated (default: all 14 mclust models).",
)
@click.option(
    "-k",
    "--n-components",
    default="1-5",
    show_default=True,
    help="mixture: numbers of components tried for every class.",
)
@click.option(
    "--priors", help="Prior class probabilities, e.g. a=0.3,b=0.7 (default: frequencies)."
)
@click.option("--columns", help="Comma-separated feature columns (default: all but the label).")
@click.option("--reg-covar", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of random starts.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="classifier.gmc",
    show_default=True,
    help="Classifier file to write.",
)
@_common
def classify_fit(
    data: Path,
    label: str,
    model_type: str,
    covariance: str | None,
    n_components: str,
    priors: str | None,
    columns: str | None,
    reg_covar: float,
    seed: int,
    output: Path,
    header: bool | None,
    index_col: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Fit a classifier to the labelled rows of DATA and write it to a classifier file.

    \f
    Parameters
    ----------
    data : Path
        CSV (or other text, or Parquet) with a label column.
    label, model_type, covariance, n_components, priors, columns, reg_covar, seed
        What to fit (see ``MixtureDiscriminantAnalysis``).
    output : Path
        The classifier file.
    header, index_col, as_json, quiet
        How DATA is read; what is printed.
    """
    from gaussmix.discriminant import MixtureDiscriminantAnalysis
    from gaussmix.files.labelled_tables import read_labelled_table

    if not output.parent.is_dir():
        raise InvalidParameterError(
            f"the output folder must exist; {str(output.parent)!r} does not. Create it first."
        )
    table, labels = read_labelled_table(
        str(data), label, _split(columns), header=header, index_col=index_col
    )
    models = _split(covariance)
    classes = np.unique(labels)
    settings: dict[str, Any] = {
        "model_type": model_type,
        "priors": _priors(priors, classes),
        "reg_covar": reg_covar,
        "random_state": seed,
    }
    if model_type == "edda":
        settings["covariance_type"] = models or "auto"
    else:
        settings["n_components"] = tuple(_counts(n_components))
        settings["covariance_types"] = models or "all"
    classifier = MixtureDiscriminantAnalysis(**settings)
    classifier.fit(_as_frame(table.values, table.feature_names, table.named), labels)
    classifier.save(output)
    accuracy = float(
        np.mean(
            classifier.predict(_as_frame(table.values, table.feature_names, table.named)) == labels
        )
    )
    document = _classifier_document(classifier, output, accuracy)
    _report(as_json, quiet, document, lambda: _classifier_text(document))


def _classifier_document(classifier: Any, output: Path, accuracy: float) -> dict[str, Any]:
    if classifier.model_type == "edda":
        models = [
            {"class": label, "covariance_type": classifier.covariance_type_, "n_components": 1}
            for label in classifier.classes_.tolist()
        ]
    else:
        models = [
            {
                "class": label,
                "covariance_type": estimator.covariance_type,
                "n_components": estimator.n_components,
            }
            for label, estimator in zip(
                classifier.classes_.tolist(), classifier.estimators_, strict=True
            )
        ]
    return {
        "output": str(output),
        "model_type": classifier.model_type,
        "classes": classifier.classes_.tolist(),
        "priors": classifier.priors_.tolist(),
        "class_models": models,
        "log_likelihood": classifier.log_likelihood_,
        "n_parameters": classifier.n_parameters_,
        "bic": classifier.bic_,
        "training_accuracy": accuracy,
    }


def _classifier_text(document: dict[str, Any]) -> str:
    lines = [f"{document['model_type']} classifier written to {document['output']}"]
    for model in document["class_models"]:
        lines.append(
            f"  class {model['class']}: {model['covariance_type']}, "
            f"{model['n_components']} component(s)"
        )
    lines.append(
        f"log-likelihood {document['log_likelihood']:.6g}, {document['n_parameters']} "
        f"parameters, BIC {document['bic']:.6g}, training accuracy "
        f"{document['training_accuracy']:.4f}"
    )
    return "\n".join(lines)


@classify.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="CSV to write."
)
@click.option("--proba", is_flag=True, help="Also write each class's posterior probability.")
@click.option("--label", "-l", help="A column of true classes in DATA: report the accuracy.")
@_common
def classify_predict(
    model_path: Path,
    data: Path,
    output: Path | None,
    proba: bool,
    label: str | None,
    header: bool | None,
    index_col: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Predict the class of every row of DATA with a classifier file.

    \f
    Parameters
    ----------
    model_path, data : Path
        The classifier file and the data.
    output : Path or None
        CSV of the predictions; None prints it (or only the summary with --json).
    proba : bool
        Add the posterior probabilities ``proba_<class>``.
    label : str or None
        A column of true classes, left out of the features; the accuracy is reported.
    header, index_col, as_json, quiet
        How DATA is read; what is printed.
    """
    from gaussmix.discriminant import MixtureDiscriminantAnalysis
    from gaussmix.files.labelled_tables import read_labelled_table
    from gaussmix.files.tables import read_table, write_table

    classifier = MixtureDiscriminantAnalysis.load(model_path)
    names = getattr(classifier, "feature_names_in_", None)
    names = None if names is None else [str(name) for name in names]
    truth = None
    if label is not None:
        table, truth = read_labelled_table(
            str(data), label, names, header=header, index_col=index_col
        )
    else:
        table = read_table(str(data), header=header, index_col=index_col, columns_if_named=names)
    if table.values.shape[1] != classifier.n_features_in_:
        raise InvalidParameterError(
            f"the data must have the classifier's {classifier.n_features_in_} features; "
            f"{str(data)!r} has {table.values.shape[1]} ({', '.join(table.feature_names)})."
        )
    X = _as_frame(table.values, names, names is not None)
    predicted = classifier.predict(X)
    columns: dict[str, np.ndarray] = {"class": predicted}
    if proba:
        for index, name in enumerate(classifier.classes_.tolist()):
            columns[f"proba_{name}"] = classifier.predict_proba(X)[:, index]
    if output is None and not as_json:
        import pandas as pd

        click.echo(pd.DataFrame(columns).to_csv(index=False), nl=False)
        return
    if output is not None:
        write_table(output, columns)
    counts = {str(name): int(np.sum(predicted == name)) for name in classifier.classes_}
    accuracy = None if truth is None else float(np.mean(predicted.astype(str) == truth.astype(str)))
    document = {
        "output": None if output is None else str(output),
        "n_samples": len(predicted),
        "counts": counts,
        "accuracy": accuracy,
    }
    _report(
        as_json,
        quiet,
        document,
        lambda: (
            f"{len(predicted)} rows classified (per class: {counts})"
            + ("" if accuracy is None else f", accuracy {accuracy:.4f}")
            + f"; written to {output}"
        ),
    )


# ------------------------------------------------------------------ bootstrap
@click.command("bootstrap")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "-n",
    "--n-bootstrap",
    type=click.IntRange(min=2),
    default=999,
    show_default=True,
    help="Replicates (the jackknife makes one per row and ignores it).",
)
@click.option(
    "--method",
    type=click.Choice(["nonparametric", "parametric", "jackknife"]),
    default="nonparametric",
    show_default=True,
)
@click.option(
    "--level",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Coverage of the intervals.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resamples.")
@click.option("--n-jobs", type=int, default=None, help="Parallel refits (worker processes).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="CSV of the table."
)
@_common
def bootstrap_command(
    model_path: Path,
    data: Path,
    n_bootstrap: int,
    method: str,
    level: float,
    seed: int,
    n_jobs: int | None,
    output: Path | None,
    header: bool | None,
    index_col: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Standard errors and intervals of a fitted model's parameters, refitted to DATA.

    DATA must be the data the model was fitted on. Values are in the model's units (the
    standardised ones for a model fitted with --standardize).

    \f
    Parameters
    ----------
    model_path, data : Path
        The model file (``gaussmix fit``) and its training data.
    n_bootstrap, method, level, seed, n_jobs
        As :func:`gaussmix.bootstrap`.
    output : Path or None
        CSV of the table; None prints it.
    header, index_col, as_json, quiet
        How DATA is read; what is printed.
    """
    from gaussmix.files.tables import read_table, write_table
    from gaussmix.io import read_model_file
    from gaussmix.uncertainty import bootstrap

    stored = read_model_file(model_path)
    model = stored.model
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(name) for name in names]
    table = read_table(str(data), header=header, index_col=index_col, columns_if_named=names)
    values = table.values
    if values.shape[1] != model.n_features_in_:
        raise InvalidParameterError(
            f"the data must have the model's {model.n_features_in_} features; {str(data)!r} "
            f"has {values.shape[1]}. Pass the data the model was fitted on."
        )
    if stored.standardization is not None:
        centre, scale = stored.standardization
        values = (values - centre) / scale
    with _progress(quiet or as_json, method, n_bootstrap, len(values)) as advance:
        result = bootstrap(
            model,
            _as_frame(values, names, names is not None),
            None if method == "jackknife" else n_bootstrap,
            method,  # type: ignore[arg-type]
            level=level,
            random_state=seed,
            n_jobs=n_jobs,
            callback=advance,
        )
    rows = _standard_error_rows(result, table.feature_names, _shared_covariance(model))
    if output is not None:
        write_table(output, {key: np.array([row[key] for row in rows]) for key in rows[0]})
    document = {
        "output": None if output is None else str(output),
        "method": result.method,
        "level": result.level,
        "n_replicates": result.n_replicates,
        "n_fitted": result.n_fitted,
        "failures": [{"replicate": f.replicate, "error": f.error} for f in result.failures],
        "relabelled": list(result.relabelled),
        "standardized": stored.standardization is not None,
        "table": rows,
    }
    _report(as_json, quiet, document, lambda: _bootstrap_text(document, output))


@contextlib.contextmanager
def _progress(silent: bool, method: str, n_bootstrap: int, n_rows: int) -> Iterator[Any]:
    """A progress bar on stderr (none when silent); yields the bootstrap callback."""
    if silent:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    total = n_rows if method == "jackknife" else n_bootstrap
    with Progress(
        "refits",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("refits", total=total)
        yield lambda done, _total: progress.update(task, completed=done)


def _shared_covariance(model: Any) -> bool:
    from gaussmix.covariance import get_covariance_model
    from gaussmix.covariance.attributes import public_form

    name = model.covariance_type
    return public_form(name, get_covariance_model(name)) == "tied"


def _standard_error_rows(result: Any, features: list[str], shared: bool) -> list[dict[str, Any]]:
    """One row per parameter entry: name, component, index, estimate, SE, interval."""
    rows: list[dict[str, Any]] = []
    for name in ("weights", "means", "covariances"):
        estimate = result.estimates[name]
        se = result.standard_errors[name]
        low, high = result.intervals[name]
        for index in np.ndindex(estimate.shape):
            rows.append(
                {
                    "parameter": name,
                    "entry": _entry(name, index, shared, features),
                    "estimate": float(estimate[index]),
                    "standard_error": float(se[index]),
                    "lower": float(low[index]),
                    "upper": float(high[index]),
                }
            )
    return rows


def _entry(name: str, index: tuple[int, ...], shared: bool, features: list[str]) -> str:
    """``k`` for a weight, ``k:feature`` for a mean, ``k:f1,f2`` for a covariance entry
    (``f1,f2`` for the one shared matrix of a tied model)."""
    if name == "weights":
        return str(index[0])
    if name == "covariances" and shared:
        return ",".join(features[i] for i in index)
    rest = ",".join(features[i] for i in index[1:])
    return f"{index[0]}:{rest}" if rest else str(index[0])


def _bootstrap_text(document: dict[str, Any], output: Path | None) -> str:
    lines = [
        f"{document['method']} bootstrap: {document['n_fitted']} of "
        f"{document['n_replicates']} refits; {int(document['level'] * 100)} % intervals"
        + (" (standardized units)" if document["standardized"] else "")
    ]
    if document["failures"]:
        lines.append(
            f"failed refits: {len(document['failures'])} (first: "
            f"{document['failures'][0]['error']})"
        )
    if output is not None:
        lines.append(f"table written to {output}")
        return "\n".join(lines)
    lines.append(
        f"{'parameter':<12}{'entry':<24}{'estimate':>12}{'SE':>12}{'lower':>12}{'upper':>12}"
    )
    for row in document["table"]:
        lines.append(
            f"{row['parameter']:<12}{row['entry']:<24}{row['estimate']:>12.5g}"
            f"{row['standard_error']:>12.5g}{row['lower']:>12.5g}{row['upper']:>12.5g}"
        )
    return "\n".join(lines)
