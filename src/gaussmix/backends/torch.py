"""The PyTorch executor: the same chunk kernels on torch tensors, on the CPU or a CUDA device.

PyTorch is optional (``pip install 'gaussmix[torch]'``) and imported only when this
backend is used. The kernels are those of :mod:`gaussmix.kernels`, run through the
``array_api_compat`` namespace of the tensors; only the visiting of chunks, the device
transfers and the float64 accumulation live here. The M-step stays on the host in
float64 (:func:`gaussmix.mstep.maximize`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gaussmix.backends.base import Executor
from gaussmix.covariance.forms import SecondMoment
from gaussmix.exceptions import InvalidParameterError
from gaussmix.kernels import (
    ChunkMoments,
    PreparedParameters,
    chunk_moments,
    moments_to_host,
    prepare_parameters,
)
from gaussmix.parameters import MixtureParameters
from gaussmix.validation import check_tensor

__all__ = [
    "TorchBackend",
    "check_device",
    "check_tensor",
    "import_torch",
    "is_tensor",
    "to_numpy",
]

# On a GPU the (K × D × rows) temporaries may be large: 2**24 elements is 64 MiB in
# float32, big enough to keep the device busy and small beside its memory.
_DEVICE_SCRATCH_ELEMENTS = 2**24
# On the CPU torch parallelises each operation over its threads, and every operation is a
# synchronisation point: chunks of about 2**20 elements keep those points few.
_CPU_SCRATCH_ELEMENTS = 2**20
# Data up to this share of the free device memory are copied there once; larger data
# stay on the host and are streamed through pinned buffers chunk by chunk.
_RESIDENT_SHARE = 0.5


def import_torch() -> Any:
    """Import torch and array_api_compat, or say how to install them.

    Returns
    -------
    module
        ``torch``.

    Raises
    ------
    ImportError
        If either is missing.
    """
    try:
        import array_api_compat  # noqa: F401
        import torch
    except ImportError as error:
        raise ImportError(
            "backend='torch' needs torch and array-api-compat: pip install 'gaussmix[torch]'"
        ) from error
    return torch


def is_tensor(X: Any) -> bool:
    """Whether X is a torch tensor, without importing torch when it is not loaded.

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    return type(X).__module__.startswith("torch") and hasattr(X, "device")


def to_numpy(X: Any) -> Any:
    """A NumPy view or copy of a tensor (anything else is returned unchanged).

    Parameters
    ----------
    X : torch.Tensor or array-like

    Returns
    -------
    ndarray or X
    """
    if is_tensor(X):
        X = X.detach().cpu()
        if str(X.dtype) == "torch.bfloat16":
            # NumPy has no bfloat16; float64 is what any other non-float32/64 dtype becomes
            # (check_data, check_tensor), and holds every bfloat16 exactly.
            X = X.double()
        return X.numpy()
    return X


