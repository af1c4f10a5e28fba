"""Model files: a fitted mixture as arrays plus a JSON header, with no code execution on load.

A model file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: an
8-byte header length, a JSON header describing every array (dtype, shape, byte range)
and the raw little-endian array bytes. gaussmix keeps its own JSON header, described in
``docs/model-format.md``, in the safetensors metadata under the key ``"gaussmix"``.
Loading parses JSON and copies bytes; it never unpickles, so an untrusted file cannot
run code.

What is stored is generic: every public fitted attribute of the estimator (names ending
in ``_``) and every JSON-representable constructor parameter the model was fitted with
(not those ``set_params`` changed after the fit), so covariance models added later with
new fitted attributes are saved without changes here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix._optional import import_optional
from gaussmix.atomic import atomic_write
from gaussmix.exceptions import ModelFileError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFile",
    "load",
    "read_model_file",
    "save",
]

FORMAT_NAME = "gaussmix-model"
FORMAT_VERSION = 1
"""Bumped whenever a reader of the previous version could misread a new file."""

_METADATA_KEY = "gaussmix"
_PARAMETER_PREFIX = "param."
# Tolerance on Σ π_k = 1: float32 fits round the weights at about 1e-7.
_WEIGHT_SUM_TOLERANCE = 1e-5
# Tolerance on Lᵀ Σ L = I for the stored precision factors L: a factor computed from its
# covariance is off by about cond(Σ)·ε, so this admits condition numbers up to ~1e11 (after
# the diagonal scaling, which the check is invariant to) and still rejects any factor that
# belongs to other covariances.
_FACTOR_TOLERANCE = 1e-4
# A pickle starts with the PROTO opcode 0x80; zip archives (.npz, some joblib dumps) with PK.
_PICKLE_MAGIC = b"\x80"
_ZIP_MAGIC = b"PK\x03\x04"
# The arrays a fitted GaussianMixture may hold; load sets no other array attribute, so a
# hand-made file cannot plant attributes the estimator never has.
_ARRAY_ATTRIBUTES = frozenset(
    {
        "weights_",
        "means_",
        "covariances_",
        "precisions_",
        "precisions_cholesky_",
        "volume_",
        "shape_",
        "orientation_",
        "log_likelihood_history_",
    }
)
# The non-array fitted attributes and the JSON types each may have in the header.
_SCALAR_ATTRIBUTES: dict[str, tuple[type, ...]] = {
    "n_features_in_": (int,),
    "feature_names_in_": (list,),
    "converged_": (bool,),
    "n_iter_": (int,),
    "n_samples_fit_": (int,),
    "lower_bound_": (int, float),
    "lower_bounds_": (list,),
    "log_likelihood_": (int, float),
}


@dataclass(frozen=True)
class ModelFile:
    """A model read from a file together with its header.

    Parameters
    ----------
    model : GaussianMixture
        The fitted estimator, ready to predict.
    header : dict
        The gaussmix JSON header (see ``docs/model-format.md``).
    """

    model: Any
    header: dict[str, Any]

    @property
    def standardization(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(centre, scale)`` the data must be mapped by, ``(x − centre) / scale``, or None."""
        stored = self.header.get("standardization")
        if stored is None:
            return None
        return np.asarray(stored["centre"], dtype=float), np.asarray(stored["scale"], dtype=float)


def _safetensors() -> Any:
    return import_optional("safetensors.numpy", "io", "Saving and loading models")


def _json_value(value: Any) -> Any:
    """``value`` as plain JSON (numbers, strings, bools, lists), or raise TypeError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    if isinstance(value, np.ndarray) and all(isinstance(item, str) for item in value.ravel()):
        return [str(item) for item in value.tolist()]
    raise TypeError(type(value).__name__)


def _is_numeric_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "biuf"


def _is_fitted_name(name: str) -> bool:
    """scikit-learn's convention: public attributes set by fit end in one underscore."""
    return name.isidentifier() and name.endswith("_") and not name.startswith("_")


def _fitted_attributes(model: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(model).items() if _is_fitted_name(name)}


