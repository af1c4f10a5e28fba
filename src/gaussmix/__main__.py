"""Entry point of ``python -m gaussmix`` and of the ``gaussmix`` command."""

from __future__ import annotations

import importlib.util
import sys

# What the command needs (the extra ``cli``); checked without importing them, so that
# ``gaussmix --help`` does not pay for pandas.
_REQUIRED = ("click", "rich", "pandas")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def main(argv: list[str] | None = None) -> int:
    """Run the ``gaussmix`` command, or explain which extra it needs.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 2 user error (or missing extra), 130 interrupted.
    """
    for module in _REQUIRED:
        if _missing(module):
            print(
                f"Error: The gaussmix command needs {module}: pip install 'gaussmix[cli]'",
                file=sys.stderr,
            )
            return 2
    from gaussmix.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
