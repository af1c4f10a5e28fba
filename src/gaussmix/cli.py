"""The ``gaussmix`` command: fit, select, predict, score, sample, info, plot and demo.

Built on click (arguments, help, exit codes) and rich (progress and tables); both come
with the extra ``cli``. Every command takes ``--json`` (one JSON document on stdout) and
``--quiet``. A user error (missing or unreadable file, bad value, wrong columns for the
model, a bad option) prints one ``Error: …`` line on stderr and exits with status 2; a
Python warning prints one ``warning: …`` line; Ctrl-C during ``fit`` writes the model
reached so far, flagged not converged, and during ``select`` keeps the best of the
finished fits; both then exit with 130.

scikit-learn, pandas and numba are imported inside the commands that need them, so that
``gaussmix --help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

from gaussmix import __version__
from gaussmix.cli_datasets import (
    LazyTable,
    is_lazy_source,
    read_lazy_table,
    scheduler,
    standardize_lazily,
    write_lazy_columns,
)
from gaussmix.cli_extensions import extension_options, extension_settings
from gaussmix.cli_labels import bootstrap_command, classify
from gaussmix.cli_missing import impute, missing_option, nan_standardization, reads_missing
from gaussmix.cli_stream import (
    OnlineBatches,
    StreamTable,
    criteria,
    fit_input,
    streamed_input,
    wants_stream,
)
from gaussmix.exceptions import DataFileError, InvalidInputError, InvalidParameterError
from gaussmix.files.tables import STDIN, Table, read_table, write_table
from gaussmix.io import ModelFile, read_model_file, save

if TYPE_CHECKING:
    from gaussmix.estimator import GaussianMixture
    from gaussmix.selection import SelectionProgress

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER_ERROR", "cli", "main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, the shell's convention for a command stopped by Ctrl-C."""

_SKLEARN_MODELS = ("spherical", "diag", "tied", "full")
# Width of output that is not a terminal (a file, a pipe): wide enough that rich never
# wraps or cuts a line; tables are only as wide as their cells.
_UNWRAPPED_WIDTH = 10_000


