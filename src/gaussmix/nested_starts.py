"""Second starts for model selection: a model starts again from a nested model's fit.

With G fixed, mclust's models are nested letter by letter (volume E < V; shape and
orientation I < E < V): EEE is EEV with equal orientations, EVE is VVE with equal volumes.
A model's maximum likelihood is then at least that of every model nested in it, yet EM from
one shared start can end lower (another local maximum). Started from the posterior of the
nested model's fit, the first M-step of the larger model cannot lower the likelihood (the
nested parameters are feasible for it), so the kept fit is at least as likely as every
nested one. On the five bundled data sets this removes every cell where the table was
worse than mclust's or failed where mclust fits (`benchmarks/compare_table_mclust.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["EXTRA_SOURCES", "is_nested", "restart_from_nested"]

_ORDER = {"I": 0, "E": 1, "V": 2}

# VVE is also started from VEV, which is not nested in it: VVE's single shared-start fits
# were the cells furthest below mclust's (thyroid G = 2 by 50 in BIC, iris G = 5 by 35;
# `benchmarks/results_table_mclust.md`), and VEV's fit is the nearest variable-shape one.
EXTRA_SOURCES = {"VVE": ("EVE", "VEV")}

Cell = tuple[dict[str, Any], Any]  # (table row, fit result or None)


def is_nested(inner: str, outer: str) -> bool:
    """Whether mclust model ``inner`` is a special case of ``outer``, for the same G.

    Parameters
    ----------
    inner, outer : str
        mclust codes (three letters).

    Returns
    -------
    bool
        True when every letter of ``inner`` is at most as free as ``outer``'s and the two
        differ.
    """
    if len(inner) != 3 or len(outer) != 3 or inner == outer:
        return False
    return all(_ORDER[a] <= _ORDER[b] for a, b in zip(inner, outer, strict=True))


def _log_likelihood(cell: Cell) -> float:
    row, result = cell
    return -math.inf if result is None else float(row["log_likelihood"])


def _sources(code: str, cells: dict[str, Cell], gap: Callable[[float], float]) -> list[str]:
    """Fitted models to start ``code`` from: the likeliest nested one that beats it by more
    than the gap (or any, when ``code`` failed), and the extra sources that do."""
    own = _log_likelihood(cells[code])
    threshold = own + gap(own) if math.isfinite(own) else -math.inf
    nested = [
        name for name in cells if is_nested(name, code) and _log_likelihood(cells[name]) > threshold
    ]
    extra = EXTRA_SOURCES.get(code, ())
    chosen = {name for name in extra if name in cells and cells[name][1] is not None}
    if nested:
        chosen.add(max(nested, key=lambda name: _log_likelihood(cells[name])))
    return sorted(chosen)


def restart_from_nested(
    cells: dict[str, Cell],
    order: Sequence[str],
    refit: Callable[[str, np.ndarray], Cell],
    posterior: Callable[[Any], np.ndarray],
    gap: Callable[[float], float],
) -> dict[str, Cell]:
    """The cells of one G after second starts from nested models' fits.

    Parameters
    ----------
    cells : dict of str to (row, result)
        Every model's first fit at this G (result None for a failed fit).
    order : sequence of str
        The models by increasing number of parameters: a model is revisited after all
        the models nested in it, so that it starts from their improved fits.
    refit : callable
        ``refit(code, responsibilities)`` fits ``code`` from a start; returns a cell.
    posterior : callable
        ``posterior(result)``: the responsibilities of the data under a fit.
    gap : callable
        ``gap(log_likelihood)``: by how much a nested fit must be likelier to be worth a
        second start (differences within EM's convergence tolerance are not).

    Returns
    -------
    dict of str to (row, result)
        For every model the likelier of its fits; a second fit's row names its source
        in ``start``.
    """
    cells = dict(cells)
    for code in order:
        for source in _sources(code, cells, gap):
            again = refit(code, posterior(cells[source][1]))
            if again[1] is not None and _log_likelihood(again) > _log_likelihood(cells[code]):
                again[0]["start"] = source
                cells[code] = again
    return cells