def default_device() -> Any:
    """CUDA when available, else the CPU.

    Returns
    -------
    torch.device
    """
    torch = import_torch()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_device(device: Any) -> Any:
    """The torch device named by ``device``, or an error saying why it cannot be used.

    Parameters
    ----------
    device : str or torch.device
        E.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Returns
    -------
    torch.device

    Raises
    ------
    InvalidParameterError
        For a name torch does not know, CUDA asked for where torch reports none, a CUDA
        index beyond the devices present, or any other device torch cannot allocate on.
    """
    torch = import_torch()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InvalidParameterError(
            f"device must name a torch device (e.g. 'cpu', 'cuda', 'cuda:1'); got {device!r}: "
            f"{error}"
        ) from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidParameterError(
                f"device={device!r} was asked for but torch reports no CUDA device "
                "(torch.cuda.is_available() is False: no GPU, no driver, or a CPU-only torch "
                "build). Use device='cpu', or device=None to take CUDA only when it exists."
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise InvalidParameterError(
                f"device={device!r} was asked for but torch sees {count} CUDA device(s) "
                f"(indices 0 to {count - 1}). Use one of those, or device='cuda'."
            )
        return resolved
    if resolved.type != "cpu":
        try:
            torch.empty(1, device=resolved)
        except (RuntimeError, AssertionError) as error:
            raise InvalidParameterError(
                f"device={device!r} cannot be used by this torch installation: {error}. Use "
                "device='cpu' or device=None."
            ) from error
    return resolved


class TorchBackend(Executor):
    """Visits row chunks of the data as torch tensors on one device and sums their moments.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
        The data, float32 or float64, already validated. A tensor already on ``device`` is
        used in place; other data are copied to the device once when they fit in half
        its free memory, else streamed chunk by chunk through pinned host memory.
    sample_weight : ndarray or torch.Tensor of shape (n_samples,) or None
        Non-negative weights; None means all ones.
    chunk_size : int or None
        Rows per chunk; None picks one so that a (K × D × rows) temporary has about
        2**24 elements on a GPU and 2**20 on the CPU.
    device : str, torch.device or None
        Where the kernels run; None means CUDA when available, else the CPU.
    n_components : int, default=1
        K, which sets the default chunk size.

    Notes
    -----
    Chunk moments are accumulated on the device in float64 in chunk order, so results
    are deterministic for a given device and chunk size.
    """

    def __init__(
        self,
        X: Any,
        sample_weight: Any | None,
        chunk_size: int | None,
        device: Any = None,
        n_components: int = 1,
    ):
        torch = import_torch()
        self.torch = torch
        self.device = default_device() if device is None else check_device(device)
        self.X = X if is_tensor(X) else torch.from_numpy(np.asarray(X))
        self.sample_weight = None
        if sample_weight is not None:
            weights = sample_weight if is_tensor(sample_weight) else torch.from_numpy(sample_weight)
            self.sample_weight = weights.to(self.X.dtype)
        self.chunk_size = self._rows(chunk_size, n_components)
        self._resident = self.X.device == self.device or self._fits_on_device()
        if self._resident:
            self.X = self.X.to(self.device)
            if self.sample_weight is not None:
                self.sample_weight = self.sample_weight.to(self.device)

    def _fits_on_device(self) -> bool:
        if self.device.type != "cuda":
            return True
        free, _ = self.torch.cuda.mem_get_info(self.device)
        return self.X.element_size() * self.X.numel() < _RESIDENT_SHARE * free

    def _rows(self, chunk_size: int | None, n_components: int) -> int:
        if chunk_size is not None:
            return int(chunk_size)
        n_features = self.X.shape[1]
        elements = _DEVICE_SCRATCH_ELEMENTS if self.device.type == "cuda" else _CPU_SCRATCH_ELEMENTS
        return max(1024, elements // max(1, n_components * n_features))

    def chunks(self) -> Iterator[tuple[Any, Any | None]]:
        """Yield ``(rows, weights)`` chunks on the device, in order.

        Yields
        ------
        rows : torch.Tensor of shape (chunk, n_features)
        weights : torch.Tensor of shape (chunk,) or None
        """
        rows = self.chunk_size
        for start in range(0, self.X.shape[0], rows):
            stop = start + rows
            block = self.X[start:stop]
            weights = None if self.sample_weight is None else self.sample_weight[start:stop]
            if not self._resident:
                # Pinned pages let the copy run asynchronously with the kernels.
                block = block.pin_memory().to(self.device, non_blocking=True)
                if weights is not None:
                    weights = weights.pin_memory().to(self.device, non_blocking=True)
            yield block, weights

    def prepare(self, parameters: MixtureParameters) -> PreparedParameters:
        """Parameters laid out for the kernels, on the device in the data's dtype.

        Parameters
        ----------
        parameters : MixtureParameters

        Returns
        -------
        PreparedParameters
        """
        from array_api_compat import array_namespace

        xp = array_namespace(self.X)
        return prepare_parameters(parameters, xp, self.X.dtype, self.device)

    def sum_moments(self, prepared: PreparedParameters, moment: SecondMoment) -> ChunkMoments:
        """The chunks' moments, accumulated on the device in float64, then copied to the host.

        Parameters
        ----------
        prepared : PreparedParameters
            From :meth:`prepare`, on the device.
        moment : {"diagonal", "full"}
            The second moment to accumulate.

        Returns
        -------
        ChunkMoments
            NumPy float64 arrays.
        """
        total: ChunkMoments | None = None
        with self.torch.no_grad():
            for rows, weights in self.chunks():
                moments = chunk_moments(rows, weights, prepared, moment)
                total = moments if total is None else total + moments
        return moments_to_host(total)

    def map_rows(self, function: Callable[[Any], Any]) -> Any:
        """Apply a row-wise function chunk by chunk and concatenate the results on the device.

        Parameters
        ----------
        function : callable
            Maps a (chunk, n_features) tensor to a tensor with one leading entry per row.

        Returns
        -------
        torch.Tensor
        """
        with self.torch.no_grad():
            return self.torch.cat([function(rows) for rows, _ in self.chunks()], dim=0)
