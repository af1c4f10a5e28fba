"""Atomic writes of model files, tables and figures: clear errors naming the user's path,
nothing left behind, and the leftovers of killed writes cleaned up."""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gaussmix
import gaussmix.atomic
import gaussmix.files.atomic
from gaussmix import GaussianMixture, ModelFileError
from gaussmix.atomic import STALE_AFTER_SECONDS, atomic_write, partial_name
from gaussmix.exceptions import OutputFileError
from gaussmix.tables import write_table


@pytest.fixture(scope="module")
def model():
    return GaussianMixture(2, random_state=0).fit(np.random.default_rng(0).normal(size=(60, 2)))


def _left_over(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".partial"))


def _check_message(error: pytest.ExceptionInfo, path: Path, reason: str) -> None:
    text = str(error.value)
    assert repr(str(path)) in text
    assert reason in text
    assert ".partial" not in text


def test_saving_onto_a_folder_names_it_and_writes_nothing(tmp_path, model):
    target = tmp_path / "models"
    target.mkdir()
    with pytest.raises(ModelFileError) as caught:
        gaussmix.save(model, target)
    _check_message(caught, target, "is a folder")
    assert list(target.iterdir()) == [] and _left_over(tmp_path) == []


def test_saving_below_a_file_or_into_a_missing_folder(tmp_path, model):
    (tmp_path / "file").write_text("not a folder")
    inside_a_file = tmp_path / "file" / "m.gmm"
    with pytest.raises(ModelFileError) as caught:
        gaussmix.save(model, inside_a_file)
    _check_message(caught, inside_a_file, "is a file, not a folder")
    assert isinstance(caught.value.__cause__, NotADirectoryError)
    missing = tmp_path / "missing" / "m.gmm"
    with pytest.raises(ModelFileError) as caught:
        gaussmix.save(model, missing)
    _check_message(caught, missing, "does not exist")


@pytest.mark.parametrize(
    ("failing", "code", "reason"),
    [
        ("open", errno.EACCES, "is not writable by this user"),
        ("open", errno.EROFS, "read-only file system"),
        ("replace", errno.EACCES, "is not writable by this user"),
        ("fsync", errno.ENOSPC, "disk or quota is full"),
    ],
)
def test_os_errors_become_model_file_errors_naming_the_path(
    tmp_path, model, monkeypatch, failing, code, reason
):
    # Run as root, a read-only folder would not stop the write: the OS call is made to
    # fail instead, the way it fails for an ordinary user.
    path = gaussmix.save(model, tmp_path / "m.gmm")
    before = path.read_bytes()
    real = getattr(os, failing)

    def fail(*arguments, **options):
        name = arguments[0] if failing != "fsync" else None
        raise OSError(code, os.strerror(code), name)

    monkeypatch.setattr(gaussmix.files.atomic.os, failing, fail)
    with pytest.raises(ModelFileError) as caught:
        gaussmix.save(model, path)
    monkeypatch.setattr(gaussmix.files.atomic.os, failing, real)
    _check_message(caught, path, reason)
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == code
    assert path.read_bytes() == before
    assert _left_over(tmp_path) == []


def test_tables_and_figures_get_output_file_errors(tmp_path):
    folder = tmp_path / "labels.csv"
    folder.mkdir()
    with pytest.raises(OutputFileError) as caught:
        write_table(folder, {"label": np.arange(3)})
    _check_message(caught, folder, "is a folder")
    # Also an OSError (what the failing call raised) and a ValueError (gaussmix's errors).
    assert isinstance(caught.value, OSError) and isinstance(caught.value, ValueError)
    pyplot = pytest.importorskip("matplotlib.pyplot")
    from gaussmix.plotting import save_figure

    figure = pyplot.figure()
    below_a_file = tmp_path / "labels.csv" / "x" / "plot.png"
    with pytest.raises(OutputFileError) as caught:
        save_figure(figure, below_a_file)
    _check_message(caught, below_a_file, "does not exist")


def test_ctrl_c_during_a_write_is_not_turned_into_an_error(tmp_path, monkeypatch):
    def interrupt(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(gaussmix.files.atomic.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "out.csv", b"a\n1\n")
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    # No process can have a number above the kernel's limit.
    limit = Path("/proc/sys/kernel/pid_max")
    if not limit.exists():
        pytest.skip("needs Linux's /proc/sys/kernel/pid_max")
    return int(limit.read_text()) + 1


@pytest.mark.skipif(sys.platform == "win32", reason="process ids are tested on POSIX only")
def test_a_save_removes_the_leftovers_of_killed_saves_and_only_those(tmp_path, model):
    target = tmp_path / "m.gmm"
    ours = partial_name(target, "0" * 16)
    host = ours.split(".")[4]
    dead, own, parent = _dead_pid(), os.getpid(), os.getppid()
    leftovers = {
        "dead writer here": f".m.gmm.pid{dead}.{host}.{'1' * 16}.partial",
        "old, no pid": f".m.gmm.{'2' * 16}.partial",
        "old, other host": f".m.gmm.pid{dead}.elsewhere.{'3' * 16}.partial",
    }
    kept = {
        "this process": f".m.gmm.pid{own}.{host}.{'4' * 16}.partial",
        "running writer": f".m.gmm.pid{parent}.{host}.{'5' * 16}.partial",
        "fresh, other host": f".m.gmm.pid{dead}.elsewhere.{'6' * 16}.partial",
        "fresh, no pid": f".m.gmm.{'7' * 16}.partial",
        "other target": f".n.gmm.pid{dead}.{host}.{'8' * 16}.partial",
        "not a leftover": f".m.gmm.pid{dead}.{host}.{'9' * 16}.txt",
    }
    for name in [*leftovers.values(), *kept.values()]:
        (tmp_path / name).write_bytes(b"half a model")
    old = time.time() - STALE_AFTER_SECONDS - 3600
    for label in ("old, no pid", "old, other host"):
        os.utime(tmp_path / leftovers[label], (old, old))
    gaussmix.save(model, target)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == sorted(
        ["m.gmm", *kept.values()]
    )
    assert gaussmix.load(target).n_iter_ == model.n_iter_


def test_the_temporary_name_says_which_file_and_which_process(tmp_path):
    name = partial_name(tmp_path / "model.gmm")
    assert name.startswith(f".model.gmm.pid{os.getpid()}.") and name.endswith(".partial")
    assert len(partial_name(tmp_path / ("x" * 255))) < 256
