"""GaussianMixture: a drop-in for scikit-learn's estimator on the sufficient-statistics engine.

The class is the scikit-learn shell: parameters, fitted attributes, and methods that
validate, delegate to the engine (:mod:`gaussmix.fitting`) and store. What the data are
(NumPy, torch, Dask) is :mod:`gaussmix.arrays`' business.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from gaussmix.arrays import (
    ExecutorOptions,
    FitData,
    as_input_type,
    check_rows,
    fit_data,
    make_executor,
    n_columns,
)
from gaussmix.backends.dask import PersistPolicy, check_persist
from gaussmix.blas_threads import one_blas_thread
from gaussmix.covariance import CovarianceModel, get_covariance_model
from gaussmix.covariance.attributes import (
    compact_from_dense,
    public_form,
    reports_dense,
    to_public,
)
from gaussmix.covariance.decomposition import decompose, decompose_variances
from gaussmix.covariance.forms import as_form
from gaussmix.em import CONVERGENCE_RULES, IterationInfo
from gaussmix.exceptions import InvalidParameterError
from gaussmix.fitted_mixture import FittedMixtureMixin
from gaussmix.fitting import (
    FitResult,
    FitSettings,
    GivenStart,
    WarmStart,
    fit_mixture,
    fit_warnings,
)
from gaussmix.initialization import check_responsibilities_init
from gaussmix.missing import MISSING_CHOICES
from gaussmix.noise import check_noise_init
from gaussmix.online import OnlineSettings, check_online_settings, partial_fit_step
from gaussmix.parameters import MixtureParameters
from gaussmix.priors import check_prior
from gaussmix.semisupervised import with_labels
from gaussmix.validation import check_init_arrays, check_number

__all__ = ["GaussianMixture", "estimator_from_fit"]

# Parameters with a fixed set of values: the values, and the advice of the error.
_CHOICES: dict[str, tuple[tuple[Any, ...], str]] = {
    "convergence": (
        CONVERGENCE_RULES,
        "Use 'absolute' (scikit-learn's rule) or 'relative' (mclust's).",
    ),
    "init_params": (
        ("kmeans", "k-means++", "random", "random_from_data", "hierarchical"),
        "Use 'kmeans' (the default) unless you need another start.",
    ),
    "backend": (("numpy", "torch", "auto"), "Use 'auto' to follow the type of X."),
    "dtype": ((None, "float32", "float64"), "Use None to keep the dtype of X."),
    "semi_supervised": ((False, True), "Use True to keep the components given in y."),
    "missing": (MISSING_CHOICES, "Use 'em' to fit rows with NaN entries as missing values."),
    "equal_proportions": ((False, True), "Use True to fix the proportions to 1/n_components."),
    "noise": ((False, True), "Use True to add a uniform noise component."),
}
# Frames between the warnings of a fit and the user's call: _fit_unguarded, _fit,
# fit (or fit_predict), the caller.
_FIT_STACKLEVEL = 4


class GaussianMixture(FittedMixtureMixin, DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, fitted attributes and methods, plus sample weights, the
    log-likelihood of the returned parameters and its history, and chunked E-steps.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : str, default="full"
        ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"`` (scikit-learn's shapes), or any
        of the fourteen mclust codes EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV,
        VEV, EVV, VVV (dense ``(n_components, n_features, n_features)`` covariance arrays).
    tol : float, default=1e-3
        Convergence threshold; what it bounds is set by ``convergence``.
    convergence : {"absolute", "relative"}, default="absolute"
        ``"absolute"`` (scikit-learn's rule): stop when the mean per-sample log-likelihood
        changes by less than ``tol``. ``"relative"`` (mclust's rule, with its default
        ``tol=1e-5``): stop when the total, sample-weighted log-likelihood L changes by
        less than ``tol·(1 + |L|)``.
    reg_covar : float, default=1e-6
        Non-negative value added to every variance, keeping covariances positive definite.
        For the constrained mclust models it is added to the scatter (n_k·reg_covar·I) before
        the M-step, which keeps the constraint exact and, for the four scikit-learn models,
        is the same thing.
    max_iter : int, default=100
        Maximum number of EM iterations per start.
    n_init : int, default=1
        Number of starts; the one with the highest final lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "hierarchical"}, \
default="kmeans"
        How initial responsibilities are drawn. ``"hierarchical"`` is mclust's model-based
        agglomerative clustering (deterministic; subsamples 2000 rows beyond that).
    weights_init : array-like of shape (n_components,), default=None
        Initial weights; overrides the drawn ones.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means; overrides the drawn ones.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances) in the shape of ``covariances_``.
    responsibilities_init : array-like, default=None
        Starting responsibilities, shape (n_samples, n_components) (soft or one-hot; an
        all-zero row leaves that row out of the first M-step), or integer labels of shape
        (n_samples,); EM then starts with an M-step from them,
        and ``init_params`` is not used. Overridden by ``weights_init``, ``means_init``
        and ``precisions_init`` where those are given.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of :meth:`sample`.
    warm_start : bool, default=False
        Continue from the previous fit's parameters (with one start) on the next ``fit``.
        Only for the same n_components, covariance_type and number of features; after a
        change of any, the next fit warns (UserWarning) and starts afresh.
    verbose : int, default=0
        0 silent; 1 prints each start and every ``verbose_interval`` iterations; 2 adds
        timing and the log-likelihood change.
    verbose_interval : int, default=10
        Iterations between progress lines.
    chunk_size : int or None, default=None
        Rows per chunk in the E-step; None picks a cache-sized value. Results do not
        depend on it beyond rounding.
    callback : callable or None, default=None
        Called with a :class:`gaussmix.em.IterationInfo` after every EM iteration.
    persist : {"auto", True, False}, default="auto"
        Dask input only: keep X in the workers' memory during the fit (True), re-read it
        from its source at every iteration (False, out-of-core), or persist when it takes
        at most half of the workers' memory ("auto"). See ``gaussmix.backends.dask``.
    backend : {"numpy", "torch", "auto"}, default="numpy"
        Where the E-step kernels run. ``"torch"`` runs them on PyTorch tensors (needs
        ``pip install 'gaussmix[torch]'``); ``"auto"`` picks torch when X is a torch tensor.
        Whatever the backend, the per-row outputs (predict, predict_proba, score_samples,
        fit_predict) follow the type of X: tensors on X's device for a tensor, NumPy
        arrays otherwise (lazy Dask arrays for Dask input).
    device : str, torch.device or None, default=None
        Device of the torch backend; None means CUDA when available, else the CPU.
    dtype : {None, "float32", "float64"}, default=None
        Precision of the kernels: None keeps float32 and float64 (integers, booleans,
        float16 and bfloat16 become float64);
        ``"float32"`` roughly doubles the speed of the products. Sufficient statistics and
        the M-step are float64 whatever the choice.
    semi_supervised : bool, default=False
        True: ``fit(X, y)`` keeps row n in component ``y[n]`` (-1: unknown) through EM
        (:mod:`gaussmix.semisupervised`). False: y is ignored, as scikit-learn's
        estimator ignores it (Pipelines and cross-validation pass class labels as y).
    missing : {"error", "em"}, default="error"
        ``"error"`` refuses NaN (and masked entries of a ``numpy.ma`` array). ``"em"``
        treats them as missing at random: EM maximises the observed-data likelihood
        (each row through the marginal of its observed coordinates; conditional
        expectations of the missing ones in the M-step), and predict, predict_proba and
        score_samples use those marginals. Rows with no observed entry are refused by
        ``fit``. The starts are drawn on the rows with NaN replaced by column means. See
        :mod:`gaussmix.missing` and :class:`gaussmix.GaussianMixtureImputer`.
    prior : None, "default" or gaussmix.Prior, default=None
        A conjugate prior on the means and covariances (Fraley & Raftery 2007): the fit is
        the posterior mode (MAP) instead of the maximum likelihood. ``"default"`` is
        mclust's ``priorControl()``; only EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV,
        VVV (and the scikit-learn names) take one. The reported log-likelihood is the
        plain one.
    equal_proportions : bool, default=False
        Fix every mixing proportion to 1/n_components (mclust's ``equalPro``); with noise
        the Gaussians share 1 − π_0 equally.
    noise : bool, default=False
        Add a uniform noise component of density ``Vinv`` (mclust's ``noise``): predict
        gives −1 for rows it explains best, predict_proba has its column last.
    noise_init : None, float or array-like of bool, default=None
        Rows that start as noise (a mask), or the fraction of rows drawn as such with
        ``random_state``; the starting Gaussians are fitted to the other rows. None
        gives every row a starting noise share of 0.1. ``responsibilities_init`` may
        instead have n_components + 1 columns, the noise last.
    Vinv : float or None, default=None
        The noise density; None: mclust's ``hypvol`` (1 / the smaller of the volumes
        of the bounding boxes of X and of its principal-component scores).
    learning_rate_decay : float, default=1.0
        :meth:`partial_fit` only: α in (0.5, 1] of the step size η_t = (t + 2)^(−α) of
        stepwise EM (:mod:`gaussmix.online`). 1 weighs every batch alike and ends at the
        optimum of all the data when components are well separated; a smaller α (e.g.
        0.6) forgets the statistics of the first, poorer parameters faster (overlapping
        components, a poor start) at the cost of more noise at the end.
    forget : float, default=0.0
        :meth:`partial_fit` only: the least step size, in [0, 1). With forget = f each
        batch weighs at least f when it arrives and then decays by (1 − f) per batch, so
        the model follows a drifting stream over about the last 1/f batches; 0 converges
        to the optimum of all the data seen.
    n_batches : int, default=1
        :meth:`partial_fit` only: batches per M-step (the statistics are mixed in after
        every batch).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing proportions.
    means_ : ndarray of shape (n_components, n_features)
        Component means.
    covariances_ : ndarray
        ``(n_components,)`` spherical, ``(n_components, n_features)`` diag,
        ``(n_features, n_features)`` tied, ``(n_components, n_features, n_features)`` full
        and every mclust code.
    precisions_ : ndarray
        Inverse covariances, same shape.
    precisions_cholesky_ : ndarray
        Cholesky factors U of the precisions (Σ⁻¹ = U Uᵀ, U upper triangular), same shape.
    converged_ : bool
        Whether the best start converged.
    n_iter_ : int
        Number of iterations of the best start.
    lower_bound_ : float
        Mean log-likelihood at the last E-step of the best start (scikit-learn's meaning:
        that of the parameters before the final M-step).
    lower_bounds_ : list of float
        ``lower_bound_`` at every iteration of the best start.
    log_likelihood_ : float
        Mean (sample-weighted) log-likelihood of the returned parameters.
    log_likelihood_history_ : ndarray of shape (n_iter_ + 1,)
        Mean log-likelihood of the parameters before the first M-step, after each M-step,
        the last entry being ``log_likelihood_``.
    volume_ : ndarray of shape (n_components,)
        λ_k = |Σ_k|^{1/D} in Σ_k = λ_k D_k A_k D_kᵀ (Celeux & Govaert 1995).
    shape_ : ndarray of shape (n_components, n_features)
        Diagonal of A_k (product one); in feature order for diagonal models, otherwise
        from the largest axis down (in the first component's order when the orientation
        is shared).
    orientation_ : ndarray of shape (n_components, n_features, n_features)
        D_k, orthogonal; column j goes with ``shape_[:, j]``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when X was a DataFrame with string column names.

    Notes
    -----
    ``fit`` (and ``fit_predict``) also take a chunked source that yields the rows again on
    every pass: a callable returning an iterator of arrays, DataFrames or ``(X, w)``
    pairs, Parquet/CSV paths, a folder or a glob, or a Zarr/h5py dataset; each iteration
    is one pass, and ``sample_weight`` may name a weight column
    (:mod:`gaussmix.backends.stream`). ``partial_fit`` runs stepwise EM: the first call
    starts from its batch (``init_params``, ``*_init``) or a previous ``fit``, each call
    mixes the batch's statistics in with step size η_t and runs the M-step every
    ``n_batches`` calls; the fitted attributes are valid after every call,
    ``lower_bound_`` and ``log_likelihood_`` are the batch's mean log-likelihood under the
    parameters its E-step used, and ``n_iter_`` counts batches.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_[np.argsort(gm.means_[:, 0])]
    array([[ 1.,  2.],
           [10.,  2.]])
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        convergence: str = "absolute",
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        responsibilities_init: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        chunk_size: int | None = None,
        callback: Callable[[IterationInfo], None] | None = None,
        persist: PersistPolicy = "auto",
        backend: str = "numpy",
        device: Any = None,
        dtype: str | None = None,
        semi_supervised: bool = False,
        missing: str = "error",
        prior: Any = None,
        equal_proportions: bool = False,
        noise: bool = False,
        noise_init: Any = None,
        Vinv: float | None = None,
        learning_rate_decay: float = 1.0,
        forget: float = 0.0,
        n_batches: int = 1,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.convergence = convergence
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.responsibilities_init = responsibilities_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.callback = callback
        self.persist = persist
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.semi_supervised = semi_supervised
        self.missing = missing
        self.prior = prior
        self.equal_proportions = equal_proportions
        self.noise = noise
        self.noise_init = noise_init
        self.Vinv = Vinv
        self.learning_rate_decay = learning_rate_decay
        self.forget = forget
        self.n_batches = n_batches

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # scikit-learn reads the constructor's signature at every call (inspect.signature,
        # ~0.1 ms); a fit asks twice, and the signature of a class does not change.
        return list(_parameter_names(cls))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "em"
        return tags

    # ------------------------------------------------------------------ checks
    def _covariance_model(self) -> CovarianceModel:
        return get_covariance_model(self.covariance_type)

    def _check_parameters(self) -> CovarianceModel:
        return _checked_model(self)

    # ------------------------------------------------------- data and executors
    def _executor_options(self) -> ExecutorOptions:
        return ExecutorOptions(self.backend, self.chunk_size, self.device, self.missing)

    def _check_data(self, X: Any, *, reset: bool) -> Any:
        """Validated X: a tensor for the torch backend given a tensor, else a NumPy array
        (a Dask array for Dask input); see :func:`gaussmix.arrays.check_rows`."""
        return check_rows(self, X, reset=reset, backend=self.backend, dtype=self.dtype)

    def _backend(self, X: Any, sample_weight: Any) -> Any:
        """The executor over validated X (:func:`gaussmix.arrays.make_executor`)."""
        return make_executor(X, sample_weight, self._executor_options(), self.n_components)

    # ------------------------------------------------------------- parameters
    # Public arrays of mclust codes are dense (K, D, D); the compact form of the model
    # stays the internal one that the kernels read.
    def _fitted_parameters(self) -> MixtureParameters:
        check_is_fitted(self, ["weights_", "means_", "precisions_cholesky_"])
        # The fitted arrays are in the shapes of the covariance_type they were fitted with,
        # whatever set_params changed since.
        covariance_type = self._fitted_settings()["covariance_type"]
        model = get_covariance_model(covariance_type)
        return MixtureParameters(
            weights=np.asarray(self.weights_),
            means=np.asarray(self.means_),
            covariances=_compact(self.covariances_, model, covariance_type),
            precisions_cholesky=_compact(self.precisions_cholesky_, model, covariance_type),
            form=model.form,
        )

    def _set_fitted_parameters(self, parameters: MixtureParameters) -> None:
        self.__dict__.update(_public_attributes(parameters, self.covariance_type))

    # ------------------------------------------------- the settings of the fit
    def _current_settings(self) -> dict[str, Any]:
        """``get_params()`` now, without the callback (a hook of the fit, not of its model).

        Array values are kept by reference: responsibilities_init can be as large as X.
        """
        settings = self.get_params(deep=False)
        del settings["callback"]
        return settings

    def _fitted_settings(self) -> dict[str, Any]:
        """The constructor parameters the fitted attributes were fitted with.

        ``set_params`` after a fit changes what the next fit does, not what the current
        fitted attributes are: saving, predicting and warm starts read these. An estimator
        without the record (fitted attributes set by hand, an older pickle) is taken to
        have been fitted with its current parameters.
        """
        recorded = self.__dict__.get("_fit_settings")
        settings = self._current_settings() if recorded is None else dict(recorded)
        settings["callback"] = self.callback
        return settings

    def _fitted_covariance_model(self) -> CovarianceModel:
        return get_covariance_model(self._fitted_settings()["covariance_type"])

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """Estimate the parameters by EM, keeping the best of ``n_init`` starts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (NumPy array, pandas DataFrame or nested lists).
        y : array-like of shape (n_samples,), default=None
            Ignored unless ``semi_supervised=True``; then the known components:
            ``y[n] = k`` keeps row n in component k (0 … n_components − 1), -1 marks an
            unlabelled row (:mod:`gaussmix.semisupervised`). None, or all -1: the
            ordinary fit.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights give the fit on repeated rows.

        Returns
        -------
        self : GaussianMixture
            The fitted estimator.
        """
        self._fit(X, sample_weight, y)
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return the component of highest responsibility for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Known components (-1: unknown), as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        labels : ndarray or torch.Tensor of shape (n_samples,)
            A tensor on X's device when X is a tensor.
        """
        checked = self._fit(X, sample_weight, y)
        return as_input_type(X, self._map_posterior(checked, "labels"))

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """One batch of online (stepwise) EM (:mod:`gaussmix.online`; see the class notes).

        Parameters
        ----------
        X : array-like, torch.Tensor or Dask array of shape (n_samples, n_features)
            The batch.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's rows.

        Returns
        -------
        self : GaussianMixture
        """
        with one_blas_thread():
            _partial_fit(self, X, sample_weight)
        return self

    def _fit(self, X: Any, sample_weight: Any, y: Any = None) -> Any:
        # A failed fit leaves the estimator as it was: validation records n_features_in_
        # and feature_names_in_ before later checks, a collapsing component or the user's
        # callback can fail, so everything but the parameters is put back. An interrupted
        # fit is not a failed one once it has a complete model (see _fit_unguarded): that
        # model is kept, and the interrupt goes on from here.
        parameter_names = set(self._get_param_names())
        state = {
            name: value for name, value in self.__dict__.items() if name not in parameter_names
        }
        try:
            # One BLAS thread for the whole fit, M-steps included (see one_blas_thread).
            with one_blas_thread():
                fitted_X, interrupt = self._fit_unguarded(X, sample_weight, y)
        except BaseException:
            for name in [name for name in self.__dict__ if name not in parameter_names]:
                del self.__dict__[name]
            self.__dict__.update(state)
            raise
        if interrupt is not None:
            raise interrupt
        return fitted_X

    def _fit_unguarded(
        self, X: Any, sample_weight: Any, y: Any = None
    ) -> tuple[Any, KeyboardInterrupt | None]:
        """Fit; return the data fitted and the interrupt that stopped it early, if any.

        The fitted attributes are set together at the end, so an exception leaves them as
        they were. On Ctrl-C (or a KeyboardInterrupt raised by the callback) the best
        model reached is kept as the fitted one, flagged not converged, when there is one:
        a finished start or a start with at least one complete EM iteration. Before that
        the engine raises the interrupt, and the fit is undone like a failed one.
        """
        settings = self._current_settings()
        model = self._check_parameters()
        warm = _warm_start_possible(self, X)
        # Drawn before the data: a Dask fit's in-memory sample comes from the same stream.
        random_state = check_random_state(self.random_state)
        data = fit_data(self, X, sample_weight, reset=not warm, random_state=random_state)
        labels = y if self.semi_supervised else None
        engine_settings = with_labels(_engine_settings(self, model, data), labels, data)
        result = fit_mixture(
            data,
            engine_settings,
            random_state=random_state,
            warm=WarmStart(self._fitted_parameters(), self.lower_bound_) if warm else None,
            # Without verbose output or a callback, EM builds no per-iteration record.
            progress=functools.partial(_report_iteration, self)
            if self.verbose or self.callback is not None
            else None,
            announce=_print if self.verbose else None,
        )
        for warning in fit_warnings(result, engine_settings):
            warnings.warn(warning, stacklevel=_FIT_STACKLEVEL)
        self._store_fit(result, settings, data.n_rows)
        return data.fitted_rows, result.interrupt

    def _store_fit(self, result: FitResult, settings: dict[str, Any], rows: int | None) -> None:
        """Set the fitted attributes from the engine's result (``settings``: get_params())."""
        self._set_fitted_parameters(result.parameters)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        if rows is not None:
            # Training rows, for the BIC of a saved model (gaussmix info); a Dask
            # dataframe's length is unknown without another pass, so it is left out.
            self.n_samples_fit_ = rows
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = list(result.lower_bounds)
        self.log_likelihood_ = result.log_likelihood
        self.log_likelihood_history_ = np.array([*self.lower_bounds_, self.log_likelihood_])
        self._fit_settings = settings
        if result.noise_density is not None:
            self.Vinv_ = result.noise_density
            self.noise_proportion_ = max(0.0, 1.0 - float(np.sum(self.weights_)))
        self.__dict__.pop("_online", None)  # a fit ends online EM (partial_fit starts anew)

    # ------------------------------------------------------------ model files
    def save(self, path: Any, **options: Any) -> Any:
        """Write the fitted model to a file; see :func:`gaussmix.save`.

        Parameters
        ----------
        path : str or path-like
            Destination (conventionally ``*.gmm``), replaced atomically.
        **options
            Passed on to :func:`gaussmix.save` (``standardization``).

        Returns
        -------
        Path
            The path written.
        """
        from gaussmix.persistence import save_estimator

        return save_estimator(self, self._fitted_settings(), path, **options)

    @classmethod
    def load(cls, path: Any) -> GaussianMixture:
        """Read a fitted model written by :meth:`save`; see :func:`gaussmix.load`.

        Parameters
        ----------
        path : str or path-like
            The model file.

        Returns
        -------
        GaussianMixture
        """
        from gaussmix.persistence import read_model_file

        return read_model_file(path, cls).model


