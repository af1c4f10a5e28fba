"""What the ``gaussmix fit`` command shows while it works: one row per EM start.

A row appears as soon as its start begins (the k-means start and, on the first fit after
installing, the compilation of the numba kernels come before the first iteration), fills
its bar and stops its clock when the start ends, and says how it ended: converged, reached
``max_iter``, discarded (a component collapsed for good), interrupted, and which start was
kept (the best lower bound: the start the estimator returns).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
from rich.text import Text

if TYPE_CHECKING:
    from gaussmix.em import IterationInfo

__all__ = ["FitProgress", "kernels_need_compiling"]

# How a start ended (the "state" of its row).
STARTING = "k-means start"
RUNNING = "iterating"
CONVERGED = "converged"
MAX_ITER = "max_iter"
DISCARDED = "discarded"
INTERRUPTED = "interrupted"
KEPT = "kept"


def kernels_need_compiling() -> bool | None:
    """Whether the first fit will compile the numba kernels rather than load them.

    numba caches the machine code of :mod:`gaussmix._compiled` on disk (its ``cache=True``
    index, invalidated when the source changes); the first fit after installing compiles
    it, about 15–30 s. Reading the index costs a file read, after importing numba, which
    the fit needs anyway.

    Returns
    -------
    bool or None
        False without numba (nothing to compile) or with a float64 E-step in the cache;
        True when it is missing; None when numba's cache cannot be inspected.
    """
    from gaussmix import compiling, fused

    if not fused.available():
        return False
    from gaussmix import _compiled

    index = compiling.cache_index(_compiled.block_moments)
    if index is None:
        return None
    try:
        return not any("float64" in str(key[0][0]) for key in index)
    except (IndexError, TypeError):  # another layout of numba's keys: "unknown"
        return None


class _Clock(ProgressColumn):
    """Seconds since the start began, frozen when it ends."""

    def render(self, task: Any) -> Text:
        stopped = task.fields.get("stopped")
        seconds = task.elapsed if stopped is None else stopped
        return Text(f"{seconds or 0.0:6.1f} s", style="progress.elapsed")


class FitProgress:
    """The rows of a fit, fed by ``GaussianMixture(callback=...)``.

    Parameters
    ----------
    console : rich.console.Console
        Where the rows are drawn (stderr).
    n_init : int
        Number of starts.
    max_iter, tol
        The fit's; a start ends when its iteration meets the convergence rule
        (``IterationInfo.converged``) or at ``max_iter`` iterations.
    enabled : bool
        False draws nothing (``--quiet``, ``--json``); the starts are still followed.
    lines : bool, default=False
        One plain line per iteration on stderr instead of the rows, written as soon as the
        iteration ends (``gaussmix fit --verbose``): a log or a supervising program can
        follow it, while the rows are only drawn on a terminal.

    Attributes
    ----------
    last : dict of int to IterationInfo
        The last iteration of every start seen.
    """

    def __init__(
        self,
        console: Console,
        n_init: int,
        max_iter: int,
        tol: float,
        enabled: bool,
        lines: bool = False,
    ):
        self.n_init = n_init
        self.lines = lines
        self.max_iter = max_iter
        self.tol = tol
        self.progress = Progress(
            TextColumn("start {task.fields[run]}"),
            BarColumn(bar_width=12),
            TextColumn("{task.fields[state]:<13}"),
            TextColumn("iteration {task.completed:>4.0f}"),
            TextColumn("log-lik {task.fields[log_likelihood]:>11}"),
            TextColumn("change {task.fields[change]:>8}"),
            _Clock(),
            console=console,
            disable=lines or not enabled,
        )
        self.tasks: dict[int, Any] = {}
        self.last: dict[int, IterationInfo] = {}
        self.ended: dict[int, str] = {}

    def __enter__(self) -> FitProgress:
        self.progress.start()
        self._begin(0)
        return self

    def __exit__(self, kind: type[BaseException] | None, *exception: object) -> None:
        interrupted = kind is not None and issubclass(kind, KeyboardInterrupt)
        self.close(INTERRUPTED if interrupted else DISCARDED)
        self.progress.stop()

    # ------------------------------------------------------------------ rows
    def _begin(self, init: int) -> None:
        if init in self.tasks or init >= self.n_init:
            return
        self.tasks[init] = self.progress.add_task(
            "fit",
            total=None,
            run=init + 1,
            state=STARTING,
            log_likelihood="",
            change="",
            stopped=None,
        )

    def _end(self, init: int, state: str) -> None:
        task = self.tasks[init]
        done = self.last[init].iteration if init in self.last else 0
        elapsed = self.progress.tasks[self._position(task)].elapsed
        self.progress.update(task, total=max(done, 1), completed=done, state=state, stopped=elapsed)
        self.ended[init] = state

    def _position(self, task: Any) -> int:
        return next(i for i, shown in enumerate(self.progress.tasks) if shown.id == task)

    def __call__(self, info: IterationInfo) -> None:
        """Record an iteration; called by the estimator after every one."""
        for earlier in range(info.init):
            # A start that stopped without meeting the criterion was discarded.
            if earlier in self.tasks and earlier not in self.ended:
                self._end(earlier, DISCARDED)
        self._begin(info.init)
        self.last[info.init] = info
        self.ended.pop(info.init, None)  # a re-seeded start goes on after a small change
        change = "" if math.isinf(info.change) else f"{info.change:.1e}"
        if self.lines:
            print(
                f"start {info.init + 1} iteration {info.iteration} mean log-likelihood "
                f"{info.log_likelihood:.6f} change "
                f"{'-' if math.isinf(info.change) else f'{info.change:.2e}'}",
                file=sys.stderr,
                flush=True,
            )
        self.progress.update(
            self.tasks[info.init],
            total=self.max_iter,
            completed=info.iteration,
            state=RUNNING,
            log_likelihood=f"{info.log_likelihood:.6f}",
            change=change,
            stopped=None,
        )
        converged = info.converged
        if converged or info.iteration >= self.max_iter:
            self._end(info.init, CONVERGED if converged else MAX_ITER)
            # The next start begins with its k-means partition: show it at once.
            self._begin(info.init + 1)

    def close(self, state: str = DISCARDED) -> None:
        """End every row: starts never begun are removed, running ones get ``state``.

        Parameters
        ----------
        state : str, default="discarded"
            How a start still running ended: the fit returned without it meeting the
            criterion (it was discarded), or was interrupted.
        """
        for init, task in list(self.tasks.items()):
            if init not in self.last:
                self.progress.remove_task(task)
                del self.tasks[init]
            elif init not in self.ended:
                self._end(init, state)

    def kept(self, lower_bound: float, n_iter: int) -> int | None:
        """Mark and return the start the fit kept: its lower bound is the model's.

        Parameters
        ----------
        lower_bound : float
            The fitted model's ``lower_bound_``.
        n_iter : int
            Its ``n_iter_``.

        Returns
        -------
        int or None
            The 0-based start, or None when no row matches (no iterations ran).
        """
        self.close()
        for init, info in sorted(self.last.items()):
            if self.ended.get(init) == DISCARDED:
                continue
            if info.log_likelihood == lower_bound and info.iteration == n_iter:
                if self.n_init > 1:
                    self.progress.update(self.tasks[init], state=f"{self.ended[init]}, {KEPT}")
                return init
        return None
