"""Compiled functions whose compilation never holds up Ctrl-C or the end of the program.

numba compiles a function (or loads it from its disk cache) at its first call with new
argument types: 10–30 s for the fused kernels on a fresh install of the 2-core machine.
No Python code runs inside LLVM, so a Ctrl-C in the compiling thread waits for the end of
the current pass (seconds), and one in a thread of the backend's pool cannot stop it at
all; the interpreter then waits for that thread at exit. So :func:`call` compiles in a
daemon thread of its own while the caller waits in short, interruptible waits:

- in the main thread, Ctrl-C raises KeyboardInterrupt at once; the compilation goes on in
  the background and serves the next call;
- a waiting worker thread gives up once the interpreter is shutting down, so a program
  that ends (after Ctrl-C, say) is not kept alive by a compilation nobody needs.

Later calls with the same argument types go straight to the compiled code. Telling them
apart uses numba's own type fingerprint of the arguments (about 3 µs for the 13 arguments
of a block; the same key written in Python took 60–100 µs on the shared 2-core machine, and
the fused kernels make one call per block of 8 chunks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

__all__ = ["cache_index", "call", "in_disk_cache"]

# How often a waiting thread looks up: the delay a Ctrl-C can see in the main thread (if
# the signal was delivered to another thread) and the end of the program in a worker.
_POLL_SECONDS = 0.05

_lock = threading.Lock()
_compiled: set[tuple[Any, ...]] = set()
_compiling: dict[tuple[Any, ...], threading.Event] = {}


@cache
def _fingerprint() -> Callable[[Any], Any]:
    try:
        # The C function numba's dispatcher computes its type keys with; not public API,
        # hence the fallback.
        from numba._dispatcher import compute_fingerprint
    except ImportError:
        return _type_key
    return compute_fingerprint


def _arguments_key(arguments: tuple[Any, ...]) -> Any:
    try:
        return _fingerprint()(arguments)
    except (TypeError, ValueError, NotImplementedError):
        return _type_key(arguments)


def _type_key(value: Any) -> Any:
    """What numba's type of an argument depends on, in Python (no numba.typeof per call)."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        return (
            value.dtype.str,
            value.ndim,
            flags.c_contiguous,
            flags.f_contiguous,
            flags.writeable,
            flags.aligned,
        )
    if isinstance(value, tuple):
        return tuple(_type_key(item) for item in value)
    return type(value)


def _shutting_down() -> bool:
    # threading sets _SHUTTING_DOWN before it joins the non-daemon threads (the backend's
    # pool among them) at exit; the main thread counts as alive until after that join.
    return bool(getattr(threading, "_SHUTTING_DOWN", False)) or not (
        threading.main_thread().is_alive()
    )


def _wait(done: threading.Event) -> None:
    in_main_thread = threading.current_thread() is threading.main_thread()
    while not done.wait(_POLL_SECONDS):
        if not in_main_thread and _shutting_down():
            raise RuntimeError(
                "the program is ending: a compiled kernel was still being compiled, and the "
                "work that needed it is abandoned"
            )


def _compile_in_background(
    dispatcher: Any, arguments: tuple[Any, ...], key: tuple[Any, ...], done: threading.Event
) -> dict[str, Any]:
    """Start compiling ``dispatcher`` for ``arguments``; ``done`` is set when it has ended.

    Returns the dictionary that then holds the exception under ``"error"``, if any.
    """
    import numba

    outcome: dict[str, Any] = {}

    def compile_signature() -> None:
        try:
            dispatcher.compile(tuple(numba.typeof(argument) for argument in arguments))
        except BaseException as error:  # handed to the waiting caller
            outcome["error"] = error
        with _lock:
            if "error" not in outcome:
                _compiled.add(key)
            del _compiling[key]
        done.set()

    try:
        threading.Thread(target=compile_signature, name="gaussmix-compile", daemon=True).start()
    except BaseException:
        with _lock:
            del _compiling[key]
        done.set()
        raise
    return outcome


def call(dispatcher: Callable[..., Any], *arguments: Any) -> Any:
    """``dispatcher(*arguments)``, compiling it first in a daemon thread when needed.

    Parameters
    ----------
    dispatcher : numba Dispatcher
        A function decorated with ``numba.njit``.
    *arguments
        Its arguments.

    Returns
    -------
    object
        What the function returns.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C while the main thread waits for the compilation.
    RuntimeError
        In a worker thread waiting for a compilation when the interpreter shuts down.
    """
    key = (dispatcher, _arguments_key(arguments))
    if key not in _compiled:
        _compile_and_wait(dispatcher, arguments, key)
    return dispatcher(*arguments)


def cache_index(dispatcher: Any) -> dict[Any, Any] | None:
    """numba's disk-cache index of ``dispatcher``: {(signature, target, ...): file}.

    numba empties it when the source changed. It is not public API, so any failure to
    read it gives None ("unknown").

    Parameters
    ----------
    dispatcher : numba Dispatcher
        A function decorated with ``numba.njit(cache=True)``.

    Returns
    -------
    dict or None
    """
    try:
        return dict(dispatcher._cache._cache_file._load_index())
    except Exception:  # numba internals: any change of them means "unknown"
        return None


def in_disk_cache(dispatcher: Any) -> bool:
    """Whether numba's disk cache holds machine code of ``dispatcher`` (a load, not a compile).

    Parameters
    ----------
    dispatcher : numba Dispatcher

    Returns
    -------
    bool
    """
    return bool(cache_index(dispatcher))


def _compile_and_wait(dispatcher: Any, arguments: tuple[Any, ...], key: tuple[Any, ...]) -> None:
    """Compile ``dispatcher`` for ``key`` in a daemon thread, or wait for the thread that does."""
    while key not in _compiled:
        with _lock:
            done = _compiling.get(key)
            owner = done is None
            if owner:
                done = _compiling[key] = threading.Event()
        if owner:
            outcome = _compile_in_background(dispatcher, arguments, key, done)
            _wait(done)
            if "error" in outcome:
                raise outcome["error"]
        else:
            _wait(done)
