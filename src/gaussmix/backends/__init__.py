"""Executors that visit the rows of the data in chunks and sum their statistics."""

from gaussmix.backends.numpy import NumpyBackend

__all__ = ["NumpyBackend"]