class UserError(click.ClickException):
    """A mistake of the caller: reported as one line on stderr, exit status 2."""

    exit_code = EXIT_USER_ERROR


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Commands(click.Group):
    """The command group: every error one ``Error: …`` line, every exit status as documented."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise
        # gaussmix raises ValueError subclasses for bad input (their messages say what
        # must hold and how to fix it); OSError covers unwritable outputs; ImportError a
        # missing optional extra.
        except (ValueError, OSError, ImportError) as error:
            raise UserError(str(error)) from None

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """click's ``main``; standalone, errors are one line (click prints usage and a hint)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx is not None else "gaussmix"
            click.echo(
                f"Error: {_one_line(error.format_message())} See '{command} --help'.", err=True
            )
            sys.exit(EXIT_USER_ERROR)
        except click.ClickException as error:
            click.echo(f"Error: {_one_line(error.format_message())}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader of stdout went away (`gaussmix predict … | head`): stop quietly,
            # and keep Python from failing again when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _console(stderr: bool, quiet: bool = False) -> Console:
    """A rich console; output that is not a terminal is neither wrapped nor cut."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if _is_terminal(stream) else _UNWRAPPED_WIDTH
    return Console(stderr=stderr, highlight=False, quiet=quiet, width=width)


@dataclass(frozen=True)
class _Output:
    """Where and how a command reports: JSON on stdout, rich text, or nothing."""

    as_json: bool
    quiet: bool

    @property
    def console(self) -> Console:
        return _console(stderr=False)

    @property
    def messages(self) -> Console:
        return _console(stderr=True, quiet=self.quiet or self.as_json)

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


@contextlib.contextmanager
def _warnings_as_lines(quiet: bool) -> Iterator[None]:
    """Python warnings as one ``warning: …`` line each on stderr (none with ``--quiet``).

    The default display adds the source path and line of the code that warned, which
    means nothing to someone running the command.
    """

    def show(message: Any, *where: Any, **_: Any) -> None:
        if not quiet:
            click.echo(f"warning: {_one_line(str(message))}", err=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _output_options(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _warnings_as_lines(bool(kwargs.get("quiet"))):
            return function(*args, **kwargs)

    run = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")(run)
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
    )(run)


def _input_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--header/--no-header`` and ``--index-col``: how a text DATA file is read."""
    function = click.option(
        "--index-col",
        metavar="COLUMN",
        help="A column of DATA (name, or position: 0 is the first) that is a row index, "
        "not a feature.",
    )(function)
    return click.option(
        "--header/--no-header",
        default=None,
        help="Whether text DATA starts with a row of column names. Default: it must; a "
        "first line of numbers only is refused.",
    )(function)


def _convergence_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--max-iter``, ``--tol`` and ``--convergence``: the same defaults for fit and select."""
    function = click.option(
        "--convergence",
        type=click.Choice(["relative", "absolute"]),
        default="relative",
        show_default=True,
        help="relative: mclust's rule, |ΔL| < tol·(1 + |L|) on the total log-likelihood; "
        "absolute: |Δ mean log-likelihood| < tol (scikit-learn's).",
    )(function)
    function = click.option(
        "--tol",
        type=click.FloatRange(min=0),
        default=1e-5,
        show_default=True,
        help="Convergence threshold (see --convergence).",
    )(function)
    return click.option(
        "--max-iter",
        type=click.IntRange(min=0),
        default=1000,
        show_default=True,
        help="EM iterations per fit.",
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


class _CovarianceChoice(click.Choice):
    """``click.Choice`` of the covariance models, listed when first needed.

    The registry imports SciPy (about a second); ``gaussmix --help`` should not wait.
    """

    def __init__(self) -> None:
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        from gaussmix.covariance import available_covariance_types

        return tuple(available_covariance_types())

    @choices.setter
    def choices(self, value: Any) -> None:
        pass


# ------------------------------------------------------------------------ data
def _label(path: Path) -> str:
    return "standard input" if str(path) == STDIN else str(path)


def _read_data(
    out: _Output,
    path: Path,
    columns: list[str] | None = None,
    *,
    header: bool | None = None,
    index_col: str | None = None,
    columns_if_named: list[str] | None = None,
    allow_missing: bool = False,
    observed_rows: bool = False,
) -> Table:
    """:func:`gaussmix.tables.read_table` under a spinner (on a terminal)."""
    with out.messages.status(f"Reading {_label(path)} …"):
        return read_table(
            str(path),
            columns,
            header=header,
            index_col=index_col,
            columns_if_named=columns_if_named,
            allow_missing=allow_missing,
            observed_rows=observed_rows,
        )


def _standardization(table: Table) -> tuple[np.ndarray, np.ndarray]:
    centre, scale = nan_standardization(table.values)
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


def _data_for_model(
    path: Path,
    stored: ModelFile,
    out: _Output,
    header: bool | None = None,
    index_col: str | None = None,
) -> tuple[Any, np.ndarray]:
    """Read DATA in the model's columns and units; returns (model input, raw values)."""
    model = stored.model
    names = _model_names(model)
    table = _read_data(
        out,
        path,
        header=header,
        index_col=index_col,
        columns_if_named=names,
        allow_missing=reads_missing(model),
    )
    expected = int(model.n_features_in_)
    if table.values.shape[1] != expected:
        described = f" ({', '.join(names)})" if names else ""
        raise DataFileError(
            f"the data must have the model's {expected} features{described}; "
            f"{_label(path)!r} has {table.values.shape[1]} columns "
            f"({', '.join(table.feature_names)}). Pass data with the model's columns."
        )
    values = table.values
    if stored.standardization is not None:
        centre, scale = stored.standardization
        values = (values - centre) / scale
    return _as_model_input(values, names), table.values


# ------------------------------------------------------------------- summaries
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
    if getattr(model, "noise", False):
        # The uniform component has no mean: its density is Vinv_ everywhere (in the
        # units the model was fitted in).
        table.add_row("noise", f"{model.noise_proportion_:.4f}", *("-" for _ in feature_names))
        table.caption = f"noise density Vinv = {model.Vinv_:.4g} (label -1)"
    return table


def _noise_document(model: GaussianMixture) -> dict[str, Any]:
    """The noise component's entries of a JSON document (none without one)."""
    if not getattr(model, "noise", False):
        return {}
    return {"noise_proportion": float(model.noise_proportion_), "Vinv": float(model.Vinv_)}


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

    DATA is delimited text with a header row (comma, tab, semicolon, bar or blank
    separated; optionally .gz/.bz2/.xz/.zip compressed; '-' reads standard input),
    Parquet or .npy. Run 'gaussmix COMMAND --help' for a command's options.

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
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
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
    type=_CovarianceChoice(),
    help="Covariance model: a scikit-learn name or one of the 14 mclust codes.",
)
@click.option("--columns", help="Comma-separated columns to use (default: all).")
@click.option("--standardize", is_flag=True, help="Fit on (x − mean) / std; stored in the file.")
@click.option(
    "--n-init",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Starts (k-means partitions); the one with the highest log-likelihood is kept.",
)
@_convergence_options
@click.option("--seed", type=int, default=None, help="Seed of the initialisation.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="model.gmm",
    show_default=True,
    help="Model file to write.",
)
@_input_options
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="One line per EM iteration on stderr, written as it ends, instead of the bar.",
)
@_dask_options
@missing_option
@extension_options
@click.option(
    "--stream",
    is_flag=True,
    help="Exact EM over DATA chunk by chunk (a Parquet/CSV file, folder or glob; a glob "
    "always streams): one pass per iteration, memory of a chunk.",
)
@click.option("--online", is_flag=True, help="Online EM in one pass over DATA's batches.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=10000,
    show_default=True,
    help="Rows per batch of --online.",
)
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
    convergence: str,
    seed: int | None,
    output: Path,
    header: bool | None,
    index_col: str | None,
    verbose: bool,
    lazy: bool,
    scheduler_address: str | None,
    missing: str | None,
    stream: bool,
    online: bool,
    batch_size: int,
    as_json: bool,
    quiet: bool,
    **extensions: Any,
) -> None:
    """Fit a mixture to DATA and write it to a model file.

    DATA: text with a header row (any delimiter, optionally compressed; - reads standard
    input), Parquet or .npy; Parquet datasets (directories) and Zarr stores are read
    lazily through Dask.

    Shows one progress row per start, then the components and where the model went.

    \f
    Parameters
    ----------
    data : Path
        The data file.
    n_components, covariance, n_init, max_iter, tol, convergence, seed
        GaussianMixture's ``n_components``, ``covariance_type``, ``n_init``, ``max_iter``,
        ``tol``, ``convergence`` and ``random_state``; the defaults are select's, so that
        both report the same fit of the same model.
    columns : str or None
        Comma-separated columns to use.
    standardize : bool
        Fit on ``(x − mean) / std``; the two vectors are stored in the model file.
    output : Path
        The model file to write.
    header, index_col
        How a text file is read (see :func:`gaussmix.tables.read_table`).
    verbose : bool
        One line per EM iteration on stderr (``start 1 iteration 3 mean log-likelihood …
        change …``), written when the iteration ends.
    lazy, scheduler_address
        Read DATA through Dask; where Dask computes (see ``gaussmix.cli_datasets``).
    missing : {"error", "em"} or None
        GaussianMixture's ``missing``; ``em`` reads empty cells as missing values.
    stream, online, batch_size
        Read DATA chunk by chunk: exact EM, or online EM in batches (``gaussmix.cli_stream``).
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    out = _Output(as_json, quiet)
    _require_output_folder(output)
    request = _FitRequest(
        n_components,
        covariance,
        n_init,
        max_iter,
        tol,
        convergence,
        seed,
        missing or "error",
        extension_settings(**extensions),
    )
    with scheduler(scheduler_address):
        if wants_stream(data, stream, online):
            X, table = streamed_input(
                data, _split(columns), online=online, batch_size=batch_size, standardize=standardize
            )
            standardization = None
        elif is_lazy_source(data, lazy or scheduler_address is not None):
            table: Any = read_lazy_table(data, _split(columns))
            standardization = None
            if standardize:
                table, standardization = standardize_lazily(table)
            X = table.data
        else:
            table = _read_data(
                out,
                data,
                _split(columns),
                header=header,
                index_col=index_col,
                allow_missing=request.missing == "em",
                observed_rows=True,
            )
            X, standardization = _in_memory_fit_input(data, table, n_components, standardize)
        _fit_and_report(
            out,
            data,
            X,
            table,
            standardization,
            output,
            request,
            verbose=verbose and not quiet,
        )


@dataclass(frozen=True)
class _FitRequest:
    """The estimator settings ``gaussmix fit`` was given."""

    n_components: int
    covariance: str
    n_init: int
    max_iter: int
    tol: float
    convergence: str = "relative"
    seed: int | None = None
    missing: str = "error"
    extensions: dict[str, Any] = field(default_factory=dict)


def _require_output_folder(output: Path) -> None:
    if not output.parent.is_dir():
        raise DataFileError(
            f"the folder of --output must exist; got {str(output)!r}. Create the folder first."
        )


def _in_memory_fit_input(
    data: Path, table: Table, n_components: int, standardize: bool
) -> tuple[Any, tuple[np.ndarray, np.ndarray] | None]:
    """The rows to fit (standardised on request) and the standardisation, or None."""
    if table.values.shape[0] < n_components:
        raise InvalidInputError(
            f"-k/--n-components must be at most the number of rows; got -k "
            f"{n_components} for the {table.values.shape[0]} rows of {_label(data)}. "
            "Use fewer components or more data."
        )
    standardization = _standardization(table) if standardize else None
    values = table.values
    if standardization is not None:
        values = (values - standardization[0]) / standardization[1]
    X = _as_model_input(values, table.feature_names if table.named else None)
    return X, standardization


def _n_rows(X: Any) -> int:
    """Rows of an in-memory table or of a Dask collection (a dataframe's length is computed)."""
    rows = X.shape[0]
    return int(rows) if isinstance(rows, (int, np.integer)) else len(X)


def _announce_compiling(console: Console) -> None:
    """Say so when the first fit after installing compiles the numba kernels (~15–30 s)."""
    from gaussmix.cli_progress import kernels_need_compiling

    cold = kernels_need_compiling()
    if cold:
        console.print("Compiling the numba kernels (once per install; about half a minute) …")
    elif cold is None:
        console.print("Loading the numba kernels (the first fit after installing compiles them) …")


def _fit_with_progress(
    out: _Output, X: Any, request: _FitRequest, *, lazy: bool, verbose: bool
) -> tuple[GaussianMixture, bool, int | None]:
    """Fit under one progress row per start; returns (model, interrupted, kept start)."""
    from sklearn.exceptions import ConvergenceWarning

    from gaussmix.cli_progress import FitProgress
    from gaussmix.estimator import GaussianMixture

    progress = FitProgress(
        out.messages,
        request.n_init,
        request.max_iter,
        request.tol,
        enabled=not (out.quiet or out.as_json),
        lines=verbose,
    )
    model = GaussianMixture(
        request.n_components,
        covariance_type=request.covariance,
        n_init=request.n_init,
        max_iter=request.max_iter,
        tol=request.tol,
        convergence=request.convergence,
        random_state=request.seed,
        callback=progress,
        missing=request.missing,
        **request.extensions,
    )
    interrupted = False
    kept: int | None = None
    try:
        with progress, warnings.catch_warnings():
            if not lazy:  # Dask workers keep the array kernels
                _announce_compiling(progress.progress.console)
            # Not converging is reported in the summary, not as a Python warning.
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit_input(model, X, announce=None if out.quiet else out.messages.print)
            kept = progress.kept(model.lower_bound_, model.n_iter_)
    except KeyboardInterrupt:
        interrupted = True
    model.callback = None
    return model, interrupted, kept


def _fit_document(
    model: GaussianMixture,
    X: Any,
    table: Any,
    output: Path,
    means: np.ndarray,
    request: _FitRequest,
    *,
    interrupted: bool,
    kept: int | None,
) -> dict[str, Any]:
    """The JSON report of ``gaussmix fit``."""
    n_samples, log_likelihood, bic, aic = criteria(model, X)
    return {
        "model": str(output),
        "interrupted": interrupted,
        "n_samples": n_samples,
        "online": isinstance(X, OnlineBatches),
        "n_features": len(table.feature_names),
        "feature_names": table.feature_names,
        "n_components": request.n_components,
        "covariance_type": request.covariance,
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "kept_start": None if kept is None else kept + 1,
        "log_likelihood": log_likelihood,
        "bic": bic,
        "aic": aic,
        "weights": model.weights_.tolist(),
        **_noise_document(model),
        "means": means.tolist(),
    }


def _fit_summary(
    model: GaussianMixture,
    feature_names: list[str],
    means: np.ndarray,
    document: dict[str, Any],
    *,
    n_init: int,
    standardized: bool,
) -> Callable[[Console], None]:
    """The text report of ``gaussmix fit``: components, convergence, BIC, where it went."""
    kept = document["kept_start"]

    def render(console: Console) -> None:
        console.print(_summary_table(model, feature_names, means))
        state = "converged" if model.converged_ else "did NOT converge (raise --max-iter)"
        steps = "iterations"
        if document["online"]:
            state, steps = "online EM", "batches"
        start = (
            f" of start {kept} (the best of {n_init})" if kept is not None and n_init > 1 else ""
        )
        console.print(
            f"{state} after {model.n_iter_} {steps}{start}; mean log-likelihood "
            f"{document['log_likelihood']:.6f}; BIC {document['bic']:.2f}"
            + (" (standardised units)" if standardized else "")
        )
        console.print(f"Model written to {document['model']}")

    return render


def _fit_and_report(
    out: _Output,
    data: Path,
    X: Any,
    table: Any,
    standardization: tuple[np.ndarray, np.ndarray] | None,
    output: Path,
    request: _FitRequest,
    *,
    verbose: bool = False,
) -> None:
    """Fit, save and report: the body of ``gaussmix fit`` for in-memory and lazy data."""
    lazy = isinstance(table, LazyTable)
    _require_output_folder(output)
    if isinstance(table, StreamTable):
        rows = "rows read in batches" if isinstance(X, OnlineBatches) else "streamed rows"
    else:
        rows = "lazily read rows" if lazy else f"{X.shape[0]} rows"
    out.messages.print(
        f"Fitting {request.n_components} {request.covariance} components to {rows} × "
        f"{len(table.feature_names)} features of {_label(data)} …"
    )
    model, interrupted, kept = _fit_with_progress(out, X, request, lazy=lazy, verbose=verbose)
    # The estimator keeps a model after Ctrl-C only once an EM iteration has completed
    # (GaussianMixture._fit_unguarded); before that it is left unfitted.
    if interrupted and not hasattr(model, "weights_"):
        click.echo("Interrupted before the first EM iteration ended; nothing written.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    means = _original_means(model.means_, standardization)
    document = _fit_document(
        model, X, table, output, means, request, interrupted=interrupted, kept=kept
    )
    if isinstance(X, OnlineBatches):
        # The file records what the report says (and `info` derives its BIC from it): the
        # mean over every row under the final parameters, not the last batch's.
        model.log_likelihood_ = document["log_likelihood"]
    save(model, output, standardization=standardization)
    if interrupted:
        click.echo(
            f"Interrupted after {model.n_iter_} iterations: wrote the current model, flagged "
            f"not converged, to {output}.",
            err=True,
        )
        if out.as_json:
            out.report(document, lambda console: None)
        sys.exit(EXIT_INTERRUPTED)
    render = _fit_summary(
        model,
        table.feature_names,
        means,
        document,
        n_init=request.n_init,
        standardized=standardization is not None,
    )
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
                f"-k/--n-components ranges must be increasing and start at 1 or more; got {part!r}."
            )
        values.extend(range(bounds[0], bounds[1] + 1))
    if not values:
        raise InvalidParameterError(
            f"-k/--n-components must name at least one number; got {text!r}."
        )
    return sorted(set(values))


def _parse_models(text: str) -> list[str]:
    from gaussmix.covariance import MCLUST_MODELS, get_covariance_model

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
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
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
@_convergence_options
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
@missing_option
@_input_options
@extension_options
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
    missing: str | None,
    header: bool | None,
    index_col: str | None,
    as_json: bool,
    quiet: bool,
    **extensions: Any,
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
    missing : {"error", "em"} or None
        select_model's ``missing``; ``em`` reads empty cells as missing values.
    header, index_col
        How a text file is read (see :func:`gaussmix.tables.read_table`).
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    out = _Output(as_json, quiet)
    ks, names = _parse_k(k_text), _parse_models(models)
    if n_jobs == 0:
        raise InvalidParameterError("--n-jobs must not be 0; use 1 (sequential) or -1 (all cores).")
    table = _read_data(
        out,
        data,
        _split(columns),
        header=header,
        index_col=index_col,
        allow_missing=missing == "em",
        observed_rows=True,
    )
    X = _as_model_input(table.values, table.feature_names if table.named else None)
    options = {
        "criterion": criterion,
        "init_params": init_params,
        "max_iter": max_iter,
        "tol": tol,
        "convergence": convergence,
        "n_jobs": n_jobs,
        "random_state": seed,
        **extension_settings(**extensions),
        **({} if missing is None else {"missing": missing}),
    }
    selection, interrupted = _run_selection(out, X, ks, names, options)
    if output is not None:
        save(selection.best_estimator_, output)
    if plot_path is not None:
        from gaussmix.plotting import plot_bic, save_figure

        save_figure(plot_bic(selection.results_, criterion=criterion), plot_path)
    n_fits = len(ks) * len(names)
    document = _selection_document(selection, criterion, n_fits, output, plot_path, interrupted)
    out.report(document, _selection_summary(selection, names, criterion, output, plot_path))
    if interrupted:
        click.echo(
            f"Interrupted after {len(selection.results_)} of {n_fits} fits: the best of those "
            "is shown" + (f" and written to {output}." if output else "."),
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)


def _run_selection(
    out: _Output, X: Any, ks: list[int], names: list[str], options: dict[str, Any]
) -> tuple[Any, bool]:
    """``select_model`` under the progress bar; returns (selection, interrupted).

    After Ctrl-C the selection holds the finished fits; with none finished, exits 130.
    """
    from gaussmix import selection as selection_module

    n_fits = len(ks) * len(names)
    out.messages.print(f"Fitting {n_fits} mixtures ({', '.join(names)}) …")
    progress = _SelectProgress(
        out.messages, n_fits, options["criterion"], enabled=not (out.quiet or out.as_json)
    )
    try:
        with progress:
            selection = selection_module.select_model(
                X, n_components=ks, covariance_types=names, callback=progress, **options
            )
    except KeyboardInterrupt as stop:
        # select_model raises SelectionInterrupted with the finished fits; an interrupt
        # before the first fit (reading, the hierarchical tree) is a plain one.
        selection = getattr(stop, "selection", None)
        if selection is None:
            click.echo("Interrupted before any fit finished; nothing written.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        return selection, True
    return selection, False


def _best_of(selection: Any) -> tuple[int, str]:
    """``(n_components, covariance_type)`` of the chosen model."""
    best = selection.best_params_
    return int(best["n_components"]), str(best["covariance_type"])


def _selection_document(
    selection: Any,
    criterion: str,
    n_fits: int,
    output: Path | None,
    plot_path: Path | None,
    interrupted: bool,
) -> dict[str, Any]:
    """The JSON report of ``gaussmix select``."""
    results = selection.results_
    best_k, best_model = _best_of(selection)
    chosen = (results["n_components"] == best_k) & (results["covariance_type"] == best_model)
    return {
        "criterion": criterion,
        "interrupted": interrupted,
        "n_fits": n_fits,
        "n_done": len(results),
        "best": {
            "covariance_type": best_model,
            "n_components": best_k,
            criterion: float(results.loc[chosen, criterion].iloc[0]),
        },
        "clustering": _label_counts(selection.labels_, best_k).tolist(),
        "model": None if output is None else str(output),
        "plot": None if plot_path is None else str(plot_path),
        "results": json.loads(results.to_json(orient="records")),
    }


def _criterion_grid(selection: Any, names: list[str], criterion: str) -> RichTable:
    """One row per model and one column per K, the chosen cell in bold green.

    Fourteen models fit a terminal's height better than its width.
    """
    best_k, best_model = _best_of(selection)
    pivot = selection.results_.pivot_table(
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
    return grid


def _selection_summary(
    selection: Any,
    names: list[str],
    criterion: str,
    output: Path | None,
    plot_path: Path | None,
) -> Callable[[Console], None]:
    """The text report of ``gaussmix select``: the grid, the summary, the files written."""

    def render(console: Console) -> None:
        console.print(_criterion_grid(selection, names, criterion))
        console.print(selection.summary(), markup=False, soft_wrap=True)
        if output is not None:
            console.print(f"Best model written to {output}", markup=False)
        if plot_path is not None:
            console.print(f"{criterion.upper()} curves in {plot_path}", markup=False)

    return render


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
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="CSV to write (default: print to stdout); for lazy DATA, a .csv file or a Parquet "
    "dataset (directory).",
)
@click.option("--proba", is_flag=True, help="Also write the responsibility of each component.")
@_input_options
@_dask_options
@missing_option
@_output_options
def predict(
    model_path: Path,
    data: Path,
    output: Path | None,
    proba: bool,
    header: bool | None,
    index_col: str | None,
    lazy: bool,
    scheduler_address: str | None,
    missing: str | None,
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
    header, index_col
        How a text file is read (see :func:`gaussmix.tables.read_table`).
    lazy, scheduler_address
        Read DATA through Dask; where Dask computes (see ``gaussmix.cli_datasets``).
    missing : {"error", "em"} or None
        Overrides the model file's ``missing``.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    stored = read_model_file(model_path)
    if missing is not None:
        stored.model.set_params(missing=missing)
    if is_lazy_source(data, lazy or scheduler_address is not None):
        with scheduler(scheduler_address):
            _predict_lazily(stored, data, output, proba, _Output(as_json, quiet))
        return
    X, _ = _data_for_model(data, stored, _Output(as_json, quiet), header, index_col)
    labels = stored.model.predict(X)
    columns: dict[str, np.ndarray] = {"label": labels}
    if proba:
        responsibilities = stored.model.predict_proba(X)
        for component in range(responsibilities.shape[1]):
            # With a noise component its column is the last one.
            name = "noise" if component == len(stored.model.weights_) else component
            columns[f"proba_{name}"] = responsibilities[:, component]
    counts = _label_counts(labels, len(stored.model.weights_)).tolist()
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
            # With a noise component its column is the last one.
            name = "noise" if component == len(stored.model.weights_) else component
            columns[f"proba_{name}"] = responsibilities[:, component]
    write_lazy_columns(output, columns)
    # Counting reads the data once more; it is what the in-memory path reports too.
    counts = _label_counts(labels.compute(), len(model.weights_)).tolist()
    _report_labels(out, output, int(sum(counts)), counts)


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
@_input_options
@_dask_options
@missing_option
@_output_options
def score(
    model_path: Path,
    data: Path,
    header: bool | None,
    index_col: str | None,
    lazy: bool,
    scheduler_address: str | None,
    missing: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Mean log-likelihood of DATA under MODEL, with BIC and AIC.

    \f
    Parameters
    ----------
    model_path, data : Path
        The model file and the data file.
    header, index_col
        How a text file is read (see :func:`gaussmix.tables.read_table`).
    lazy, scheduler_address
        Read DATA through Dask; where Dask computes (see ``gaussmix.cli_datasets``).
    missing : {"error", "em"} or None
        Overrides the model file's ``missing``.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    stored = read_model_file(model_path)
    model = stored.model
    if missing is not None:
        model.set_params(missing=missing)
    with scheduler(scheduler_address):
        if is_lazy_source(data, lazy or scheduler_address is not None):
            X = _lazy_data_for_model(data, stored)
        else:
            X, _ = _data_for_model(data, stored, _Output(as_json, quiet), header, index_col)
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
@click.option(
    "-n",
    "--n-samples",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Rows to draw.",
)
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


def _dense_covariances(model: GaussianMixture, standardization: Any) -> np.ndarray:
    """Every component's covariance as a (K, D, D) array, in the data's units."""
    from gaussmix.covariance import get_covariance_model
    from gaussmix.covariance.forms import dense_covariances

    covariances = np.asarray(model.covariances_, dtype=np.float64)
    n_components, n_features = np.asarray(model.means_).shape
    if covariances.ndim != 3:  # scikit-learn names keep their compact shapes
        form = get_covariance_model(model.covariance_type).form
        covariances = dense_covariances(covariances, form, n_components, n_features)
    if standardization is not None:
        scale = np.asarray(standardization[1], dtype=np.float64)
        covariances = covariances * scale[:, None] * scale[None, :]
    return covariances


def _covariance_table(names: list[str], covariance: np.ndarray) -> RichTable:
    table = RichTable()
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for name, row in zip(names, covariance, strict=True):
        table.add_row(name, *(f"{value:.4g}" for value in row))
    return table


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@_output_options
def info(model_path: Path, as_json: bool, quiet: bool) -> None:
    """Describe a model file: fit summary, weights, means and covariances.

    \f
    Parameters
    ----------
    model_path : Path
        The model file.
    as_json, quiet : bool
        Print one JSON document / nothing but errors.
    """
    stored = read_model_file(model_path)
    document = _info_document(model_path, stored)
    _Output(as_json, quiet).report(document, _info_summary(model_path, stored, document))


def _training_bic(model: GaussianMixture) -> tuple[int | None, float | None]:
    """Training rows and BIC of the fit, or (None, None) when the file lacks n_samples_fit_.

    BIC needs the number of training rows, which model files hold only as the fitted
    attribute n_samples_fit_. Files may lack it: fits on a Dask dataframe (its length is
    unknown without another pass) and writers older than the attribute
    (``tests/data/model_files/model_v1_diag_before_n_samples_fit.gmm``).
    """
    n_samples = getattr(model, "n_samples_fit_", None)
    if n_samples is None:
        return None, None
    n_samples = int(n_samples)
    log_likelihood = float(model.log_likelihood_) * n_samples
    return n_samples, -2 * log_likelihood + model._n_parameters() * math.log(n_samples)


def _info_document(model_path: Path, stored: ModelFile) -> dict[str, Any]:
    """The JSON report of ``gaussmix info``: the header's summary and the parameters."""
    model, header = stored.model, stored.header
    means = _original_means(model.means_, stored.standardization)
    covariances = _dense_covariances(model, stored.standardization)
    n_samples, bic = _training_bic(model)
    return {
        "path": str(model_path),
        "format_version": header["format_version"],
        "gaussmix_version": header["gaussmix_version"],
        "covariance_model": header["covariance_model"],
        "covariance_type": model.covariance_type,
        "n_components": header["n_components"],
        "n_features": header["n_features"],
        "feature_names": _model_names(model) or [f"x{i}" for i in range(means.shape[1])],
        "dtype": header["dtype"],
        "fit": header["fit"],
        "n_samples": n_samples,
        "n_parameters": int(model._n_parameters()),
        "bic": bic,
        "standardization": header["standardization"],
        "weights": model.weights_.tolist(),
        **_noise_document(model),
        "means": means.tolist(),
        "covariances": covariances.tolist(),
    }


def _info_summary(
    model_path: Path, stored: ModelFile, document: dict[str, Any]
) -> Callable[[Console], None]:
    """The text report of ``gaussmix info``: header line, fit, training rows, parameters."""
    model, header = stored.model, stored.header
    names = document["feature_names"]
    units = " (standardised units)" if stored.standardization is not None else ""

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
            f"{fit_summary['log_likelihood']}{units}; {document['n_parameters']} free parameters"
        )
        if document["n_samples"] is None:
            console.print(
                "training rows: not recorded in this model file, so its BIC is not known here "
                "(gaussmix score MODEL DATA computes it on DATA)"
            )
        else:
            console.print(
                f"training rows: {document['n_samples']}; BIC {document['bic']:.2f}{units}"
            )
        console.print(_summary_table(model, names, np.asarray(document["means"])))
        for component, covariance in enumerate(document["covariances"]):
            console.print(f"Covariance of component {component} (data's units):")
            console.print(_covariance_table(names, np.asarray(covariance)))

    return render


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "--kind",
    type=click.Choice(["clusters", "density", "uncertainty", "log-likelihood"]),
    default="clusters",
    show_default=True,
    help="clusters: points by component with ellipses (histogram in 1-D, all pairs for "
    "D > 2); density: contours of log p(x); uncertainty: points sized by 1 − max "
    "responsibility; log-likelihood: the fit's mean log-likelihood per EM iteration.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="figure.png",
    show_default=True,
    help="Image to write (PNG).",
)
@_input_options
@_dask_options
@_output_options
def plot(
    model_path: Path,
    data: Path,
    kind: str,
    output: Path,
    header: bool | None,
    index_col: str | None,
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
    header, index_col
        How a text file is read (see :func:`gaussmix.tables.read_table`).
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
            X, _ = _data_for_model(data, stored, _Output(as_json, quiet), header, index_col)
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


# The commands with labels live in their own module (classify fit/predict, bootstrap).
cli.add_command(classify)
cli.add_command(bootstrap_command)
cli.add_command(impute)



def _label_counts(labels: Any, n_components: int) -> Any:
    """Rows per component, noise (−1) last: :func:`gaussmix.noise.label_counts`.

    Imported when a command runs, so that ``gaussmix --help`` loads no scikit-learn.
    """
    from gaussmix.noise import label_counts as counted

    return counted(labels, n_components)

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