@functools.cache
def _parameter_names(cls: type) -> tuple[str, ...]:
    """scikit-learn's parameter names of an estimator class (its constructor's arguments)."""
    return tuple(super(GaussianMixture, cls)._get_param_names())


def _print(message: str) -> None:
    print(message, file=sys.stdout, flush=True)


def _report_iteration(self: GaussianMixture, info: IterationInfo) -> None:
    """verbose output (every ``verbose_interval`` iterations) and the user's callback."""
    if self.verbose >= 1 and info.iteration % self.verbose_interval == 0:
        line = f"  Iteration {info.iteration}"
        if self.verbose >= 2:
            line += (
                f"\t time {info.elapsed:.3f}s\t log-likelihood {info.log_likelihood:.6f}"
                f"\t change {info.change:.3e}"
            )
        _print(line)
    if self.callback is not None:
        self.callback(info)


def _checked_model(self: GaussianMixture) -> CovarianceModel:
    """The covariance model of the estimator's parameters, each checked first."""
    check_number("n_components", self.n_components, integer=True, minimum=1)
    check_number("tol", self.tol, minimum=0.0)
    check_number("reg_covar", self.reg_covar, minimum=0.0)
    check_number("max_iter", self.max_iter, integer=True, minimum=0)
    check_number("n_init", self.n_init, integer=True, minimum=1)
    check_number("verbose", self.verbose, integer=True, minimum=0)
    check_number("verbose_interval", self.verbose_interval, integer=True, minimum=1)
    check_number("chunk_size", self.chunk_size, integer=True, minimum=1, allow_none=True)
    for name, (choices, advice) in _CHOICES.items():
        if getattr(self, name) not in choices:
            raise InvalidParameterError(
                f"{name} must be one of {list(choices)}; got {getattr(self, name)!r}. {advice}"
            )
    if self.callback is not None and not callable(self.callback):
        raise InvalidParameterError(
            f"callback must be callable or None; got {type(self.callback).__name__}."
        )
    check_persist(self.persist)
    check_number("Vinv", self.Vinv, minimum=0.0, allow_none=True)
    model = self._covariance_model()
    check_prior(self.prior, model)
    return model


