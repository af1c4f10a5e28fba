"""A short GIL switch interval while worker threads alternate between Python and compiled code.

A thread that comes back from a compiled (``nogil``) call waits for the GIL until the
thread holding it has run for the interpreter's switch interval (5 ms by default). The
fits of small data alternate between short compiled calls (an EM loop of 0.1–3 ms) and
Python, so with the default each return can wait longer than the call took. On the shared
2-core machine, in one interleaved run at load average 4.4 (3 repeats), two threads fitting
Old Faithful's 126 models took 1.22 s at 5 ms and 0.56 s at 0.1 ms (one thread: 1.21 s);
at load average 7–9 no mode differed beyond the noise (``benchmarks/results_select.md``,
"Parallel plan"). The interval only changes when threads take turns, never what they
compute.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SWITCH_INTERVAL", "short_switch_interval"]

# Seconds; a tenth of a millisecond is well below one compiled EM loop of a small fit and
# well above the cost of a GIL hand-over (a few microseconds).
SWITCH_INTERVAL = 1e-4

# Open holds and the interval the first one found: the interpreter's setting is
# process-wide, so overlapping holds (two select_model calls in two threads) are counted
# and the last to leave restores it.
_lock = threading.Lock()
_holds = {"count": 0, "previous": 0.0}


@contextmanager
def short_switch_interval(seconds: float = SWITCH_INTERVAL) -> Iterator[None]:
    """Context in which the interpreter's switch interval is at most ``seconds``.

    Parameters
    ----------
    seconds : float, default=SWITCH_INTERVAL
        The interval while the context is open (a longer interval set by the program is
        shortened to it; a shorter one is kept).

    Yields
    ------
    None
    """
    with _lock:
        if _holds["count"] == 0:
            _holds["previous"] = sys.getswitchinterval()
            sys.setswitchinterval(min(seconds, _holds["previous"]))
        _holds["count"] += 1
    try:
        yield
    finally:
        with _lock:
            _holds["count"] -= 1
            if _holds["count"] == 0:
                sys.setswitchinterval(_holds["previous"])
