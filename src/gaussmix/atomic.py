"""Atomic file writes, under their public path; the code is :mod:`gaussmix.files.atomic`."""

from gaussmix.files.atomic import (
    STALE_AFTER_SECONDS,
    atomic_write,
    partial_name,
    remove_stale_partials,
)

__all__ = ["STALE_AFTER_SECONDS", "atomic_write", "partial_name", "remove_stale_partials"]
