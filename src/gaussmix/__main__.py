"""Entry point of ``python -m gaussmix`` and the ``gaussmix`` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the ``gaussmix`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(prog="gaussmix", description="Gaussian mixtures by EM.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="EM on Old Faithful after 1, 2, 5 and 20 iterations")
    demo.add_argument("-o", "--output", default="em_progress.png", help="figure path")
    arguments = parser.parse_args(argv)
    from gaussmix.demo import run_demo

    run_demo(arguments.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
