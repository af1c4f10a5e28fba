"""Exact internal rescaling of data whose magnitude would overflow or underflow the EM sums.

Squares of values near 1e±160 (float64) or 1e±19 (float32) leave the floating-point
range, and with them the scatter, the k-means distances and the log-densities. Data
whose largest magnitude lies outside ``[2^-SAFE_EXPONENT, 2^SAFE_EXPONENT]`` are
therefore fitted as X·2^-e, with e the binary exponent of max |X|, and the parameters
scaled back. Multiplying by a power of two is exact in binary floating point (it only
changes the exponent), so nothing is rounded on the way in or out, and every
covariance model is equivariant under a common scale, so the fitted mixture is the
same one in exact arithmetic.

Data inside the band are left untouched, so that ordinary fits are bit-for-bit what
they would be without this module.
"""

from __future__ import annotations

import math

import numpy as np

from gaussmix.exceptions import InvalidInputError
from gaussmix.parameters import MixtureParameters

__all__ = [
    "SAFE_EXPONENT",
    "check_representable",
    "data_exponent",
    "log_density_offset",
    "model_exponent",
    "scale_parameters",
]

SAFE_EXPONENT = 20
"""Data with max |X| in [2^-20, 2^20] (about 1e-6 to 1e6) are fitted as they are."""

# reg_covar·4^-e must stay far below overflow; beyond this it dominates every variance
# anyway, so scaling further would only turn it into inf.
_MAX_SCALED_REG_EXPONENT = 100


def data_exponent(X: np.ndarray, reg_covar: float) -> int:
    """The exponent e such that the data are fitted as X·2^-e (0: fitted as they are).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated, finite data.
    reg_covar : float
        The regularisation of the fit, in the units of X.

    Returns
    -------
    int
        0 when max |X| lies in ``[2^-SAFE_EXPONENT, 2^SAFE_EXPONENT]`` or is zero;
        otherwise the binary exponent of max |X|, so that the scaled data lie in
        [-1, 1], raised where needed so that reg_covar·4^-e stays finite.
    """
    # max and min avoid the temporary copy that np.abs(X) would make of a large X.
    largest = max(abs(float(X.max())), abs(float(X.min())))
    if largest == 0.0:
        return 0
    exponent = math.frexp(largest)[1]
    if -SAFE_EXPONENT <= exponent <= SAFE_EXPONENT:
        return 0
    if reg_covar > 0:
        reg_exponent = math.frexp(reg_covar)[1]
        exponent = max(exponent, math.ceil((reg_exponent - _MAX_SCALED_REG_EXPONENT) / 2))
        if -SAFE_EXPONENT <= exponent <= SAFE_EXPONENT:
            return 0
    return exponent


def model_exponent(parameters: MixtureParameters) -> int:
    """The exponent e such that predictions are evaluated as X·2^-e against the mixture·2^-e.

    Chosen from the mixture, not from the rows to evaluate: one row far from the model
    must not rescale the others (a row at 1e155 would push unit-scale rows and variances
    towards the subnormal range). The kernels handle such rows themselves
    (:func:`gaussmix.kernels.far_row_posterior`).

    Parameters
    ----------
    parameters : MixtureParameters
        A fitted mixture (finite, positive variances).

    Returns
    -------
    int
        0 when the largest of max |μ| and the largest standard deviation lies in
        ``[2^-SAFE_EXPONENT, 2^SAFE_EXPONENT]``; otherwise its binary exponent, so that
        the scaled mixture has means and standard deviations of at most about one.
    """
    covariances = np.asarray(parameters.covariances, dtype=np.float64)
    if not parameters.form.elementwise:
        variances = np.diagonal(covariances, axis1=-2, axis2=-1)
    else:
        variances = covariances
    largest = max(float(np.max(np.abs(parameters.means))), math.sqrt(float(np.max(variances))))
    if largest == 0.0 or not math.isfinite(largest):
        return 0
    exponent = math.frexp(largest)[1]
    return exponent if not -SAFE_EXPONENT <= exponent <= SAFE_EXPONENT else 0


def scale_parameters(parameters: MixtureParameters, exponent: int) -> MixtureParameters:
    """The parameters of the mixture of 2^exponent·x when x follows ``parameters``.

    Parameters
    ----------
    parameters : MixtureParameters
        A mixture.
    exponent : int
        The power of two to scale by (negative to shrink).

    Returns
    -------
    MixtureParameters
        Means times 2^exponent, covariances times 4^exponent, precision Cholesky factors
        times 2^-exponent; weights unchanged. Exact unless a value leaves the range of
        float64.
    """
    if exponent == 0:
        return parameters
    # Leaving the float64 range is reported by check_representable, with a remedy.
    with np.errstate(over="ignore", under="ignore"):
        return MixtureParameters(
            weights=parameters.weights,
            means=np.ldexp(parameters.means, exponent),
            covariances=np.ldexp(parameters.covariances, 2 * exponent),
            precisions_cholesky=np.ldexp(parameters.precisions_cholesky, -exponent),
            form=parameters.form,
        )


def log_density_offset(exponent: int, n_features: int) -> float:
    """What to add to a log-density of the scaled data to get that of the original data.

    Parameters
    ----------
    exponent : int
        The data were fitted as X·2^-exponent.
    n_features : int
        D.

    Returns
    -------
    float
        ``−D·exponent·log 2`` (the log of the Jacobian of x ↦ x·2^-exponent).
    """
    return -n_features * exponent * math.log(2.0)


def check_representable(parameters: MixtureParameters, exponent: int) -> None:
    """Raise unless scaled-back parameters are finite with positive variances.

    Parameters
    ----------
    parameters : MixtureParameters
        Parameters in the units of the original data.
    exponent : int
        The exponent the data were fitted with (max |X| is about 2^exponent).

    Raises
    ------
    InvalidInputError
        When a covariance or precision overflows or underflows float64.
    """
    if not parameters.form.elementwise:
        variances = np.diagonal(parameters.covariances, axis1=-2, axis2=-1)
        factors = np.diagonal(parameters.precisions_cholesky, axis1=-2, axis2=-1)
    else:
        variances, factors = parameters.covariances, parameters.precisions_cholesky
    tiny = np.finfo(np.float64).tiny
    finite = all(
        np.all(np.isfinite(array))
        for array in (parameters.means, parameters.covariances, parameters.precisions_cholesky)
    )
    if finite and np.all(variances >= tiny) and np.all(factors >= tiny):
        return
    raise InvalidInputError(
        "The fitted covariances must be representable in float64 (variances between about "
        f"1e-308 and 1e308); got data with max |X| of about 2^{exponent}, whose variances of "
        f"order 2^{2 * exponent} are not. Rescale X (e.g. divide it by its standard "
        "deviation) before fitting."
    )