def _partial_fit(self: GaussianMixture, X: Any, sample_weight: Any) -> None:
    """Validate, run one batch of :func:`gaussmix.online.partial_fit_step`, store."""
    online = OnlineSettings.checked(self.learning_rate_decay, self.forget, self.n_batches)
    model = self._check_parameters()
    state = self.__dict__.get("_online")
    fitted = hasattr(self, "weights_") and all(
        self._fitted_settings()[name] == getattr(self, name)
        for name in ("n_components", "covariance_type")
    )
    random_state = check_random_state(self.random_state)
    data = fit_data(self, X, sample_weight, reset=not fitted, random_state=random_state)
    check_online_settings(self.get_params(), data.X)
    step = partial_fit_step(
        data,
        _engine_settings(self, model, data),
        online,
        parameters=self._fitted_parameters() if fitted else None,
        state=state if fitted else None,
        random_state=random_state,
    )
    self._set_fitted_parameters(step.parameters)
    self.converged_, self.n_iter_ = False, step.state.n_batches
    self.n_samples_fit_ = step.state.n_rows
    self.lower_bound_ = self.log_likelihood_ = step.log_likelihood
    self.lower_bounds_ = [step.log_likelihood]
    self.log_likelihood_history_ = np.array([step.log_likelihood])
    self._fit_settings = self._current_settings()
    self._online = step.state


