"""Entry point of ``python -m gaussmix`` and of the ``gaussmix`` command."""

from __future__ import annotations

import sys

from gaussmix._optional import import_optional


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
    try:
        for module in ("click", "rich", "pandas"):
            import_optional(module, "cli", "The gaussmix command")
    except ImportError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    from gaussmix.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
