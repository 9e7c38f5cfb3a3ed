"""The layers of docs/architecture.md: every import of every module points down, nothing imports
the CLI, and module-level imports form no cycle. Read from the source (AST), so lazy imports
inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("harness", "proxies", "sweep", "search", "training", "reports", "cli")
#: package -> the project modules it may import (a name allows the package or module and below it).
ALLOWED = {
    "harness": ("harness",),
    "proxies": (
        "proxies",
        "harness.errors",
        "harness.registry",
        "harness.ranking",
        "harness.ensembles",
    ),
    "sweep": ("sweep", "proxies", "harness"),
    "search": ("search", "sweep", "proxies", "harness"),
    "training": ("training", "harness"),
    "reports": ("reports", "harness"),
    "cli": PACKAGES,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    )
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names = [f"{base}.{alias.name}" for alias in node.names]
            found += [(base, id(node) in top_level), *((n, id(node) in top_level) for n in names)]
    return found


SOURCES = sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))
MODULES = {_module_name(p) for p in SOURCES}


def _project(name: str) -> str | None:
    """The project module an imported name refers to (a module, or the package above a name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _allowed(importer: str, imported: str) -> bool:
    rules = ALLOWED[importer.split(".")[0]]
    return any(imported == r or imported.startswith(r + ".") for r in rules)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_point_down(path):
    importer = _module_name(path)
    bad = sorted(
        {m for name, _ in _imports(path) if (m := _project(name)) and not _allowed(importer, m)}
    )
    assert not bad, f"{importer} imports {', '.join(bad)} (docs/architecture.md)"


def test_module_level_imports_form_no_cycle():
    graph = {
        _module_name(p): {m for name, top in _imports(p) if top and (m := _project(name))}
        - {_module_name(p)}
        for p in SOURCES
    }
    # A package's __init__ importing its own submodules is how a package exports them, and Python
    # resolves it; cycles through other modules are what breaks a cold import.
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for module in sorted(graph):
        if state.get(module) is None and visit(module, [module]):
            break
    assert not cycle, " -> ".join(cycle)


def test_the_table_is_the_documented_one():
    text = (REPO / "docs" / "architecture.md").read_text()
    for package in PACKAGES:
        assert f"`{package}/`" in text, package