def _warm_start_possible(self: GaussianMixture, X: Any) -> bool:
    """Whether this fit continues from the previous one (warm_start), warning when not.

    The previous parameters serve as a start only for the same n_components,
    covariance_type and number of features; otherwise this fit starts afresh, as
    with warm_start=False, and says why.
    """
    if not self.warm_start or not hasattr(self, "converged_"):
        return False
    fitted = self._fitted_settings()
    changes = [
        f"{name} changed from {fitted[name]!r} to {getattr(self, name)!r}"
        for name in ("n_components", "covariance_type")
        if fitted[name] != getattr(self, name)
    ]
    n_features = n_columns(X)
    if n_features is not None and n_features != getattr(self, "n_features_in_", n_features):
        changes.append(
            f"X has {n_features} features where the previous fit had {self.n_features_in_}"
        )
    if not changes:
        return True
    warnings.warn(
        "warm_start=True continues from the previous fit only when n_components, "
        f"covariance_type and the number of features are unchanged; {'; '.join(changes)}. "
        f"The previous fit was not used: this fit starts afresh (init_params="
        f"{self.init_params!r}, n_init={self.n_init}), as with warm_start=False. Set "
        "warm_start=False to fit afresh without this warning.",
        UserWarning,
        stacklevel=_FIT_STACKLEVEL + 1,
    )
    return False


