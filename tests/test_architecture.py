"""The package's dependency rules (issue 14), read from the source: no import circles, and the rooms' arrows.

Every import counts, those inside functions too: a lazy import that breaks a circle at load time
still ties the two modules together.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "openpersonalize"
NAME = PACKAGE.name


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (``from . import x`` names the submodule x when there is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith(NAME + "."):
                found.add(target)
                break
    return found


def import_graph() -> dict[str, set[str]]:
    """Package module (``__init__`` files under their package's name) -> the package modules it imports."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _room(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def _crossings(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    return sorted(f"{m} -> {t}" for m, deps in graph.items() if _room(m) == source for t in deps if _room(t) == target)


def test_the_checker_sees_imports_and_circles() -> None:
    graph = import_graph()
    assert "openpersonalize.runtime.service" in graph["openpersonalize.server"]
    assert "openpersonalize.store.events" in graph["openpersonalize.control.base"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("control", "api"),
        ("recipes", "control"),
        ("runtime", "control"),
        ("runtime", "api"),
        *((room, "console") for room in ("api", "control", "runtime", "recipes", "store", "data", "jobs")),
    ],
)
def test_room_never_imports(source: str, target: str) -> None:
    assert _crossings(import_graph(), source, target) == []


def test_the_console_holds_no_algorithm() -> None:
    """The web console reads the recipe catalogue; models are reached through the runtime only."""
    reach = [
        c
        for c in _crossings(import_graph(), "console", "recipes")
        if not c.endswith("-> openpersonalize.recipes.registry")
    ]
    assert reach == []


def test_no_registry_or_private_reach_in_serving() -> None:
    """Part of what issue 14's reviewer greps for: the event-store registry keyed by object ids, private members
    of the runtime service or a batch session, capability probes on a model. (``__qualname__`` and
    ``except TypeError``, the rest of the reviewer's grep, are the recipe contract's part of the issue.)"""
    pattern = re.compile(r"event_store\(|_services\b|service\._|session\._|hasattr\((model|previous)")
    hits = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert hits == []
