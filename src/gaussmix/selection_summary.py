"""The text of :meth:`ModelSelection.summary`: what mclust's ``summary(Mclust(X))`` reports.

The content follows mclust 6 (best model and its log-likelihood, n, df, BIC and ICL; the top
models by the criterion with their differences from the best; the clustering table; the
parameters on request), in gaussmix's sign convention: every criterion is lower-is-better,
the negative of mclust's, and the output says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gaussmix.covariance import get_covariance_model
from gaussmix.covariance.attributes import to_public
from gaussmix.noise import label_counts

if TYPE_CHECKING:
    from gaussmix.selection import ModelSelection

__all__ = ["describe_model", "format_summary"]

_LETTERS = {"E": "equal", "V": "varying"}


def describe_model(covariance_type: str) -> str:
    """A plain-words description of a covariance model, from its mclust code.

    Parameters
    ----------
    covariance_type : str
        An mclust code or a scikit-learn name.

    Returns
    -------
    str
        For example ``"EVE (ellipsoidal; volume equal, shape varying, orientation equal)"``;
        a scikit-learn name is followed by its code: ``"full = VVV (ellipsoidal; …)"``.
    """
    code = get_covariance_model(covariance_type).name
    volume, shape, orientation = code
    if shape == "I":
        family, parts = "spherical", [f"volume {_LETTERS[volume]}"]
    elif orientation == "I":
        family = "diagonal"
        parts = [f"volume {_LETTERS[volume]}", f"shape {_LETTERS[shape]}"]
    else:
        family = "ellipsoidal"
        parts = [
            f"volume {_LETTERS[volume]}",
            f"shape {_LETTERS[shape]}",
            f"orientation {_LETTERS[orientation]}",
        ]
    name = code if covariance_type == code else f"{covariance_type} = {code}"
    return f"{name} ({family}; {', '.join(parts)})"


def _number(value: float, digits: int = 3) -> str:
    """Fixed-point text with ``digits`` decimals; "NaN" for a missing value."""
    return "NaN" if not np.isfinite(value) else f"{value:.{digits}f}"


def _general(value: float) -> str:
    """Seven significant digits, mclust's default print width."""
    return f"{value:.7g}"


def _grid(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    indent: str = "  ",
    left_first: bool = True,
) -> list[str]:
    """Lines of a right-aligned text table, the first column left-aligned if ``left_first``."""
    table = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    lines = []
    for row in table:
        cells = [
            cell.ljust(width) if column == 0 and left_first else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def format_summary(selection: ModelSelection, parameters: bool = False, top: int = 3) -> str:
    """The summary text of a :class:`~gaussmix.selection.ModelSelection`.

    Parameters
    ----------
    selection : ModelSelection
        A finished or interrupted selection.
    parameters : bool, default=False
        Also list mixing probabilities, means and covariances of the best model.
    top : int, default=3
        Models listed by criterion.

    Returns
    -------
    str
    """
    table = selection.results_
    criterion = selection.criterion
    label = criterion.upper()
    best = selection.best_params_
    row = table.loc[selection._best_row()]
    n_failed = int((table["error"] != "").sum())
    n_models = table["covariance_type"].nunique()
    counts = sorted(table["n_components"].unique())
    lines = [
        f"Gaussian mixture chosen by {label} among {len(table)} fits "
        f"({n_models} covariance models × G in {_counts_text(counts)}; "
        f"{n_failed} failed, {int((~table['converged'] & (table['error'] == '')).sum())} "
        "not converged)",
    ]
    if not selection.complete:
        lines.append(
            f"INTERRUPTED: {len(table)} of {selection.n_fits} fits had finished; the best "
            "of those is shown."
        )
    lines += [
        "Sign: lower is better for BIC, ICL and AIC here; mclust prints the negatives "
        "(BIC_mclust = −BIC), where higher is better.",
        "",
        f"Best model: {describe_model(best['covariance_type'])} with "
        f"{best['n_components']} component{'s' if best['n_components'] != 1 else ''}",
        "",
        *_grid(
            ["log-likelihood", "n", "df", "BIC", "ICL"],
            [
                [
                    _number(row["log_likelihood"]),
                    _count(selection.n_samples_),
                    str(int(row["n_parameters"])),
                    _number(row["bic"]),
                    _number(row["icl"]),
                ]
            ],
            left_first=False,
        ),
        "",
        f"Top {min(top, int(np.isfinite(table[criterion]).sum()))} models by {label} "
        f"(difference = {label} − best {label}, ≥ 0):",
        *_top_models(table, criterion, top),
        "",
        "Clustering table (rows per component of the MAP partition, numbered as by predict):",
        *_clustering(selection),
    ]
    if parameters:
        lines += ["", *_parameters(selection)]
    return "\n".join(lines)


def _counts_text(counts: Sequence[int]) -> str:
    values = [int(count) for count in counts]
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return "{" + ", ".join(str(value) for value in values) + "}"


def _top_models(table: Any, criterion: str, top: int) -> list[str]:
    fitted = table[np.isfinite(table[criterion].to_numpy(dtype=float))]
    # A stable sort keeps table order among ties, as the choice of the best does.
    ranked = fitted.sort_values(criterion, kind="stable").head(top)
    best = float(ranked[criterion].iloc[0])
    rows = [
        [
            str(model["covariance_type"]),
            str(int(model["n_components"])),
            _number(model[criterion]),
            _number(model[criterion] - best),
        ]
        for _, model in ranked.iterrows()
    ]
    return _grid(["model", "G", criterion.upper(), "difference"], rows)


def _clustering(selection: ModelSelection) -> list[str]:
    n_components = int(selection.best_params_["n_components"])
    sizes = label_counts(selection.labels_, n_components)
    header = ["component", *(str(component) for component in range(n_components))]
    header += ["noise"] if len(sizes) > n_components else []
    return _grid(header, [["rows", *(str(int(size)) for size in sizes)]])


def _parameters(selection: ModelSelection) -> list[str]:
    estimator = selection.best_estimator_
    compact = estimator._fitted_parameters()
    n_components, n_features = compact.means.shape
    components = [str(component) for component in range(n_components)]
    names = getattr(estimator, "feature_names_in_", None)
    features = (
        [str(name) for name in names]
        if names is not None
        else [f"x{index}" for index in range(n_features)]
    )
    covariances = to_public(compact.covariances, compact.form, True, n_components, n_features)
    lines = [
        "Mixing probabilities:",
        *_grid(["", *components], [["weight", *(_general(w) for w in compact.weights)]]),
        "",
        "Means (one column per component):",
        *_grid(
            ["", *components],
            [
                [feature, *(_general(value) for value in compact.means[:, index])]
                for index, feature in enumerate(features)
            ],
        ),
        "",
        "Covariances:",
    ]
    for component in range(n_components):
        lines.append(f"  component {component}:")
        lines += _grid(
            ["", *features],
            [
                [feature, *(_general(value) for value in covariances[component, index])]
                for index, feature in enumerate(features)
            ],
            indent="    ",
        )
    return lines
