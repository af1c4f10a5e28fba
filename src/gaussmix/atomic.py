"""Atomic file writes: readers see the old file or the complete new one, never a partial one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], payload: bytes) -> Path:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path``.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.
    payload : bytes
        The complete contents.

    Returns
    -------
    Path
        The destination.

    Notes
    -----
    ``os.replace`` is atomic when source and destination are on the same file system,
    which is why the temporary file is created in the destination's own folder. On any
    error (or Ctrl-C) the temporary file is removed and an existing destination is left
    untouched.
    """
    destination = Path(path)
    # os.open with mode 0o666 lets the umask decide the permissions, as for any new file
    # (tempfile.mkstemp would make every model and figure private to its owner).
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(8)}.partial")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return destination
