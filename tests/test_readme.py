"""Every ```python block of README.md runs as written, on its own, as a script.

Each block is written to ``block.py`` in a fresh temporary directory and run as
``python block.py`` in its own interpreter (so a ``LocalCluster`` block needs its
``if __name__ == "__main__":`` guard, as a reader's script would), with the Agg backend
and a timeout; a block may therefore use nothing from the blocks before it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Generous: a block fits up to 126 models or starts a two-worker LocalCluster, on a
# shared 2-core machine (the slowest took about 40 s there).
TIMEOUT_S = 600

# Optional packages a block may import; without them the block is skipped, saying so.
_OPTIONAL = ("torch", "dask", "distributed", "matplotlib", "pandas", "pyarrow", "zarr")

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the opening fence, code) of every ```python block, in order."""
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1)) for match in _FENCE.finditer(text)
    ]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def _imported(code: str) -> set[str]:
    pattern = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.MULTILINE)
    return set(pattern.findall(code))


def _run_script(path: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run ``python path`` in its directory; on timeout kill its whole process group."""
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, path.name],
        cwd=path.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Its own session, so that worker processes it starts die with it on a timeout.
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{path.name} ran past {timeout} s\nstdout:\n{stdout}\nstderr:\n{stderr}")
    finally:
        # Whatever the script left running in its session (a cluster's workers) goes too.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_the_readme_has_python_blocks():
    # The extraction itself: a README without blocks would make the test below vacuous.
    assert len(BLOCKS) >= 8
    assert python_blocks("text\n```python\nx = 1\n```\n```\nnot python\n```\n") == [(2, "x = 1\n")]


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs_on_its_own(line, code, tmp_path):
    for module in sorted(_imported(code) & set(_OPTIONAL)):
        pytest.importorskip(module, reason=f"README.md:{line} needs {module}")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    result = _run_script(script, TIMEOUT_S)
    assert result.returncode == 0, (
        f"README.md block at line {line} failed (exit {result.returncode}):\n"
        f"{code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-5000:]}"
    )
