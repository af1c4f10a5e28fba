"""Executors that visit the rows of the data in chunks and sum their statistics.

:class:`~gaussmix.backends.base.Executor` is the contract; ``numpy``, ``torch`` and
``dask`` hold the executors (the last two import their library only when used).
"""

from gaussmix.backends.base import Executor
from gaussmix.backends.numpy import NumpyBackend

__all__ = ["Executor", "NumpyBackend"]