def _engine_settings(self: GaussianMixture, model: CovarianceModel, data: FitData) -> FitSettings:
    """The engine's settings of this fit, the user-given start validated against X."""
    n_samples, n_features = data.X.shape
    weights, means, precisions = check_init_arrays(
        self.weights_init,
        self.means_init,
        self.precisions_init,
        public_form(self.covariance_type, model),
        self.n_components,
        n_features,
    )
    responsibilities = self.responsibilities_init
    if responsibilities is not None:
        responsibilities = check_responsibilities_init(
            responsibilities, n_samples, self.n_components + bool(self.noise)
        )
    return FitSettings(
        n_components=self.n_components,
        model=model,
        tol=self.tol,
        convergence=self.convergence,
        reg_covar=self.reg_covar,
        max_iter=self.max_iter,
        n_init=self.n_init,
        init_params=self.init_params,
        given=GivenStart(
            weights,
            means,
            None if precisions is None else _compact(precisions, model, self.covariance_type),
            responsibilities,
        ),
        executor=self._executor_options(),
        prior=check_prior(self.prior, model),
        equal_proportions=bool(self.equal_proportions),
        noise=bool(self.noise),
        noise_init=check_noise_init(self.noise_init, n_samples) if self.noise else None,
        Vinv=self.Vinv,
    )