def _checksum(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the header (without its checksum) and of every array's name, type and bytes."""
    digest = hashlib.sha256()
    unsigned = {key: value for key, value in header.items() if key != "checksum"}
    digest.update(json.dumps(unsigned, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()


def _build_header(
    model: Any,
    standardization: tuple[Any, Any] | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from gaussmix import __version__
    from gaussmix.estimator import GaussianMixture

    if not isinstance(model, GaussianMixture):
        raise ModelFileError(
            "save needs a fitted gaussmix.GaussianMixture; got an object of type "
            f"{type(model).__name__}. Fit a gaussmix.GaussianMixture first."
        )
    fitted = _fitted_attributes(model)
    if "weights_" not in fitted:
        raise ModelFileError(
            "save needs a fitted model; this GaussianMixture has no fitted attributes. "
            "Call fit(X) before save."
        )
    arrays: dict[str, np.ndarray] = {}
    attributes: dict[str, Any] = {}
    for name, value in sorted(fitted.items()):
        if _is_numeric_array(value):
            arrays[name] = np.ascontiguousarray(value)
            continue
        try:
            attributes[name] = _json_value(value)
        except TypeError as error:
            raise ModelFileError(
                f"every fitted attribute must be an array, a number, a string or a list to be "
                f"saved; got {name} of type {error}. Report this as a gaussmix bug."
            ) from None
    parameters: dict[str, Any] = {}
    array_parameters: list[str] = []
    dropped: list[str] = []
    # The parameters the arrays were fitted with, not those set_params changed since: the
    # file must describe one consistent model.
    for name, value in sorted(model._fitted_settings().items()):
        if value is not None and not isinstance(value, (np.ndarray, list, tuple)):
            try:
                parameters[name] = _json_value(value)
            except TypeError:
                # A callback or a RandomState instance cannot be stored; the loaded model
                # gets the default, and the header says which parameters were dropped.
                dropped.append(name)
            continue
        if value is None:
            parameters[name] = None
        else:
            arrays[_PARAMETER_PREFIX + name] = np.ascontiguousarray(value, dtype=np.float64)
            array_parameters.append(name)
    means = np.asarray(model.means_)
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "gaussmix_version": __version__,
        "estimator": type(model).__name__,
        "covariance_model": model._fitted_covariance_model().name,
        "n_components": int(means.shape[0]),
        "n_features": int(means.shape[1]),
        "feature_names": attributes.get("feature_names_in_"),
        "dtype": str(means.dtype),
        "fit": {
            "log_likelihood": attributes.get("log_likelihood_"),
            "lower_bound": attributes.get("lower_bound_"),
            "n_iter": attributes.get("n_iter_"),
            "converged": attributes.get("converged_"),
        },
        "parameters": parameters,
        "array_parameters": array_parameters,
        "dropped_parameters": dropped,
        "attributes": attributes,
        "arrays": {
            name: {"dtype": array.dtype.str, "shape": list(array.shape)}
            for name, array in sorted(arrays.items())
        },
        "standardization": None,
    }
    if standardization is not None:
        centre, scale = (np.asarray(part, dtype=float).ravel() for part in standardization)
        if centre.shape != (means.shape[1],) or scale.shape != (means.shape[1],):
            raise ModelFileError(
                f"standardization must be two vectors of length n_features = {means.shape[1]}; "
                f"got shapes {centre.shape} and {scale.shape}. Pass (X.mean(0), X.std(0))."
            )
        header["standardization"] = {"centre": centre.tolist(), "scale": scale.tolist()}
    header["checksum"] = _checksum(header, arrays)
    return header, arrays


def save(
    model: Any,
    path: str | os.PathLike[str],
    *,
    standardization: tuple[Any, Any] | None = None,
) -> Path:
    """Write a fitted mixture to a model file, atomically.

    Parameters
    ----------
    model : GaussianMixture
        A fitted estimator.
    path : str or path-like
        Destination; the suffix ``.gmm`` is conventional. An existing file is replaced
        only once the new one is completely written.
    standardization : (centre, scale), optional
        When the model was fitted on ``(x − centre) / scale``, the two vectors of length
        n_features, stored so that users of the file can map new data the same way.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ModelFileError
        If the model is not a fitted GaussianMixture, or the file cannot be written (its
        folder is missing or not writable, ``path`` is a folder, the disk is full; the OS
        error is the ``__cause__``); nothing is written then, and an existing file is kept.
    """
    header, arrays = _build_header(model, standardization)
    payload = _safetensors().save(
        arrays, metadata={_METADATA_KEY: json.dumps(header, sort_keys=True)}
    )
    destination = Path(path)
    atomic_write(destination, payload, what="model file", error=ModelFileError)
    return destination


# --------------------------------------------------------------------------- reading
def _foreign(path: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"a gaussmix model file must be a safetensors file with a gaussmix header; "
        f"{str(path)!r} {what}. Write models with gaussmix.save (gaussmix never unpickles "
        "files, so pickles and joblib dumps cannot be loaded this way)."
    )


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays of a file, checked for format, version and checksum."""
    if not path.is_file():
        raise ModelFileError(
            f"the model file must exist; got {str(path)!r}, which is not a file. "
            "Check the path, or create the model with `gaussmix fit`."
        )
    with path.open("rb") as handle:
        start = handle.read(9)
    # A safetensors file opens with the 8-byte little-endian length of its JSON header and
    # then "{"; the low byte of that length may itself be 0x80, the pickle opcode, so the
    # pickle test applies only to files that do not have this layout.
    declared = int.from_bytes(start[:8], "little") if len(start) == 9 else -1
    safetensors_layout = start[8:9] == b"{" and 0 < declared < path.stat().st_size
    if not safetensors_layout and start.startswith(_PICKLE_MAGIC):
        raise _foreign(path, "is a Python pickle (it starts with the pickle protocol byte)")
    if start.startswith(_ZIP_MAGIC):
        raise _foreign(path, "is a zip archive (an .npz or joblib file?)")
    safetensors = import_optional("safetensors", "io", "Loading models")
    try:
        # safe_open checks that the declared shapes, dtypes and byte ranges tile the file
        # exactly before any array is created, so a hostile header cannot make us allocate
        # more than the file's own size.
        with safetensors.safe_open(str(path), framework="numpy") as opened:
            metadata = opened.metadata() or {}
            names = list(opened.keys())
            arrays = {name: np.array(opened.get_tensor(name)) for name in names}
    except safetensors.SafetensorError as error:
        raise _foreign(
            path, f"is not readable as safetensors ({error}); it may be truncated"
        ) from None
    except (OSError, ValueError, TypeError) as error:
        # TypeError: a dtype safetensors knows but NumPy has not (bfloat16, float8).
        raise _foreign(path, f"could not be read ({type(error).__name__}: {error})") from None
    text = metadata.get(_METADATA_KEY)
    if text is None:
        raise _foreign(path, "has no gaussmix header")
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as error:
        # ValueError covers malformed JSON and integers longer than Python's digit limit;
        # RecursionError deeply nested arrays or objects.
        raise ModelFileError(
            f"the gaussmix header must be valid JSON; in {str(path)!r} it is not ({error}). "
            "The file is corrupted: save the model again."
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _foreign(path, "has a header of another format")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(
            f"format_version must be a positive integer; got {version!r} in {str(path)!r}. "
            "The file is corrupted: save the model again."
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"this gaussmix reads model files up to format version {FORMAT_VERSION}; "
            f"{str(path)!r} has format version {version} (written by gaussmix "
            f"{header.get('gaussmix_version')}). Upgrade gaussmix: pip install -U gaussmix."
        )
    if header.get("checksum") != _checksum(header, arrays):
        raise ModelFileError(
            f"the checksum stored in a model file must match its contents; in {str(path)!r} "
            "it does not, so the file was modified or corrupted after it was written. "
            "Save the model again from its source."
        )
    return header, arrays


def _corrupt(path: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"a model file must describe a valid mixture; {str(path)!r} {what}. "
        "The file is inconsistent: save the model again."
    )


def _check_arrays(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Shapes against the header, finite values, weights on the simplex, positive variances."""
    from gaussmix.covariance import get_covariance_model
    from gaussmix.covariance.attributes import reports_dense
    from gaussmix.covariance.forms import compact_shape, dense_covariances

    declared = header.get("arrays", {})
    if sorted(declared) != sorted(arrays):
        raise _corrupt(
            path, f"holds arrays {sorted(arrays)} but its header lists {sorted(declared)}"
        )
    for name, array in arrays.items():
        spec = declared[name]
        if list(array.shape) != spec.get("shape") or array.dtype.str != spec.get("dtype"):
            raise _corrupt(
                path,
                f"has {name} of shape {array.shape} and dtype {array.dtype.str}, but its header "
                f"says {spec}",
            )
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise _corrupt(path, f"has non-finite values (NaN or inf) in {name}")
    unknown = sorted(
        name for name in arrays if name not in _ARRAY_ATTRIBUTES and not _is_parameter(name)
    )
    if unknown:
        raise _corrupt(path, f"has arrays {unknown}, which are not GaussianMixture attributes")
    for required in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        if required not in arrays:
            raise _corrupt(path, f"lacks the array {required}")
        if arrays[required].dtype.str not in ("<f4", "<f8"):
            raise _corrupt(
                path, f"has {required} of dtype {arrays[required].dtype.str}, not float32/64"
            )
    n_components, n_features = header.get("n_components"), header.get("n_features")
    for name, value in (("n_components", n_components), ("n_features", n_features)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _corrupt(path, f"has {name} = {value!r}, not a positive integer")
    model = get_covariance_model(header.get("covariance_model"))
    weights, means = arrays["weights_"], arrays["means_"]
    if weights.shape != (n_components,) or means.shape != (n_components, n_features):
        raise _corrupt(
            path,
            f"has weights of shape {weights.shape} and means of shape {means.shape} for "
            f"n_components = {n_components}, n_features = {n_features}",
        )
    if np.any(weights < 0) or abs(float(weights.sum(dtype=np.float64)) - 1.0) > (
        _WEIGHT_SUM_TOLERANCE
    ):
        raise _corrupt(path, f"has weights that are not a probability vector (sum {weights.sum()})")
    # mclust codes report dense (K, D, D) arrays, scikit-learn names their compact form.
    covariance_type = header.get("parameters", {}).get("covariance_type", model.name)
    dense = (n_components, n_features, n_features)
    expected = (
        dense
        if reports_dense(covariance_type, model)
        else compact_shape(model.form, n_components, n_features)
    )
    covariances = arrays["covariances_"]
    for name in ("covariances_", "precisions_cholesky_"):
        if arrays[name].shape != expected:
            raise _corrupt(
                path,
                f"has {name} of shape {arrays[name].shape}; expected {expected} for "
                f"covariance_type {covariance_type!r}",
            )
    if covariances.shape == dense or model.form == "tied":
        matrices = covariances.reshape(-1, n_features, n_features)
        symmetric = np.allclose(matrices, np.swapaxes(matrices, -1, -2), rtol=1e-10, atol=0)
        positive = symmetric and np.all(np.linalg.eigvalsh(matrices) > 0)
    else:
        positive = bool(np.all(covariances > 0))
    if not positive:
        raise _corrupt(path, "has covariances that are not positive definite")
    factors = arrays["precisions_cholesky_"]
    if not np.all(_cholesky_diagonal(model.form, factors) > 0):
        raise _corrupt(path, "has precision Cholesky factors with non-positive diagonals")
    # Predictions read the factors, the M-step and users the covariances: they must agree.
    layout = "full" if covariances.shape == dense else model.form
    sigma = dense_covariances(covariances, layout, n_components, n_features)
    factor = dense_covariances(factors, layout, n_components, n_features)
    with np.errstate(all="ignore"):
        whitened = np.swapaxes(factor, -1, -2) @ sigma @ factor
        error = np.max(np.abs(whitened - np.eye(n_features)))
    if not error <= _FACTOR_TOLERANCE:  # also catches NaN from overflowing products
        raise _corrupt(
            path,
            f"has precision Cholesky factors that do not match its covariances "
            f"(max |Lᵀ Σ L − I| = {error:.3g})",
        )


def _is_parameter(name: str) -> bool:
    return name.startswith(_PARAMETER_PREFIX)


def _cholesky_diagonal(form: str, factors: np.ndarray) -> np.ndarray:
    """Diagonal entries of precision Cholesky factors; all positive in a valid model.

    Models named by an mclust code store dense (K, D, D) factors whatever their form.
    """
    if form in ("tied", "full") or factors.ndim == 3:
        return np.diagonal(factors, axis1=-2, axis2=-1)
    return factors


def _check_attributes(path: Path, header: dict[str, Any]) -> None:
    """Only known fitted attributes, each of its JSON type and consistent with the header."""
    attributes = header.get("attributes", {})
    if not isinstance(attributes, dict):
        raise _corrupt(path, f"has attributes of type {type(attributes).__name__}, not an object")
    unknown = sorted(name for name in attributes if name not in _SCALAR_ATTRIBUTES)
    if unknown:
        raise _corrupt(
            path, f"names attributes {unknown} that are not GaussianMixture fitted attributes"
        )
    for name, value in attributes.items():
        expected = _SCALAR_ATTRIBUTES[name]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise _corrupt(path, f"has {name} of type {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value) and name != "lower_bound_":
            raise _corrupt(path, f"has a non-finite {name}")
    n_features = header["n_features"]
    if attributes.get("n_features_in_", n_features) != n_features:
        raise _corrupt(
            path,
            f"has n_features_in_ = {attributes['n_features_in_']} but n_features = {n_features}",
        )
    names = attributes.get("feature_names_in_")
    if names is not None and (
        len(names) != n_features or not all(isinstance(name, str) for name in names)
    ):
        raise _corrupt(path, f"has feature_names_in_ that are not {n_features} strings")
    standardization = header.get("standardization")
    if standardization is not None:
        centre = np.asarray(standardization["centre"], dtype=float)
        scale = np.asarray(standardization["scale"], dtype=float)
        if (
            centre.shape != (n_features,)
            or scale.shape != (n_features,)
            or not np.all(np.isfinite(centre))
            or not np.all(np.isfinite(scale) & (scale > 0))
        ):
            raise _corrupt(
                path,
                f"has a standardization that is not two finite vectors of length {n_features} "
                "with positive scales",
            )


def _rebuild(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from gaussmix.estimator import GaussianMixture

    parameters = dict(header.get("parameters", {}))
    for name in header.get("array_parameters", []):
        parameters[name] = arrays.pop(_PARAMETER_PREFIX + name)
    known = GaussianMixture().get_params(deep=False)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ModelFileError(
            f"model file parameters must be GaussianMixture parameters of this gaussmix; "
            f"{str(path)!r} has {unknown}. Upgrade gaussmix: pip install -U gaussmix."
        )
    model = GaussianMixture(**parameters)
    covariance_model = model._check_parameters()
    if covariance_model.name != header["covariance_model"]:
        raise _corrupt(
            path,
            f"has covariance_type {model.covariance_type!r} (model {covariance_model.name}) but "
            f"covariance_model {header['covariance_model']!r}",
        )
    if model.n_components != header["n_components"]:
        raise _corrupt(
            path,
            f"has the parameter n_components = {model.n_components} but "
            f"n_components = {header['n_components']}",
        )
    _check_attributes(path, header)
    stray = sorted(set(arrays) - _ARRAY_ATTRIBUTES)
    if stray:
        raise _corrupt(path, f"has arrays {stray} that are neither attributes nor parameters")
    for name, value in header.get("attributes", {}).items():
        if name == "feature_names_in_":
            value = np.asarray(value, dtype=object)
        setattr(model, name, value)
    for name, array in arrays.items():
        setattr(model, name, array)
    model._fit_settings = model._current_settings()
    return model


def read_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Read and validate a model file, returning the model and its header.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    ModelFile

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, modified (checksum), of another format (a pickle,
        an archive), of a newer format version, or describes an invalid mixture (shapes
        that contradict the header, non-finite values, weights not summing to one,
        covariances that are not positive definite).
    """
    from gaussmix.exceptions import InvalidParameterError

    source = Path(path)
    header, arrays = _read(source)
    try:
        _check_arrays(source, header, arrays)
        model = _rebuild(source, header, arrays)
    except ModelFileError:
        raise
    except InvalidParameterError as error:
        raise ModelFileError(
            f"a model file must hold valid GaussianMixture settings; {str(source)!r} does not: "
            f"{error}"
        ) from None
    except (
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        ValueError,
        ArithmeticError,
        RecursionError,
        np.linalg.LinAlgError,
    ) as error:
        # A header with the right checksum can still have been written by hand.
        raise _corrupt(
            source, f"has a malformed header ({type(error).__name__}: {error})"
        ) from None
    return ModelFile(model=model, header=header)


def load(path: str | os.PathLike[str]) -> Any:
    """Read a fitted mixture from a model file written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    GaussianMixture
        The fitted estimator; its predictions equal those of the saved one exactly.

    Raises
    ------
    ModelFileError
        See :func:`read_model_file`.
    """
    return read_model_file(path).model
