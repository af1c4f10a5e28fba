"""The ``gaussmix`` command: fit, select, predict, score, sample, info, plot and demo.

Built on click (arguments, help, exit codes) and rich (progress and tables); both come
with the extra ``cli``. Every command takes ``--json`` (one JSON document on stdout) and
``--quiet``. A user error (missing or unreadable file, bad value, wrong columns for the
model) prints one ``Error: …`` line on stderr and exits with status 2; Ctrl-C during
``fit`` writes the model reached so far, flagged not converged, and during ``select`` keeps
the best of the finished fits; both then exit with 130.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable
from sklearn.exceptions import ConvergenceWarning

from gaussmix import __version__
from gaussmix.cli_datasets import (
    LazyTable,
    is_lazy_source,
    read_lazy_table,
    scheduler,
    standardize_lazily,
    write_lazy_columns,
)
from gaussmix.covariance import MCLUST_MODELS, available_covariance_types, get_covariance_model
from gaussmix.em import IterationInfo
from gaussmix.estimator import GaussianMixture
from gaussmix.exceptions import DataFileError, InvalidParameterError
from gaussmix.io import ModelFile, read_model_file, save
from gaussmix.selection import SelectionProgress
from gaussmix.tables import Table, read_table, write_table

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER_ERROR", "cli", "main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, the shell's convention for a command stopped by Ctrl-C."""

_SKLEARN_MODELS = ("spherical", "diag", "tied", "full")


class UserError(click.ClickException):
    """A mistake of the caller: reported as one line on stderr, exit status 2."""

    exit_code = EXIT_USER_ERROR


class _Commands(click.Group):
    """The command group; turns the library's input errors into :class:`UserError`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        # gaussmix raises ValueError subclasses for bad input (their messages say what
        # must hold and how to fix it); OSError covers unwritable outputs; ImportError a
        # missing optional extra.
        except (ValueError, OSError, ImportError) as error:
            raise UserError(str(error)) from None


@dataclass(frozen=True)
class _Output:
    """Where and how a command reports: JSON on stdout, rich text, or nothing."""

    as_json: bool
    quiet: bool

    @property
    def console(self) -> Console:
        return Console(highlight=False)

    @property
    def messages(self) -> Console:
        return Console(stderr=True, highlight=False, quiet=self.quiet or self.as_json)

    def report(self, document: dict[str, Any], render: Callable[[Console], None]) -> None:
        if self.as_json:
            text = json.dumps(_strict_json(document), allow_nan=False, default=_json_default)
            click.echo(text)
        elif not self.quiet:
            render(self.console)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def _output_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")(
        function
    )
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
    )(function)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None: strict JSON has no NaN or inf."""
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(item) for item in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------ data
def _standardization(table: Table) -> tuple[np.ndarray, np.ndarray]:
    centre = table.values.mean(axis=0)
    scale = table.values.std(axis=0)
    constant = [name for name, value in zip(table.feature_names, scale, strict=True) if value == 0]
    if constant:
        raise DataFileError(
            f"--standardize needs columns that vary; {constant} are constant. Drop them with "
            "--columns."
        )
    return centre, scale


def _as_model_input(values: np.ndarray, names: list[str] | None) -> Any:
    """The rows as the estimator should see them: a DataFrame when features have names."""
    if names is None:
        return values
    import pandas as pd

    return pd.DataFrame(values, columns=names)


def _model_names(model: GaussianMixture) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _data_for_model(path: Path, stored: ModelFile) -> tuple[Any, np.ndarray]:
    """Read DATA in the model's columns and units; returns (model input, raw values)."""
    model = stored.model
    names = _model_names(model)
    named_file = path.suffix.lower() != ".npy"
    table = read_table(path, names if (names and named_file) else None)
    expected = int(model.n_features_in_)
    if table.values.shape[1] != expected:
        described = f" ({', '.join(names)})" if names else ""
        raise DataFileError(
            f"the data must have the model's {expected} features{described}; "
            f"{str(path)!r} has {table.values.shape[1]} columns ({', '.join(table.feature_names)})."
            " Pass data with the model's columns."
        )
    values = table.values
    if stored.standardization is not None:
        centre, scale = stored.standardization
        values = (values - centre) / scale
    return _as_model_input(values, names), table.values


