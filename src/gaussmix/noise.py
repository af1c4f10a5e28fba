"""A uniform noise component (mclust's ``noise``): its density, its E-step and the counts.

The mixture is f(x) = Σ_k π_k N(x | μ_k, Σ_k) + π_0·V⁻¹ with Σ_{k≥0} π_k = 1, the noise
density V⁻¹ constant everywhere (Banfield & Raftery 1993). ``V`` defaults to mclust's
``hypvol``: the smaller of the volume of the data's bounding box and that of the bounding
box of its principal-component scores.
"""

from __future__ import annotations

from gaussmix.covariance.base import CovarianceModel

__all__ = ["free_parameters"]


def free_parameters(
    model: CovarianceModel,
    n_components: int,
    n_features: int,
    *,
    equal_proportions: bool = False,
    noise: bool = False,
) -> int:
    """Free parameters of a mixture: weights, means, covariances, and the noise's two.

    Parameters
    ----------
    model : CovarianceModel
    n_components, n_features : int
        G and D (G = 0 only with noise: the noise proportion alone, as mclust counts it).
    equal_proportions : bool, default=False
        π_k = 1/G fixed: the G − 1 weights are not free.
    noise : bool, default=False
        A noise component: its proportion and V⁻¹ add 2 (mclust's ``nMclustParams``).

    Returns
    -------
    int
    """
    if n_components == 0:
        return 1
    count = model.n_parameters(n_components, n_features) + n_components * n_features
    if not equal_proportions:
        count += n_components - 1
    if noise:
        count += 2
    return int(count)
