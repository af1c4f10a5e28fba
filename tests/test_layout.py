"""The package's layout rules: a thin estimator and short functions in the non-compiled code."""

from __future__ import annotations

import ast
from pathlib import Path

import gaussmix

PACKAGE = Path(gaussmix.__file__).parent
# Compiled kernels are written as flat loops for numba; their length is the price of speed.
COMPILED = {"_compiled.py", "_compiled_hierarchical.py", "_compiled_em.py", "_compiled_msteps.py"}
MAX_BODY_LINES = 60
# The estimator's code, its docstrings (the parameters' and methods' documentation) left out.
MAX_ESTIMATOR_LINES = 250


def _body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its docstring left out."""
    body = function.body
    first = body[0]
    has_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    start = body[1].lineno if has_docstring and len(body) > 1 else first.lineno
    return function.end_lineno - start + 1


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path.name not in COMPILED)


def test_no_function_body_is_longer_than_sixty_lines():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = _body_lines(node)
                if lines > MAX_BODY_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines})")
    assert not long, "functions over 60 body lines: " + ", ".join(long)


def _docstring_lines(node: ast.AST) -> int:
    """Lines of the docstrings of a class and of everything defined in it."""
    lines = 0
    for inner in ast.walk(node):
        if isinstance(inner, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = inner.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines += first.end_lineno - first.lineno + 1
    return lines


def test_the_estimator_class_is_a_thin_shell():
    tree = ast.parse((PACKAGE / "estimator.py").read_text(encoding="utf-8"))
    (estimator,) = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "GaussianMixture"
    ]
    lines = estimator.end_lineno - estimator.lineno + 1 - _docstring_lines(estimator)
    assert lines <= MAX_ESTIMATOR_LINES, f"GaussianMixture's code is {lines} lines"


def test_the_body_counter_leaves_the_docstring_out():
    source = 'def f():\n    """Doc.\n\n    More.\n    """\n    a = 1\n    return a\n'
    (function,) = ast.parse(source).body
    assert _body_lines(function) == 2
