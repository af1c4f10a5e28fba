"""Errors raised by gaussmix.

Every error is a :class:`ValueError` subclass so that callers who already catch
``ValueError`` (as scikit-learn users do) keep working, and every message follows one
pattern: what must hold, what was received, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CollapsedComponentError",
    "CollapsedComponentWarning",
    "DataFileError",
    "InvalidInputError",
    "InvalidParameterError",
    "ModelFileError",
    "NonNumericDataError",
    "OutputFileError",
]


class InvalidInputError(ValueError):
    """The data given to a fit or predict method cannot be used (shape, NaN/inf, size)."""


class NonNumericDataError(InvalidInputError, TypeError):
    """The data hold values that are not numbers.

    It is also a :class:`TypeError`, because NumPy raises one for such values and
    scikit-learn's estimator checks expect that type.
    """


class InvalidParameterError(ValueError):
    """A hyper-parameter or an initial value has the wrong type, value or shape."""


class CollapsedComponentError(ValueError):
    """A mixture component lost its support: its covariance is not positive definite.

    Parameters
    ----------
    message : str
        The full explanation, naming the component and the remedies.
    component : int or None
        Index of the component that collapsed, when known.
    n_k : float or None
        Effective number of points of that component, when known.
    """

    def __init__(self, message: str, component: int | None = None, n_k: float | None = None):
        super().__init__(message)
        self.component = component
        self.n_k = n_k


class CollapsedComponentWarning(UserWarning):
    """A component collapsed during a fit and was re-seeded, or a start was discarded.

    The fit went on (see :mod:`gaussmix.collapse` for the policy); the message names
    the components, their n_k, and the remedies.
    """


class ModelFileError(ValueError):
    """A model file cannot be written or read: missing, corrupted, foreign or too new."""


class OutputFileError(OSError, ValueError):
    """A result (a table, a figure) cannot be written: folder missing or not writable, disk full.

    It is an :class:`OSError` as well, the type the failing system call raised (it is the
    ``__cause__``); its message names the destination, never the temporary file of the
    atomic write, and says how to fix it.
    """


class DataFileError(ValueError):
    """A data file cannot be read: missing, unparsable, of an unknown kind or not numeric."""