def _compact(array: Any, model: CovarianceModel, covariance_type: str) -> np.ndarray:
    """An array of the public shape of ``covariance_type`` in the model's compact form."""
    array = np.asarray(array)
    if reports_dense(covariance_type, model):
        return compact_from_dense(array, model.form)
    return array


def _public_attributes(parameters: MixtureParameters, covariance_type: str) -> dict[str, Any]:
    """The fitted attributes of a mixture, in the public shapes of ``covariance_type``.

    scikit-learn names keep scikit-learn's shapes, mclust codes report dense (K, D, D)
    arrays; ``volume_``, ``shape_`` and ``orientation_`` come from the dense covariances.
    """
    model = get_covariance_model(covariance_type)
    dense = reports_dense(covariance_type, model)
    n_components, n_features = parameters.means.shape

    def public(array: np.ndarray, dense: bool = dense) -> np.ndarray:
        return to_public(array, model.form, dense, n_components, n_features)

    if model.orientation == "identity":
        # Diagonal matrices: read off the compact variances, without the dense (K, D, D).
        variances = as_form(model.form).variances(parameters.covariances, n_features)
        parts = decompose_variances(variances)
    else:
        parts = decompose(public(parameters.covariances, True), model.orientation)
    return {
        "weights_": parameters.weights,
        "means_": parameters.means,
        "covariances_": public(parameters.covariances),
        "precisions_cholesky_": public(parameters.precisions_cholesky),
        "precisions_": public(parameters.precisions()),
        "volume_": parts.volume,
        "shape_": parts.shape,
        "orientation_": parts.orientation,
    }


def estimator_from_fit(
    result: FitResult,
    parameters: dict[str, Any],
    *,
    n_features: int,
    feature_names: np.ndarray | None = None,
    n_samples: int | None = None,
) -> GaussianMixture:
    """A fitted :class:`GaussianMixture` holding an engine result, as if ``fit`` made it.

    Parameters
    ----------
    result : FitResult
        What :func:`gaussmix.fitting.fit_mixture` returned.
    parameters : dict
        Constructor parameters of the estimator (recorded as those it was fitted with).
    n_features : int
        Columns of the training data.
    feature_names : ndarray of str, optional
        Their names (``feature_names_in_``), when the data were a DataFrame.
    n_samples : int, optional
        Training rows (``n_samples_fit_``).

    Returns
    -------
    GaussianMixture
    """
    estimator = GaussianMixture(**parameters)
    estimator._store_fit(result, estimator._current_settings(), n_samples)
    estimator.n_features_in_ = int(n_features)
    if feature_names is not None:
        estimator.feature_names_in_ = feature_names
    return estimator
