"""Imports point down: no cycle among gaussmix's modules, and ``import gaussmix`` stays light.

The graph is read from the source (AST), so imports inside functions count: an import
hidden in a function body is still a dependency, only a later one. Imports under
``if TYPE_CHECKING:`` never run and do not count. ``import a.b.c`` depends on ``a.b.c``;
``from a.b import c`` on the module ``a.b.c`` when there is one, else on ``a.b``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gaussmix

PACKAGE_ROOT = Path(gaussmix.__file__).parent
PACKAGE = "gaussmix"


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth, outside ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name ``from <node.module>`` refers to, relative imports resolved."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _dependencies(module: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        source = _absolute(module, is_package, node)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in known else source)
    return {target for target in targets if target in known and target != module}


def import_graph() -> dict[str, set[str]]:
    """Each gaussmix module and the gaussmix modules it imports (anywhere in its body)."""
    modules = _modules()
    known = set(modules)
    return {name: _dependencies(name, path, known) for name, path in modules.items()}


def _cycle_through(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """One cycle from ``start`` back to itself inside a strongly connected component."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{start} is in no cycle of {sorted(members)}")


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return [
        _cycle_through(graph, min(component), component)
        for component in components
        if len(component) > 1
    ]


def test_the_import_graph_has_no_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_walker_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The graph builder finds a cycle hidden in a function body and in ``from . import``."""
    graph = import_graph()
    assert "gaussmix.persistence" in graph["gaussmix.estimator"]  # imported inside save()
    assert "gaussmix.estimator" in graph["gaussmix.io"]  # imported inside functions
    hidden = {
        "gaussmix.a": {"gaussmix.b"},
        "gaussmix.b": {"gaussmix.c"},
        "gaussmix.c": {"gaussmix.a"},
        "gaussmix.d": {"gaussmix.a"},
    }
    assert find_cycles(hidden) == [["gaussmix.a", "gaussmix.b", "gaussmix.c", "gaussmix.a"]]
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from gaussmix.estimator import GaussianMixture\n"
        "def f():\n"
        "    from . import selection\n"
        "    from .covariance import forms\n"
        "    import gaussmix.kernels\n"
    )
    module = tmp_path / "module.py"
    module.write_text(source)
    found = _dependencies("gaussmix.cli", module, set(_modules()))
    assert found == {"gaussmix.selection", "gaussmix.covariance.forms", "gaussmix.kernels"}


# What ``import gaussmix`` must not load: the package resolves its names on first use
# (gaussmix/__init__.py, PEP 562), so the optional extras and scikit-learn stay unloaded.
HEAVY = ("numba", "torch", "dask", "matplotlib", "pandas", "sklearn", "scipy")


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys\n{statement}\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    "statement",
    [
        "import gaussmix",
        "import gaussmix; gaussmix.__version__",
        "from gaussmix import __main__",
    ],
)
def test_importing_gaussmix_loads_no_heavy_library(statement):
    assert _loaded_after(statement) == []


def test_the_lazy_names_do_load_their_modules():
    """The check above can fail: resolving a public name does import scikit-learn."""
    assert "sklearn" in _loaded_after("import gaussmix; gaussmix.GaussianMixture")
