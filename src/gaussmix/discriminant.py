"""Classification with one Gaussian model per class: EDDA and MclustDA (Fraley & Raftery 2002).

* ``model_type="edda"`` (eigenvalue decomposition discriminant analysis): one Gaussian per
  class, all under one covariance model of the fourteen. With the labels known the maximum
  likelihood estimate is a single M-step from the one-hot responsibilities (no EM): EEE is
  linear discriminant analysis, VVV quadratic discriminant analysis, both with the
  maximum-likelihood divisor 1/n_c (pooled: 1/N), not scikit-learn's n − 1 / N − C.
* ``model_type="mixture"`` (MclustDA): each class is a Gaussian mixture of its own, its
  covariance model and number of components chosen by that class's BIC
  (:func:`gaussmix.selection.select_model` on the class's rows).

Prediction is Bayes' rule, posterior_c(x) ∝ prior_c f_c(x), evaluated in log space.

With ``missing="em"`` NaN entries are missing at random. EDDA's class Gaussians are then the
maximum-likelihood estimates of the observed-data likelihood, found by EM with every row's
class known: ``GaussianMixture(semi_supervised=True, missing="em")`` with each row labelled
by its class (the classes couple only through a shared covariance model's common parts).
MclustDA selects each class's mixture with ``select_model(missing="em")``. Densities of rows
with NaN entries are the marginals of their observed entries.

The criteria follow mclust 6 (``MclustDA`` and ``logLik.MclustDA``): the log-likelihood is
that of the mixture Σ_i log Σ_c π_c f_c(x_i) with π_c the training class frequencies, and the
parameter count leaves the class proportions out (they are not estimated from a mixture). BIC
here is −2 log L + p log n, lower is better (mclust reports the negative).

References
----------
Fraley, C. and Raftery, A. E. (2002). Model-based clustering, discriminant analysis, and
density estimation. *JASA* 97(458), 611–631, §6.
Bensmail, H. and Celeux, G. (1996). Regularized Gaussian discriminant analysis through
eigenvalue decomposition. *JASA* 91(436), 1743–1748.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from gaussmix.covariance import MCLUST_MODELS, CovarianceModel, get_covariance_model
from gaussmix.covariance.forms import dense_covariances
from gaussmix.exceptions import InvalidInputError, InvalidParameterError
from gaussmix.kernels import log_gaussian_density
from gaussmix.missing import MISSING_CHOICES, check_missing_values, component_log_densities
from gaussmix.mstep import maximize
from gaussmix.parameters import MixtureParameters
from gaussmix.statistics import SufficientStatistics

__all__ = ["MixtureDiscriminantAnalysis", "class_statistics"]

_MODEL_TYPES = ("edda", "mixture")


def class_statistics(
    X: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray, n_classes: int, kind: str
) -> SufficientStatistics:
    """Sufficient statistics of one-hot responsibilities given by class labels.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows, float64.
    labels : ndarray of shape (n_samples,)
        Class index of every row, in 0 … n_classes − 1.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative row weights.
    n_classes : int
        C, the number of classes (components).
    kind : {"trace", "diagonal", "full"}
        The scatter kind the covariance model needs.

    Returns
    -------
    SufficientStatistics
        Taken about each class's weighted mean, so the centred scatter loses nothing to
        cancellation.
    """
    n_features = X.shape[1]
    n_k = np.bincount(labels, weights=sample_weight, minlength=n_classes).astype(np.float64)
    shift = np.zeros((n_classes, n_features))
    weighted_sum = np.zeros((n_classes, n_features))
    scatter = np.zeros((n_classes, n_features, n_features))
    for c in range(n_classes):
        rows = labels == c
        weights = sample_weight[rows]
        if n_k[c] > 0:
            shift[c] = weights @ X[rows] / n_k[c]
        differences = X[rows] - shift[c]
        weighted_sum[c] = weights @ differences
        scatter[c] = (differences * weights[:, None]).T @ differences
    if kind == "diagonal":
        scatter = np.diagonal(scatter, axis1=1, axis2=2).copy()
    elif kind == "trace":
        scatter = np.trace(scatter, axis1=1, axis2=2)
    return SufficientStatistics(
        n_k=n_k,
        weighted_sum=weighted_sum,
        scatter=scatter,
        shift=shift,
        total_weight=float(np.sum(sample_weight)),
        log_likelihood=0.0,
    )


class MixtureDiscriminantAnalysis(ClassifierMixin, BaseEstimator):
    """Gaussian discriminant analysis with mclust's covariance models: EDDA and MclustDA.

    Parameters
    ----------
    model_type : {"mixture", "edda"}, default="mixture"
        ``"mixture"`` (mclust's MclustDA, its default): every class is a Gaussian mixture
        with its own covariance model and number of components, chosen by the class's
        BIC. ``"edda"``: one Gaussian per class, one covariance model shared by all
        classes, fitted in closed form (EEE is LDA, VVV is QDA).
    covariance_type : "auto", str or sequence of str, default="auto"
        EDDA only: the covariance model (an mclust code or scikit-learn name), or the
        models to choose from by BIC; ``"auto"`` is all fourteen mclust models.
    n_components : int or sequence of int, default=(1, 2, 3, 4, 5)
        Mixture only: numbers of components tried for every class (those above the
        class's number of rows are skipped).
    covariance_types : "all", str or sequence of str, default="all"
        Mixture only: covariance models tried for every class.
    priors : array-like of shape (n_classes,), default=None
        Prior class probabilities of prediction, in the order of ``classes_``; they must
        be non-negative and sum to one. None: the class frequencies of the training data
        (sample-weighted).
    reg_covar : float, default=0.0
        Added to every variance (0, as in mclust). A class too small for its model then
        fails with an error naming it.
    tol, max_iter, init_params, n_jobs, random_state
        Mixture only: forwarded to :func:`gaussmix.select_model` (EM tolerance under
        mclust's relative rule, iterations, start, parallel fits, seed of non-hierarchical
        starts). ``tol`` and ``max_iter`` also bound EDDA's EM with missing values.
    missing : {"error", "em"}, default="error"
        ``"em"``: NaN entries of X are missing values (in fit and prediction). EDDA is then
        fitted by EM within the known classes on the observed-data likelihood, MclustDA by
        ``select_model(missing="em")`` per class; densities of incomplete rows are the
        marginals of their observed entries. Without NaN the fit is the one of ``"error"``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    priors_ : ndarray of shape (n_classes,)
        The priors used by prediction.
    class_weights_ : ndarray of shape (n_classes,)
        Training class frequencies π_c (sample-weighted), those of the log-likelihood.
    log_likelihood_ : float
        Training log-likelihood Σ_i w_i log Σ_c π_c f_c(x_i) of the chosen model.
    n_parameters_ : int
        Free parameters: means and covariances (and within-class mixing proportions),
        not the class proportions.
    bic_ : float
        ``−2·log_likelihood_ + n_parameters_·log n`` (n = Σ w), lower is better.
    covariance_type_ : str
        EDDA: the chosen covariance model.
    criteria_ : dict
        EDDA: BIC of every model tried (NaN where the fit failed).
    errors_ : dict
        EDDA: the error message of every model that could not be fitted.
    means_ : ndarray of shape (n_classes, n_features)
        EDDA: class means.
    covariances_ : ndarray of shape (n_classes, n_features, n_features)
        EDDA: class covariances (maximum likelihood, divisor n_c or, pooled, N).
    n_iter_ : ndarray of shape (n_classes,)
        Mixture: EM iterations of each class's chosen mixture; EDDA: 1 (its one M-step), or
        the EM iterations of the fit with missing values.
    estimators_ : list of GaussianMixture
        Mixture: the mixture chosen for each class.
    selections_ : list of ModelSelection
        Mixture: every class's selection (its ``results_`` table).
    n_features_in_ : int
    feature_names_in_ : ndarray
        When X was a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import MixtureDiscriminantAnalysis
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (30, 2)), rng.normal(4, 1, (30, 2))])
    >>> y = np.repeat(["a", "b"], 30)
    >>> clf = MixtureDiscriminantAnalysis(model_type="edda", covariance_type="EEE").fit(X, y)
    >>> clf.predict([[0.0, 0.0], [4.0, 4.0]]).tolist()
    ['a', 'b']
    """

    def __init__(
        self,
        model_type: str = "mixture",
        covariance_type: str | Sequence[str] = "auto",
        n_components: int | Sequence[int] = (1, 2, 3, 4, 5),
        covariance_types: str | Sequence[str] = "all",
        priors: Any = None,
        reg_covar: float = 0.0,
        tol: float = 1e-5,
        max_iter: int = 1000,
        init_params: str = "hierarchical",
        n_jobs: int | None = None,
        random_state: Any = None,
        missing: str = "error",
    ) -> None:
        self.model_type = model_type
        self.covariance_type = covariance_type
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.priors = priors
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.init_params = init_params
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.missing = missing

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "em"
        return tags

    def _validated(self, *data: Any, reset: bool = True) -> Any:
        """validate_data of X (or X, y) with NaN allowed, and empty rows refused, with em."""
        finite = "allow-nan" if self.missing == "em" else True
        checked = validate_data(
            self, *data, dtype=np.float64, reset=reset, ensure_all_finite=finite
        )
        if self.missing == "em":
            # Only training data must observe every column; rows to predict may miss one.
            check_missing_values(checked[0] if len(data) == 2 else checked, whole=reset)
        return checked

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MixtureDiscriminantAnalysis:
        """Fit one Gaussian model per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; rows of weight zero are left out.

        Returns
        -------
        self

        Raises
        ------
        InvalidParameterError
            For an unknown model_type or covariance model, or bad priors.
        InvalidInputError
            For fewer than two classes (with positive weight), or a class that cannot be
            fitted under its model (too few rows).
        """
        if self.model_type not in _MODEL_TYPES:
            raise InvalidParameterError(
                f"model_type must be one of {_MODEL_TYPES}; got {self.model_type!r}. Use "
                "'edda' for one Gaussian per class, 'mixture' for a mixture per class."
            )
        if not (isinstance(self.reg_covar, (int, float)) and self.reg_covar >= 0):
            raise InvalidParameterError(
                f"reg_covar must be a non-negative number; got {self.reg_covar!r}."
            )
        if self.missing not in MISSING_CHOICES:
            raise InvalidParameterError(
                f"missing must be one of {list(MISSING_CHOICES)}; got {self.missing!r}. Use "
                "'em' to fit rows with NaN entries as missing values."
            )
        X, y = self._validated(X, y)
        check_classification_targets(y)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if np.any(sample_weight < 0):
            raise InvalidInputError(
                "sample_weight must be non-negative; got a minimum of "
                f"{sample_weight.min()}. Give every row a weight ≥ 0."
            )
        classes, labels = np.unique(y, return_inverse=True)
        class_weight = np.bincount(labels, weights=sample_weight, minlength=len(classes))
        if np.count_nonzero(class_weight > 0) < 2:
            present = [_label(label) for label in classes[class_weight > 0]]
            raise InvalidInputError(
                "MixtureDiscriminantAnalysis needs at least two classes with positive "
                f"weight; y has one class ({present}) after sample weights. Provide rows "
                "of at least two classes."
            )
        if np.any(class_weight == 0):
            raise InvalidInputError(
                f"class {_label(classes[class_weight == 0][0])!r} has total sample weight 0, so "
                "its model cannot be estimated. Remove its rows or give them weight."
            )
        self.classes_ = classes
        kept = sample_weight > 0
        X, labels, sample_weight = X[kept], labels[kept], sample_weight[kept]
        self.class_weights_ = class_weight / np.sum(class_weight)
        self.priors_ = self._check_priors(len(classes))
        if self.model_type == "edda":
            self._fit_edda(X, labels, sample_weight)
        else:
            self._fit_mixtures(X, labels, sample_weight)
        log_density = self._class_log_density(X)
        self.log_likelihood_ = float(
            sample_weight @ logsumexp(log_density + np.log(self.class_weights_), axis=1)
        )
        self.bic_ = -2.0 * self.log_likelihood_ + self.n_parameters_ * math.log(
            float(np.sum(sample_weight))
        )
        return self

    def _check_priors(self, n_classes: int) -> np.ndarray:
        if self.priors is None:
            return self.class_weights_.copy()
        priors = np.asarray(self.priors, dtype=np.float64)
        if priors.shape != (n_classes,):
            raise InvalidParameterError(
                f"priors must have one value per class, shape ({n_classes},) in the order of "
                f"classes_ {self.classes_.tolist()}; got shape {priors.shape}."
            )
        if not np.all(np.isfinite(priors)) or np.any(priors < 0):
            raise InvalidParameterError(
                f"priors must be finite and non-negative; got {priors.tolist()}."
            )
        if not math.isclose(float(np.sum(priors)), 1.0, rel_tol=0.0, abs_tol=1e-8):
            raise InvalidParameterError(
                f"priors must sum to 1; got {priors.tolist()} (sum {np.sum(priors)!r}). Divide "
                "them by their sum."
            )
        return priors

    def _edda_candidates(self) -> list[str]:
        if isinstance(self.covariance_type, str):
            if self.covariance_type == "auto":
                return list(MCLUST_MODELS)
            names = [self.covariance_type]
        else:
            names = list(self.covariance_type)
        if not names:
            raise InvalidParameterError(
                "covariance_type must be 'auto', a covariance model or a non-empty list of "
                "them; got an empty list."
            )
        for name in names:
            get_covariance_model(name)
        return names

    def _fit_edda(self, X: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray) -> None:
        names = self._edda_candidates()
        n_classes, n_features = len(self.classes_), X.shape[1]
        log_weights = np.log(self.class_weights_)
        log_n = math.log(float(np.sum(sample_weight)))
        criteria: dict[str, float] = {}
        errors: dict[str, str] = {}
        best: tuple[float, str, MixtureParameters, int] | None = None
        incomplete = bool(np.isnan(X).any())
        for name in names:
            model = get_covariance_model(name)
            n_iter = 1
            try:
                if incomplete:
                    parameters, n_iter = self._edda_missing(X, labels, sample_weight, model)
                else:
                    parameters = self._edda_parameters(X, labels, sample_weight, model)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
                criteria[name] = math.nan
                errors[name] = str(error)
                continue
            log_density = (
                component_log_densities(X, parameters)
                if incomplete
                else log_gaussian_density(X, parameters)
            )
            log_likelihood = float(sample_weight @ logsumexp(log_density + log_weights, axis=1))
            n_parameters = n_classes * n_features + model.n_parameters(n_classes, n_features)
            bic = -2.0 * log_likelihood + n_parameters * log_n
            criteria[name] = bic
            if best is None or bic < best[0]:
                best = (bic, name, parameters, n_iter)
        if best is None and len(names) == 1:
            raise InvalidInputError(errors[names[0]])
        if best is None:
            details = "; ".join(f"{name}: {message}" for name, message in errors.items())
            raise InvalidInputError(
                f"No covariance model could be fitted to the classes ({details}). A class "
                "needs more rows than features for class-specific covariances: choose a "
                "more constrained covariance_type (e.g. 'EEE' or 'EII'), set reg_covar > 0 "
                "or add rows."
            )
        _, name, parameters, n_iter = best
        model = get_covariance_model(name)
        self.covariance_type_ = name
        self.criteria_ = criteria
        self.errors_ = errors
        self._parameters = parameters
        self.means_ = parameters.means
        self.covariances_ = dense_covariances(
            parameters.covariances, model.form, n_classes, n_features
        )
        self.n_parameters_ = int(n_classes * n_features + model.n_parameters(n_classes, n_features))
        # The closed form is the one M-step from the labels (EM with missing values).
        self.n_iter_ = np.full(n_classes, n_iter, dtype=int)

    def _edda_missing(
        self,
        X: np.ndarray,
        labels: np.ndarray,
        sample_weight: np.ndarray,
        model: CovarianceModel,
    ) -> tuple[MixtureParameters, int]:
        """The class Gaussians' observed-data ML: EM with every row labelled by its class."""
        from gaussmix.estimator import GaussianMixture

        mixture = GaussianMixture(
            len(self.classes_),
            covariance_type=model.name,
            tol=self.tol,
            convergence="relative",
            reg_covar=float(self.reg_covar),
            max_iter=self.max_iter,
            semi_supervised=True,
            missing="em",
        ).fit(X, labels, sample_weight=sample_weight)
        parameters = mixture._fitted_parameters()
        if not all(
            np.all(np.isfinite(array)) for array in (parameters.means, parameters.covariances)
        ):
            raise InvalidInputError(
                f"covariance model {model.name} gave non-finite parameters: a class has too few "
                "observed entries. Use a more constrained model or reg_covar > 0."
            )
        return parameters, int(mixture.n_iter_)

    def _edda_parameters(
        self,
        X: np.ndarray,
        labels: np.ndarray,
        sample_weight: np.ndarray,
        model: CovarianceModel,
    ) -> MixtureParameters:
        """One M-step from the one-hot class labels, with an error naming a class it fails for."""
        statistics = class_statistics(X, labels, sample_weight, len(self.classes_), model.scatter)
        try:
            parameters = maximize(statistics, model, float(self.reg_covar))
        except (ValueError, np.linalg.LinAlgError) as error:
            counts = np.bincount(labels, minlength=len(self.classes_))
            smallest = int(np.argmin(counts))
            raise InvalidInputError(
                f"covariance model {model.name} cannot be fitted: {error} The smallest class, "
                f"{_label(self.classes_[smallest])!r}, has {counts[smallest]} rows for "
                f"{X.shape[1]} features; use a more constrained model, reg_covar > 0 or more rows."
            ) from error
        if not all(
            np.all(np.isfinite(array))
            for array in (parameters.means, parameters.covariances, parameters.precisions_cholesky)
        ):
            raise InvalidInputError(
                f"covariance model {model.name} gave non-finite parameters: a class has too few "
                "rows or constant features. Use a more constrained model or reg_covar > 0."
            )
        return parameters

    def _fit_mixtures(self, X: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray) -> None:
        from gaussmix.selection import select_model

        candidates = _as_list(self.n_components)
        weighted = not np.all(sample_weight == 1.0)
        n_features = X.shape[1]
        selections, estimators, n_parameters = [], [], 0
        for c, label in enumerate(self.classes_):
            rows = labels == c
            n_rows = int(np.count_nonzero(rows))
            usable = [G for G in candidates if G <= n_rows]
            if not usable:
                raise InvalidInputError(
                    f"class {_label(label)!r} has {n_rows} rows, fewer than the smallest number of "
                    f"components tried ({min(candidates)}). Include smaller values in "
                    "n_components or add rows of that class."
                )
            try:
                selection = select_model(
                    X[rows],
                    n_components=usable,
                    covariance_types=self.covariance_types,
                    sample_weight=sample_weight[rows] if weighted else None,
                    init_params=self.init_params,
                    tol=self.tol,
                    reg_covar=self.reg_covar,
                    max_iter=self.max_iter,
                    n_jobs=self.n_jobs,
                    random_state=self.random_state,
                    missing=self.missing,
                )
            except InvalidInputError as error:
                raise InvalidInputError(
                    f"no mixture could be fitted to class {_label(label)!r} ({n_rows} rows, "
                    f"{n_features} features): {error} Use more constrained covariance_types, "
                    "reg_covar > 0 or more rows of that class."
                ) from error
            best = selection.best_estimator_
            G = best.n_components
            covariance = get_covariance_model(best.covariance_type)
            n_parameters += (G - 1) + G * n_features + covariance.n_parameters(G, n_features)
            selections.append(selection)
            estimators.append(best)
        self.selections_ = selections
        self.estimators_ = estimators
        self.n_parameters_ = int(n_parameters)
        self.n_iter_ = np.array([estimator.n_iter_ for estimator in estimators])

    # ------------------------------------------------------------ predict
    def _class_log_density(self, X: np.ndarray) -> np.ndarray:
        """log f_c(x) for every row and class, shape (n_samples, n_classes)."""
        if self.model_type == "edda" and hasattr(self, "_parameters"):
            if self.missing == "em" and np.isnan(X).any():
                return component_log_densities(X, self._parameters)
            return np.asarray(log_gaussian_density(X, self._parameters), dtype=np.float64)
        return np.column_stack([estimator.score_samples(X) for estimator in self.estimators_])

    def _joint_log_likelihood(self, X: Any) -> np.ndarray:
        check_is_fitted(self, ["classes_", "priors_"])
        X = self._validated(X, reset=False)
        with np.errstate(divide="ignore"):
            log_priors = np.log(self.priors_)
        return self._class_log_density(X) + log_priors

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log posterior class probabilities, log prior_c + log f_c(x) − log Σ_j prior_j f_j(x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        joint = self._joint_log_likelihood(X)
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior class probabilities, prior_c f_c(x) / Σ_j prior_j f_j(x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to one.
        """
        return np.exp(self.predict_log_proba(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of :meth:`predict` on X against the true classes y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True classes, all among ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float

        Raises
        ------
        InvalidInputError
            When y holds a class the classifier was not fitted with (it can never be
            predicted, so the accuracy would silently count it wrong).
        """
        check_is_fitted(self, ["classes_"])
        labels = np.asarray(y)
        unseen = ~np.isin(labels, self.classes_)
        if np.any(unseen):
            raise InvalidInputError(
                f"y must hold classes the classifier was fitted with, {self.classes_.tolist()}; "
                f"got {_label(labels[np.argmax(unseen)])!r}, which it never saw. Refit with rows "
                "of that class, or leave those rows out."
            )
        return super().score(X, y, sample_weight=sample_weight)

    # ------------------------------------------------------------ files
    def save(self, path: Any) -> Any:
        """Write the fitted classifier to a classifier file (safetensors, no pickle).

        Parameters
        ----------
        path : str or path-like
            Destination (conventionally ``*.gmc``), replaced atomically.

        Returns
        -------
        Path
            The path written.
        """
        from gaussmix.classifier_files import save_classifier

        return save_classifier(self, path)

    @classmethod
    def load(cls, path: Any) -> MixtureDiscriminantAnalysis:
        """Read a classifier written by :meth:`save`; its predictions equal the saved one's.

        Parameters
        ----------
        path : str or path-like
            The classifier file.

        Returns
        -------
        MixtureDiscriminantAnalysis

        Raises
        ------
        ModelFileError
            For a missing, modified, foreign or inconsistent file.
        """
        from gaussmix.classifier_files import load_classifier

        return load_classifier(path, cls)

    def predict(self, X: Any) -> np.ndarray:
        """The class of highest posterior probability (MAP).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        joint = self._joint_log_likelihood(X)
        return self.classes_[np.argmax(joint, axis=1)]


def _as_list(values: int | Iterable[int]) -> list[int]:
    return [values] if isinstance(values, (int, np.integer)) else list(values)


def _label(label: Any) -> Any:
    """A class label as the Python value it prints as (not ``np.str_('b')``)."""
    return label.item() if isinstance(label, np.generic) else label
