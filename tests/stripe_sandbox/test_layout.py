"""The sandbox's modules import each other without a circle, type-only imports included,
so each can be read (and loaded) after the ones it names."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "stripe_sandbox"


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def internal_imports(path: Path, package: Path) -> set[str]:
    """The modules of ``package`` that ``path`` imports, wherever the import stands
    (under ``if TYPE_CHECKING:`` or in a function too)."""
    name = module_name(path, package)
    parent = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(package.name))
        elif isinstance(node, ast.ImportFrom):
            base = parent.split(".")[:len(parent.split(".")) - (node.level - 1)] \
                if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            if not target.startswith(package.name):
                continue
            for alias in node.names:  # "from . import render" imports a module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _exists(candidate, package) else target)
    return found


def _exists(module: str, package: Path) -> bool:
    path = package.parent / module.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def import_graph(package: Path) -> dict[str, set[str]]:
    return {module_name(path, package): internal_imports(path, package)
            for path in package.rglob("*.py")}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in trail:
                found.append(trail[trail.index(target):] + [target])
            elif target in graph:
                visit(target, [*trail, target])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_the_sandbox_has_no_import_circle():
    graph = import_graph(PACKAGE)
    assert "stripe_sandbox.state" in graph["stripe_sandbox.persistence"]
    assert "stripe_sandbox.transport" in graph["stripe_sandbox.resources.payment_intents"]
    assert cycles(graph) == []


def test_the_check_sees_a_type_only_circle(tmp_path):
    """The circle the split removed: render imported Sandbox for typing only."""
    package = tmp_path / "stripe_sandbox"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "render.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .state import Sandbox\n")
    (package / "state.py").write_text("from . import render\n")
    assert cycles(import_graph(package)) == [
        ["stripe_sandbox.render", "stripe_sandbox.state", "stripe_sandbox.render"],
        ["stripe_sandbox.state", "stripe_sandbox.render", "stripe_sandbox.state"]]