# ------------------------------------------------------------------- progress
class _FitProgress:
    """A rich progress bar per EM start: iteration, mean log-likelihood, change, elapsed."""

    def __init__(self, console: Console, max_iter: int, enabled: bool):
        self.max_iter = max(max_iter, 1)
        self.progress = Progress(
            TextColumn("start {task.fields[run]}"),
            BarColumn(bar_width=16),
            TextColumn("iteration {task.completed:>5.0f}"),
            TextColumn("mean log-lik {task.fields[log_likelihood]:>12}"),
            TextColumn("change {task.fields[change]:>9}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.tasks: dict[int, Any] = {}

    def __enter__(self) -> _FitProgress:
        self.progress.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self.progress.stop()

    def __call__(self, info: IterationInfo) -> None:
        if info.init not in self.tasks:
            self.tasks[info.init] = self.progress.add_task(
                "fit", total=self.max_iter, run=info.init + 1, log_likelihood="", change=""
            )
        change = "" if math.isinf(info.change) else f"{info.change:.2e}"
        self.progress.update(
            self.tasks[info.init],
            completed=info.iteration,
            log_likelihood=f"{info.log_likelihood:.6f}",
            change=change,
        )


def _summary_table(
    model: GaussianMixture, feature_names: list[str], means: np.ndarray
) -> RichTable:
    table = RichTable(title="Components (means in the data's units)")
    table.add_column("component", justify="right")
    table.add_column("weight", justify="right")
    for name in feature_names:
        table.add_column(f"mean {name}", justify="right")
    for component, weight in enumerate(model.weights_):
        table.add_row(
            str(component), f"{weight:.4f}", *(f"{value:.4g}" for value in means[component])
        )
    return table


def _original_means(stored_means: np.ndarray, standardization: Any) -> np.ndarray:
    if standardization is None:
        return np.asarray(stored_means)
    centre, scale = standardization
    return np.asarray(stored_means) * scale + centre


# ------------------------------------------------------------------- commands
@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gaussmix")
def cli() -> None:
    """Gaussian mixture models fitted by EM: fit, choose, use and draw them.

    \f
    The command group; see the sub-commands.
    """


def _dask_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--scheduler",
        "scheduler_address",
        metavar="ADDRESS",
        help="Compute through a distributed.Client: a scheduler address (tcp://host:8786) "
        "or 'local' for a LocalCluster; implies --dask. Default: Dask's threads.",
    )(function)
    return click.option(
        "--dask",
        "lazy",
        is_flag=True,
        help="Read Parquet lazily through Dask (directories and Zarr stores always are).",
    )(function)


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "-k",
    "--n-components",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Number of components.",
)
@click.option(
    "-c",
    "--covariance",
    default="full",
    show_default=True,
    type=click.Choice(available_covariance_types()),
    help="Covariance model.",
)
@click.option("--columns", help="Comma-separated columns to use (default: all).")
@click.option("--standardize", is_flag=True, help="Fit on (x − mean) / std; stored in the file.")
@click.option(
    "--n-init",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Starts; the best is kept.",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="EM iterations per start.",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="Stop when the mean log-likelihood changes less.",
)
@click.option("--seed", type=int, default=None, help="Seed of the initialisation.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="model.gmm",
    show_default=True,
    help="Model file to write.",
)
@_dask_options
@_output_options
def fit(
    data: Path,
    n_components: int,
    covariance: str,
    columns: str | None,
    standardize: bool,
    n_init: int,
    max_iter: int,
    tol: float,
    seed: int | None,
    output: Path,
    lazy: bool,
    scheduler_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Fit a mixture to DATA (CSV/TSV with a header, Parquet, .npy or a Zarr store) and save it.

    Parquet datasets (directories) and Zarr stores are read lazily through Dask.

    \f
    Parameters
    ----------
    data : Path
        The data file.
    n_components, covariance, n_init, max_iter, tol, seed
        GaussianMixture's ``n_components``, ``covariance_type``, ``n_init``, ``max_iter``,
        ``tol`` and ``random_state``.
    columns : str or None
        Comma-separated columns to use.
    standardize : bool
        Fit on ``(x − mean) / std``; the two vectors are stored in the model file.
    output : Path
        The model file to write.
    lazy, scheduler_address
        Read DATA through Dask; where Dask computes (see ``gaussmix.cli_datasets``).
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    out = _Output(as_json, quiet)
    standardization: tuple[np.ndarray, np.ndarray] | None = None
    with scheduler(scheduler_address):
        if is_lazy_source(data, lazy or scheduler_address is not None):
            table: Any = read_lazy_table(data, _split(columns))
            if standardize:
                table, standardization = standardize_lazily(table)
            X = table.data
        else:
            table = read_table(data, _split(columns))
            standardization = _standardization(table) if standardize else None
            values = table.values
            if standardization is not None:
                values = (values - standardization[0]) / standardization[1]
            X = _as_model_input(values, table.feature_names if table.named else None)
        _fit_and_report(
            out,
            data,
            X,
            table,
            standardization,
            output,
            n_components=n_components,
            covariance=covariance,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            seed=seed,
            quiet=quiet,
            as_json=as_json,
        )


def _n_rows(X: Any) -> int:
    """Rows of an in-memory table or of a Dask collection (a dataframe's length is computed)."""
    rows = X.shape[0]
    return int(rows) if isinstance(rows, (int, np.integer)) else len(X)


def _fit_and_report(
    out: _Output,
    data: Path,
    X: Any,
    table: Any,
    standardization: tuple[np.ndarray, np.ndarray] | None,
    output: Path,
    *,
    n_components: int,
    covariance: str,
    n_init: int,
    max_iter: int,
    tol: float,
    seed: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Fit, save and report: the body of ``gaussmix fit`` for in-memory and lazy data."""
    standardize = standardization is not None
    if not output.parent.is_dir():
        raise DataFileError(
            f"the folder of --output must exist; got {str(output)!r}. Create the folder first."
        )
    progress = _FitProgress(out.messages, max_iter, enabled=not (quiet or as_json))
    model = GaussianMixture(
        n_components,
        covariance_type=covariance,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        random_state=seed,
        callback=progress,
    )
    n_features = len(table.feature_names)
    rows = "lazily read rows" if isinstance(table, LazyTable) else f"{X.shape[0]} rows"
    out.messages.print(
        f"Fitting {n_components} {covariance} components to {rows} × {n_features} features "
        f"of {data} …"
    )
    interrupted = False
    try:
        with progress, warnings.catch_warnings():
            # Not converging is reported in the summary, not as a Python warning.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
    except KeyboardInterrupt:
        interrupted = True
    model.callback = None
    if interrupted and not hasattr(model, "weights_"):
        click.echo("Interrupted before the first EM iteration ended; nothing written.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    save(model, output, standardization=standardization)
    means = _original_means(model.means_, standardization)
    document = {
        "model": str(output),
        "interrupted": interrupted,
        "n_samples": _n_rows(X),
        "n_features": n_features,
        "feature_names": table.feature_names,
        "n_components": n_components,
        "covariance_type": covariance,
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "log_likelihood": float(model.log_likelihood_),
        "bic": float(model.bic(X)),
        "aic": float(model.aic(X)),
        "weights": model.weights_.tolist(),
        "means": means.tolist(),
    }
    if interrupted:
        click.echo(
            f"Interrupted after {model.n_iter_} iterations: wrote the current model, flagged "
            f"not converged, to {output}.",
            err=True,
        )
        if as_json:
            out.report(document, lambda console: None)
        sys.exit(EXIT_INTERRUPTED)

    def render(console: Console) -> None:
        console.print(_summary_table(model, table.feature_names, means))
        state = "converged" if model.converged_ else "did NOT converge (raise --max-iter)"
        console.print(
            f"{state} after {model.n_iter_} iterations; mean log-likelihood "
            f"{model.log_likelihood_:.6f}; BIC {document['bic']:.2f}"
            + (" (standardised units)" if standardize else "")
        )
        console.print(f"Model written to {output}")

    out.report(document, render)


def _parse_k(text: str) -> list[int]:
    values: list[int] = []
    for part in _split(text) or []:
        low, dash, high = part.partition("-")
        try:
            bounds = (int(low), int(high)) if dash else (int(low), int(low))
        except ValueError:
            raise InvalidParameterError(
                f"-k/--n-components must be numbers or ranges like 1-9 or 1,2,5; got {text!r}."
            ) from None
        if bounds[0] < 1 or bounds[1] < bounds[0]:
            raise InvalidParameterError(
                f"-k/--n-components ranges must be increasing and start at 1 or more; got "
                f"{part!r}."
            )
        values.extend(range(bounds[0], bounds[1] + 1))
    if not values:
        raise InvalidParameterError(
            f"-k/--n-components must name at least one number; got {text!r}."
        )
    return sorted(set(values))


def _parse_models(text: str) -> list[str]:
    if text == "all":
        return list(MCLUST_MODELS)
    if text == "sklearn":
        return list(_SKLEARN_MODELS)
    models = _split(text) or []
    for name in models:
        get_covariance_model(name)
    if not models:
        raise InvalidParameterError(f"--models must name at least one model; got {text!r}.")
    return models


class _SelectProgress:
    """A rich progress bar over the fits of ``select``: fits done / total, the best so far."""

    def __init__(self, console: Console, n_fits: int, criterion: str, enabled: bool):
        self.criterion = criterion.upper()
        self.n_fits = n_fits
        self.progress = Progress(
            TextColumn("fits"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("best: {task.fields[best]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> _SelectProgress:
        self.progress.start()
        self.task = self.progress.add_task("select", total=self.n_fits, best="—")
        return self

    def __exit__(self, *exception: object) -> None:
        self.progress.stop()

    def __call__(self, info: SelectionProgress) -> None:
        best = "—"
        if info.best_covariance_type is not None:
            best = (
                f"{info.best_covariance_type}, K = {info.best_n_components}, "
                f"{self.criterion} {info.best_score:.2f}"
            )
        self.progress.update(self.task, completed=info.n_done, best=best)


@cli.command()
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-k",
    "--n-components",
    "--k",
    "k_text",
    default="1-9",
    show_default=True,
    help="Numbers of components to try: 1-9, 1,2,5 or a mix.",
)
@click.option(
    "--models",
    default="all",
    show_default=True,
    help="'all' (the 14 mclust models), 'sklearn' (spherical, diag, tied, full) or a "
    "comma-separated list.",
)
@click.option("--columns", help="Comma-separated columns to use (default: all).")
@click.option(
    "--criterion",
    type=click.Choice(["bic", "icl", "aic"]),
    default="bic",
    show_default=True,
    help="What chooses the model (lower is better).",
)
@click.option(
    "--init",
    "init_params",
    type=click.Choice(["hierarchical", "kmeans", "k-means++", "random", "random_from_data"]),
    default="hierarchical",
    show_default=True,
    help="Starting partition, one per K shared by every model.",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="EM iterations per fit.",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0),
    default=1e-5,
    show_default=True,
    help="Convergence threshold (see --convergence).",
)
@click.option(
    "--convergence",
    type=click.Choice(["relative", "absolute"]),
    default="relative",
    show_default=True,
    help="relative: mclust's rule, |ΔL| < tol·(1 + |L|) on the total log-likelihood; "
    "absolute: |Δ mean log-likelihood| < tol, as fit.",
)
@click.option(
    "--n-jobs",
    type=int,
    default=None,
    help="Parallel fits (worker processes); -1: all cores. Default: chosen by data size.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of non-hierarchical starts."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the best model here.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the criterion curves to this PNG.",
)
@_output_options
def select(
    data: Path,
    k_text: str,
    models: str,
    columns: str | None,
    criterion: str,
    init_params: str,
    max_iter: int,
    tol: float,
    convergence: str,
    n_jobs: int | None,
    seed: int,
    output: Path | None,
    plot_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Choose the number of components and covariance model of DATA by BIC (or ICL, AIC).

    Shows the fits done and the best so far; Ctrl-C keeps the best of the finished fits
    (written with -o, summarised) and exits with 130.

    \f
    Parameters
    ----------
    data : Path
        The data file.
    k_text : str
        K values: ``1-9``, ``1,2,5`` or a mix.
    models : str
        ``all``, ``sklearn`` or a comma-separated list of covariance models.
    columns : str or None
        Comma-separated columns to use.
    criterion, init_params, max_iter, tol, convergence, n_jobs, seed
        :func:`gaussmix.select_model`'s ``criterion``, ``init_params``, ``max_iter``,
        ``tol``, ``convergence``, ``n_jobs`` and ``random_state``.
    output, plot_path : Path or None
        Where to write the best model and the criterion curves.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    from gaussmix import selection as selection_module

    out = _Output(as_json, quiet)
    ks, names = _parse_k(k_text), _parse_models(models)
    if n_jobs == 0:
        raise InvalidParameterError("--n-jobs must not be 0; use 1 (sequential) or -1 (all cores).")
    table = read_table(data, _split(columns))
    X = _as_model_input(table.values, table.feature_names if table.named else None)
    n_fits = len(ks) * len(names)
    out.messages.print(f"Fitting {n_fits} mixtures ({', '.join(names)}) …")
    progress = _SelectProgress(out.messages, n_fits, criterion, enabled=not (quiet or as_json))
    interrupted = False
    try:
        with progress:
            selection = selection_module.select_model(
                X,
                n_components=ks,
                covariance_types=names,
                criterion=criterion,
                init_params=init_params,
                max_iter=max_iter,
                tol=tol,
                convergence=convergence,
                n_jobs=n_jobs,
                random_state=seed,
                callback=progress,
            )
    except KeyboardInterrupt as stop:
        # select_model raises SelectionInterrupted with the finished fits; an interrupt
        # before the first fit (reading, the hierarchical tree) is a plain one.
        interrupted = True
        selection = getattr(stop, "selection", None)
        if selection is None:
            click.echo("Interrupted before any fit finished; nothing written.", err=True)
            sys.exit(EXIT_INTERRUPTED)
    results = selection.results_
    best_k = int(selection.best_params_["n_components"])
    best_model = str(selection.best_params_["covariance_type"])
    chosen = (results["n_components"] == best_k) & (results["covariance_type"] == best_model)
    if output is not None:
        save(selection.best_estimator_, output)
    if plot_path is not None:
        from gaussmix.plotting import plot_bic, save_figure

        save_figure(plot_bic(results, criterion=criterion), plot_path)
    document = {
        "criterion": criterion,
        "interrupted": interrupted,
        "n_fits": n_fits,
        "n_done": len(results),
        "best": {
            "covariance_type": best_model,
            "n_components": best_k,
            criterion: float(results.loc[chosen, criterion].iloc[0]),
        },
        "clustering": np.bincount(selection.labels_, minlength=best_k).tolist(),
        "model": None if output is None else str(output),
        "plot": None if plot_path is None else str(plot_path),
        "results": json.loads(results.to_json(orient="records")),
    }

    def render(console: Console) -> None:
        # One row per model and one column per K: fourteen models fit a terminal's height
        # better than its width.
        pivot = results.pivot_table(
            index="covariance_type", columns="n_components", values=criterion, dropna=False
        ).reindex(names)
        grid = RichTable(title=f"{criterion.upper()} (lower is better)")
        grid.add_column("model")
        for k in pivot.columns:
            grid.add_column(f"K={k}", justify="right")
        for name, row in pivot.iterrows():
            cells = []
            for k, value in row.items():
                text = "—" if not math.isfinite(value) else f"{value:.1f}"
                best = k == best_k and name == best_model
                cells.append(f"[bold green]{text}[/]" if best else text)
            grid.add_row(str(name), *cells)
        console.print(grid)
        console.print(selection.summary(), markup=False, soft_wrap=True)
        if output is not None:
            console.print(f"Best model written to {output}", markup=False)
        if plot_path is not None:
            console.print(f"{criterion.upper()} curves in {plot_path}", markup=False)

    out.report(document, render)
    if interrupted:
        click.echo(
            f"Interrupted after {len(results)} of {n_fits} fits: the best of those is shown"
            + (f" and written to {output}." if output else "."),
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)


def _lazy_data_for_model(path: Path, stored: ModelFile) -> Any:
    """DATA opened lazily in the model's columns and units (a Dask collection)."""
    model = stored.model
    names = _model_names(model)
    table = read_lazy_table(path, None)
    if names and table.named:
        table = read_lazy_table(path, names)
    expected = int(model.n_features_in_)
    if table.n_features != expected:
        raise DataFileError(
            f"the data must have the model's {expected} features; {str(path)!r} has "
            f"{table.n_features} columns ({', '.join(table.feature_names)}). Pass data with "
            "the model's columns."
        )
    X = table.data
    if stored.standardization is not None:
        centre, scale = stored.standardization
        X = (X - centre) / scale
    if names and not table.named:
        # A model fitted on named columns is given unnamed (Zarr) rows in its column order.
        X = X.to_dask_dataframe(columns=names)
    return X


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="CSV to write (default: print to stdout); for lazy DATA, a .csv file or a Parquet "
    "dataset (directory).",
)
@click.option("--proba", is_flag=True, help="Also write the responsibility of each component.")
@_dask_options
@_output_options
def predict(
    model_path: Path,
    data: Path,
    output: Path | None,
    proba: bool,
    lazy: bool,
    scheduler_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Label every row of DATA with its most responsible component.

    \f
    Parameters
    ----------
    model_path, data : Path
        The model file and the data file.
    output : Path or None
        CSV to write; None prints it.
    proba : bool
        Add the responsibilities ``proba_k``.
    lazy, scheduler_address
        Read DATA through Dask; where Dask computes (see ``gaussmix.cli_datasets``).
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    stored = read_model_file(model_path)
    if is_lazy_source(data, lazy or scheduler_address is not None):
        with scheduler(scheduler_address):
            _predict_lazily(stored, data, output, proba, _Output(as_json, quiet))
        return
    X, _ = _data_for_model(data, stored)
    labels = stored.model.predict(X)
    columns: dict[str, np.ndarray] = {"label": labels}
    if proba:
        responsibilities = stored.model.predict_proba(X)
        for component in range(responsibilities.shape[1]):
            columns[f"proba_{component}"] = responsibilities[:, component]
    counts = np.bincount(labels, minlength=len(stored.model.weights_)).tolist()
    if output is None and not as_json:
        import pandas as pd

        click.echo(pd.DataFrame(columns).to_csv(index=False), nl=False)
        return
    if output is not None:
        write_table(output, columns)
    _report_labels(_Output(as_json, quiet), output, len(labels), counts)


def _report_labels(out: _Output, output: Path | None, n_samples: int, counts: list[int]) -> None:
    document = {
        "output": None if output is None else str(output),
        "n_samples": n_samples,
        "counts": counts,
    }
    out.report(
        document,
        lambda console: console.print(
            f"{n_samples} rows labelled (per component: {counts}); written to {output}"
        ),
    )


def _predict_lazily(
    stored: ModelFile, data: Path, output: Path | None, proba: bool, out: _Output
) -> None:
    """Labels (and responsibilities) of lazy DATA, written chunk by chunk to ``output``."""
    if output is None:
        raise InvalidParameterError(
            "predict on lazy DATA (a Parquet dataset or Zarr store) needs -o/--output; got "
            "none. Pass -o labels.csv or -o labels.parquet."
        )
    model = stored.model
    X = _lazy_data_for_model(data, stored)
    labels = model.predict(X)
    columns: dict[str, Any] = {"label": labels}
    if proba:
        responsibilities = model.predict_proba(X)
        for component in range(responsibilities.shape[1]):
            columns[f"proba_{component}"] = responsibilities[:, component]
    write_lazy_columns(output, columns)
    # Counting reads the data once more; it is what the in-memory path reports too.
    counts = np.bincount(labels.compute(), minlength=len(model.weights_)).tolist()
    _report_labels(out, output, int(sum(counts)), counts)


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@_dask_options
@_output_options
def score(
    model_path: Path,
    data: Path,
    lazy: bool,
    scheduler_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Mean log-likelihood of DATA under MODEL, with BIC and AIC.

    \f
    Parameters
    ----------
    model_path, data : Path
        The model file and the data file.
    lazy, scheduler_address
        Read DATA through Dask; where Dask computes (see ``gaussmix.cli_datasets``).
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    stored = read_model_file(model_path)
    model = stored.model
    with scheduler(scheduler_address):
        if is_lazy_source(data, lazy or scheduler_address is not None):
            X = _lazy_data_for_model(data, stored)
        else:
            X, _ = _data_for_model(data, stored)
        n_samples = _n_rows(X)
        mean = float(model.score(X))
        document = {
            "n_samples": n_samples,
            "mean_log_likelihood": mean,
            "total_log_likelihood": mean * n_samples,
            "bic": float(model.bic(X)),
            "aic": float(model.aic(X)),
            "standardised": stored.standardization is not None,
        }
    units = " (standardised units)" if stored.standardization is not None else ""
    _Output(as_json, quiet).report(
        document,
        lambda console: console.print(
            f"{n_samples} rows: mean log-likelihood {mean:.6f}{units}; "
            f"BIC {document['bic']:.2f}; AIC {document['aic']:.2f}"
        ),
    )


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-n", "--n-samples", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write (default: print to stdout).",
)
@click.option("--seed", type=int, default=None, help="Seed of the draws.")
@_output_options
def sample(
    model_path: Path,
    n_samples: int,
    output: Path | None,
    seed: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Draw rows from MODEL (in the data's units), with the component of each.

    \f
    Parameters
    ----------
    model_path : Path
        The model file.
    n_samples : int
        Number of rows.
    output : Path or None
        CSV to write; None prints it.
    seed : int or None
        Seed of the draws.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    stored = read_model_file(model_path)
    model = stored.model
    model.random_state = seed
    rows, components = model.sample(n_samples)
    if stored.standardization is not None:
        centre, scale = stored.standardization
        rows = rows * scale + centre
    names = _model_names(model) or [f"x{index}" for index in range(rows.shape[1])]
    columns = {name: rows[:, index] for index, name in enumerate(names)}
    columns["component"] = components
    if output is None and not as_json:
        import pandas as pd

        click.echo(pd.DataFrame(columns).to_csv(index=False), nl=False)
        return
    if output is not None:
        write_table(output, columns)
    document = {
        "output": None if output is None else str(output),
        "n_samples": n_samples,
        "feature_names": names,
    }
    _Output(as_json, quiet).report(
        document, lambda console: console.print(f"{n_samples} rows written to {output}")
    )


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@_output_options
def info(model_path: Path, as_json: bool, quiet: bool) -> None:
    """Describe a model file: header, fit summary and components.

    \f
    Parameters
    ----------
    model_path : Path
        The model file.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    stored = read_model_file(model_path)
    model, header = stored.model, stored.header
    means = _original_means(model.means_, stored.standardization)
    names = _model_names(model) or [f"x{index}" for index in range(means.shape[1])]
    document = {
        "path": str(model_path),
        "format_version": header["format_version"],
        "gaussmix_version": header["gaussmix_version"],
        "covariance_model": header["covariance_model"],
        "covariance_type": model.covariance_type,
        "n_components": header["n_components"],
        "n_features": header["n_features"],
        "feature_names": names,
        "dtype": header["dtype"],
        "fit": header["fit"],
        "standardization": header["standardization"],
        "weights": model.weights_.tolist(),
        "means": means.tolist(),
    }

    def render(console: Console) -> None:
        fit_summary = header["fit"]
        console.print(
            f"{model_path}: {header['n_components']} components, covariance "
            f"{model.covariance_type} ({header['covariance_model']}), {header['n_features']} "
            f"features, {header['dtype']}; format {header['format_version']}, written by "
            f"gaussmix {header['gaussmix_version']}"
        )
        console.print(
            f"fit: {'converged' if fit_summary['converged'] else 'NOT converged'} after "
            f"{fit_summary['n_iter']} iterations, mean log-likelihood "
            f"{fit_summary['log_likelihood']}"
        )
        console.print(_summary_table(model, names, means))

    _Output(as_json, quiet).report(document, render)


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(["clusters", "density", "uncertainty", "log-likelihood"]),
    default="clusters",
    show_default=True,
    help="clusters: points by component with ellipses (histogram in 1-D, pairs for D > 2).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="figure.png",
    show_default=True,
)
@_dask_options
@_output_options
def plot(
    model_path: Path,
    data: Path,
    kind: str,
    output: Path,
    lazy: bool,
    scheduler_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Draw MODEL over DATA into a PNG.

    Lazy DATA (a Parquet dataset or Zarr store) are drawn as a random sample of 100,000
    rows.

    \f
    Parameters
    ----------
    model_path, data : Path
        The model file and the data file.
    kind : str
        Which figure: clusters, density, uncertainty or log-likelihood.
    output : Path
        The image to write.
    lazy, scheduler_address
        Read DATA through Dask; where Dask computes (see ``gaussmix.cli_datasets``).
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    from gaussmix import plotting

    stored = read_model_file(model_path)
    with scheduler(scheduler_address):
        if is_lazy_source(data, lazy or scheduler_address is not None):
            X = _lazy_data_for_model(data, stored)
        else:
            X, _ = _data_for_model(data, stored)
        values = plotting.rows_to_plot(X)
    names = _model_names(stored.model) or [f"x{index}" for index in range(values.shape[1])]
    if stored.standardization is not None:
        names = [f"{name} (standardised)" for name in names]
    draw = {
        "clusters": plotting.plot_model,
        "density": plotting.plot_density,
        "uncertainty": plotting.plot_uncertainty,
    }.get(kind)
    if draw is None:
        figure = plotting.plot_log_likelihood(stored.model)
    else:
        figure = draw(stored.model, values, feature_names=names)
    plotting.save_figure(figure, output)
    _Output(as_json, quiet).report(
        {"output": str(output), "kind": kind},
        lambda console: console.print(f"Figure written to {output}"),
    )


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="em_progress.png",
    show_default=True,
    help="Figure path.",
)
@_output_options
def demo(output: Path, as_json: bool, quiet: bool) -> None:
    """EM on Old Faithful after 1, 2, 5 and 20 iterations (Bishop's Figure 9.8).

    \f
    Parameters
    ----------
    output : Path
        The figure to write.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    from gaussmix.demo import run_demo

    path = run_demo(output, show=not (as_json or quiet))
    _Output(as_json, quiet).report({"output": str(path)}, lambda console: None)


def main(argv: list[str] | None = None) -> int:
    """Run the ``gaussmix`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 2 user error, 130 interrupted.
    """
    try:
        cli.main(args=argv, prog_name="gaussmix", standalone_mode=True)
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    return 0
