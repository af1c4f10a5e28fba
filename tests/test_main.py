"""``python -m gaussmix`` without the ``cli`` extra explains what to install."""

from __future__ import annotations

import sys

from gaussmix.__main__ import main


def test_missing_click_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "click", None)
    assert main(["--help"]) == 2
    assert capsys.readouterr().err.strip() == (
        "Error: The gaussmix command needs click: pip install 'gaussmix[cli]'"
    )


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("fit", "select", "predict", "score", "sample", "info", "plot", "demo"):
        assert f"  {command} " in text
