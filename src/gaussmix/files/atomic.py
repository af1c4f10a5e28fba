"""Atomic file writes: readers see the old file or the complete new one, never a partial one.

The contents go to a temporary file beside the destination, named
``.{name}.pid{pid}.{host}.{token}.partial`` (the writer's process id and host name, then a
random token), which is flushed, ``fsync``-ed and renamed over the destination. An error or
Ctrl-C removes it; only a process killed outright (SIGKILL, power loss) can leave one behind,
and the next successful write of the same destination removes those whose writer is gone.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import socket
import time
from pathlib import Path

from gaussmix.exceptions import OutputFileError

__all__ = ["STALE_AFTER_SECONDS", "atomic_write", "partial_name", "remove_stale_partials"]

STALE_AFTER_SECONDS = 24 * 3600
"""Age beyond which a leftover temporary file is stale whoever wrote it.

A write creates its temporary file only once the whole payload is built and writes it
in one call, so no live writer keeps one for anywhere near a day.
"""

# File names are at most 255 bytes; the pid, host and token take about 80 of them.
_NAME_PREFIX_LENGTH = 100
_HOST_LENGTH = 40
_SUFFIX = ".partial"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:_HOST_LENGTH] or "host"


def _prefix(destination: Path) -> str:
    return f".{destination.name[:_NAME_PREFIX_LENGTH]}."


def partial_name(destination: str | os.PathLike[str], token: str | None = None) -> str:
    """The name of the temporary file a write of ``destination`` uses in its folder.

    Parameters
    ----------
    destination : str or path-like
        The file being written.
    token : str, optional
        The random part (16 hex digits); drawn when not given.

    Returns
    -------
    str
        ``.{name}.pid{pid}.{host}.{token}.partial``.
    """
    token = secrets.token_hex(8) if token is None else token
    return f"{_prefix(Path(destination))}pid{os.getpid()}.{_host()}.{token}{_SUFFIX}"


def _process_is_running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (when unsure: True, the safe answer)."""
    if os.name != "posix":
        # On Windows os.kill(pid, 0) would send CTRL_C_EVENT, not test for the process.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # PermissionError: it exists, as another user's process
    return True


def _is_stale(entry: Path, prefix: str, now: float) -> bool:
    match = re.fullmatch(
        re.escape(prefix) + r"pid(\d{1,10})\.([A-Za-z0-9-]+)\.[0-9a-f]+" + re.escape(_SUFFIX),
        entry.name,
    )
    if match is not None and match.group(2) == _host() and int(match.group(1)) != os.getpid():
        if not _process_is_running(int(match.group(1))):
            return True
    try:
        return now - entry.lstat().st_mtime > STALE_AFTER_SECONDS
    except OSError:
        return False


def remove_stale_partials(destination: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that earlier, killed writes of ``destination`` left.

    A file ``.{name}.….partial`` beside ``destination`` is removed when it was written on
    this machine by a process that no longer runs, or when it is older than
    :data:`STALE_AFTER_SECONDS` (whichever process wrote it, e.g. one on another machine
    sharing the folder). Files of running writers, this process's included, are kept.
    Errors (a file already gone, no permission) are ignored.

    Parameters
    ----------
    destination : str or path-like
        The file whose leftovers to remove.

    Returns
    -------
    list of Path
        The files removed.
    """
    destination = Path(destination)
    prefix = _prefix(destination)
    now = time.time()
    removed = []
    try:
        entries = list(destination.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(_SUFFIX)):
            continue
        if _is_stale(entry, prefix, now):
            try:
                entry.unlink()
            except OSError:
                continue
            removed.append(entry)
    return removed


def _reason(error: OSError, destination: Path) -> str:
    """What went wrong and how to fix it, naming the destination (never the temporary file)."""
    folder = str(destination.parent)
    code = error.errno
    cause = error.strerror or str(error)
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"the folder {folder!r} is not writable by this user ({cause}). Write to another "
            "folder, or make this one writable"
        )
    if code == errno.EROFS:
        return f"the folder {folder!r} is on a read-only file system ({cause}). Write elsewhere"
    if code == errno.EISDIR:
        return f"it is a folder ({cause}). Give the path of a file, e.g. inside that folder"
    if code == errno.ENOTDIR:
        return f"a part of {folder!r} is a file, not a folder ({cause}). Check the path"
    if code == errno.ENOENT:
        return f"the folder {folder!r} does not exist ({cause}). Create it first"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"the disk or quota is full ({cause}). Free some space, or write elsewhere"
    if code == errno.ENAMETOOLONG:
        return f"the name is too long for the file system ({cause}). Use a shorter name"
    return f"{cause}. Check the path and the folder's permissions"


def atomic_write(
    path: str | os.PathLike[str],
    payload: bytes,
    *,
    what: str = "output file",
    error: type[Exception] = OutputFileError,
) -> Path:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path``.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.
    payload : bytes
        The complete contents.
    what : str, default="output file"
        What the file is ("model file", "table", "figure"), for error messages.
    error : exception type, default=OutputFileError
        Raised, naming ``path``, its cause and a fix, when the file cannot be written.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    OutputFileError
        (or ``error``) When the folder is missing or not writable, ``path`` is a folder,
        the disk is full, and so on; the OS error is its ``__cause__``.

    Notes
    -----
    ``os.replace`` is atomic when source and destination are on the same file system,
    which is why the temporary file is created in the destination's own folder. On any
    error (or Ctrl-C) the temporary file is removed and an existing destination is left
    untouched. After a successful write, the leftovers of earlier killed writes of the
    same destination are removed (:func:`remove_stale_partials`).
    """
    destination = Path(path)

    def failure(cause: OSError) -> Exception:
        reason = _reason(cause, destination)
        return error(f"the {what} {str(destination)!r} must be writable, but {reason}.")

    if destination.is_dir():
        raise failure(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    # os.open with mode 0o666 lets the umask decide the permissions, as for any new file
    # (tempfile.mkstemp would make every model and figure private to its owner).
    temporary = destination.with_name(partial_name(destination))
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as cause:
        raise failure(cause) from cause
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException as cause:
        temporary.unlink(missing_ok=True)
        if isinstance(cause, OSError):
            raise failure(cause) from cause
        raise
    remove_stale_partials(destination)
    return destination
