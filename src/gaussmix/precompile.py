"""The compiled kernels of small data: ready now, or compiled in the background meanwhile.

A fresh install compiles the small-data kernels at their first use: the fused E-step, the
posterior, the whole EM loop with the fourteen M-steps, the hierarchical tree and the k-means
start. That is about two minutes of LLVM on the 2-core machine (137 s, an empty
``NUMBA_CACHE_DIR``), where the same first ``select_model`` on Old Faithful took 6.9 s on
the NumPy kernels beside a compiling process. So, unless the machine code is in numba's
disk cache (a load of under a second) or compiled in this process, the small-data paths
take the NumPy kernels, which give the same results to rounding
(``tests/test_small_path.py``, ``tests/test_compiled_em.py``, ``tests/test_kmeans.py``),
and the compilation runs in a process of its own, which fills numba's cache for the fits
that follow.
``GAUSSMIX_COMPILE=wait`` makes the first use compile and wait instead (the test suite sets
it, so that no test depends on how fast a compilation ends); :func:`compile_kernels`, or
``python -m gaussmix.precompile``, compiles them ahead.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gaussmix import compiling, fused

__all__ = ["MODE_VARIABLE", "compile_kernels", "ready"]

# GAUSSMIX_COMPILE=wait makes a first use compile and wait (the test suite sets it, so that
# no run depends on how fast a compilation ends); the default, "background", does not wait.
MODE_VARIABLE = "GAUSSMIX_COMPILE"

_lock = threading.Lock()
_state: dict[str, bool] = {"compiled": False, "started": False}
# While the kernels are not in numba's cache, it is read again at most this often: reading
# its index costs about 1 ms a kernel, and every small fit asks (select_model: ~160 fits
# and as many predictions in a second), while a compiler process takes minutes.
_RECHECK_SECONDS = 1.0
_last_check = {"at": -math.inf}


def _dispatchers() -> list[object]:
    from gaussmix import (
        _compiled,
        _compiled_em,
        _compiled_hierarchical,
        _compiled_kmeans,
        _compiled_msteps,
    )

    return [
        _compiled_kmeans.centre_columns,
        _compiled_kmeans.plusplus,
        _compiled_kmeans.lloyd_run,
        _compiled_kmeans.partition_statistics,
        _compiled.whole_statistics,
        _compiled.posterior,
        _compiled_em.run_loop,
        _compiled_hierarchical.agglomerate,
        _compiled_msteps.iterative_mstep,
        _compiled_em.map_log_sum,
        _compiled_em.first_m_step,
    ]


def compile_kernels() -> None:
    """Compile (or load from numba's cache) every small-data kernel, here and now.

    Runs each kernel once on a few rows: the float32 and float64 E-steps and posteriors,
    the compiled EM loop (whose one signature serves every covariance model), the
    hierarchical agglomeration, the k-means start and the iterative models' M-step entry.
    Without numba it does nothing.
    """
    if not fused.available():
        return
    from gaussmix.backends.numpy import SmallDataBackend
    from gaussmix.compiled_em import compiled_loop
    from gaussmix.compiled_msteps import compiled_estimate
    from gaussmix.covariance import get_covariance_model
    from gaussmix.hierarchical import build_tree
    from gaussmix.kmeans import kmeans, partition_statistics
    from gaussmix.mstep import maximize
    from gaussmix.parameters import MixtureParameters

    rows = np.random.default_rng(0).standard_normal((12, 2))
    model = get_covariance_model("VVV")
    start = _two_components(rows)
    for dtype in (np.float64, np.float32):
        backend = SmallDataBackend(rows.astype(dtype), None, 12, use_fused=True)
        statistics = backend.statistics(start, model.scatter)
        prepared = backend.prepare(start)
        fused.posterior(backend.X, prepared, 12)
    parameters: MixtureParameters = maximize(statistics, model, 0.0)
    loop = compiled_loop(SmallDataBackend(rows, None, 12, use_fused=True), model, parameters)
    assert loop is not None  # float64 rows, the small-data executor, VVV: always compiled
    loop.run(
        parameters,
        -np.inf,
        1,
        reg_covar=0.0,
        tol=0.0,
        convergence="absolute",
        log_likelihood_offset=0.0,
        empty_threshold=-np.inf,
    )
    build_tree(rows, compiled=True)
    labels = kmeans(rows, None, 2, np.random.RandomState(0), compiled=True).labels
    partition_statistics(rows, None, labels, 2, "full", compiled=True)
    # The iterative models' M-steps outside the loop (compiled_msteps.compiled_model).
    compiled_estimate("VVE", statistics.n_k, statistics.scatter, 1e-6)
    _one_pass_kernels(rows, parameters)
    with _lock:
        _state["compiled"] = True


def _one_pass_kernels(rows: np.ndarray, parameters: Any) -> None:
    """gaussmix.one_pass's kernels, called directly (its wrappers ask ready() first)."""
    from gaussmix import _compiled_em

    n_features = rows.shape[1]
    _compiled_em.map_log_sum(
        rows, np.empty(0), False, 0, parameters.weights, parameters.means,
        parameters.precisions_cholesky.reshape(-1),
    )  # fmt: skip
    square = n_features * n_features
    _compiled_em.first_m_step(
        0, 2, _compiled_em.VVV, 0.0, np.ones(2), parameters.means, np.zeros((2, n_features)),
        np.tile(np.eye(n_features).reshape(-1), 2), np.empty(2), np.empty((2, n_features)),
        np.empty((2, n_features, n_features)), np.empty(2 * square),
    )  # fmt: skip


def _two_components(rows: np.ndarray) -> object:
    """Two unit-covariance components at ±1 on the first axis, in the full form."""
    from gaussmix.covariance.forms import CovarianceForm
    from gaussmix.parameters import MixtureParameters

    n_features = rows.shape[1]
    means = np.zeros((2, n_features))
    means[:, 0] = (-1.0, 1.0)
    identity = np.broadcast_to(np.eye(n_features), (2, n_features, n_features)).copy()
    return MixtureParameters(
        weights=np.full(2, 0.5),
        means=means,
        covariances=identity,
        precisions_cholesky=identity.copy(),
        form=CovarianceForm("full"),
    )


def _lock_path() -> Path:
    """The pid file of the compiler process, one per user (os.getuid is POSIX only)."""
    user = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"gaussmix-precompile-{user}.pid"


def _compiler_running() -> bool:
    """Whether another process is compiling the kernels (its pid file names a live one)."""
    try:
        pid = int(_lock_path().read_text(encoding="ascii"))
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def _start_compiler() -> None:
    """Compile in a process of its own, which outlives this one and fills numba's cache.

    A thread would share the interpreter lock with the fits it is meant not to slow down
    (the first select_model on Old Faithful took 12 s beside one, 6.9 s beside a compiling
    process), and it
    dies with a short program such as one ``gaussmix`` command before it is done.
    """
    if _compiler_running():
        return
    subprocess.Popen(
        [sys.executable, "-m", "gaussmix.precompile"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def ready() -> bool:
    """Whether the small-data kernels run without compiling first (see the module notes).

    Returns
    -------
    bool
        True when numba is installed and the kernels are compiled in this process or in
        numba's disk cache. Otherwise False, after starting their compilation in a
        process of its own (once per process, none while another runs); the cache is
        then looked at again after a second at the earliest. With
        ``GAUSSMIX_COMPILE=wait`` they are compiled here first and True is returned.
    """
    if not fused.available():
        return False
    if _state["compiled"]:
        return True
    waits = os.environ.get(MODE_VARIABLE, "background") == "wait"
    now = time.monotonic()
    if not waits and now - _last_check["at"] < _RECHECK_SECONDS:
        return False  # not in the cache a moment ago; the compiler has been started
    _last_check["at"] = now
    if all(compiling.in_disk_cache(dispatcher) for dispatcher in _dispatchers()):
        # Reading numba's index costs ~0.2 ms a kernel (it unpickles numba types), and
        # every small fit asks: once in the cache, the kernels stay there for this process.
        _state["compiled"] = True
        return True
    if waits:
        # A compiler process started by an earlier program writes the same cache files:
        # let it finish (then this mostly loads what it wrote).
        while _compiler_running():
            time.sleep(0.2)
        compile_kernels()
        return True
    with _lock:
        if not _state["started"]:
            _state["started"] = True
            _start_compiler()
    return False


if __name__ == "__main__":
    _lock_path().write_text(str(os.getpid()), encoding="ascii")
    try:
        compile_kernels()
    finally:
        _lock_path().unlink(missing_ok=True)
