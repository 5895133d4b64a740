"""The house rules the layout promises, checked on the source: no import cycles, modules of at
most 500 lines, functions of at most 80, Ray imported only under distml/cluster/ (and the sweep
launcher plugin), the commands' entry in cli.py only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "distml"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every distml module a file imports (at any level), with the line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.append((sub if sub in MODULES else node.module, node.lineno))
    return [(m, ln) for m, ln in found if m.split(".")[0] == "distml" and m in MODULES]


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        if ".plugins." in name:
            continue
        targets = {m for m, _ in _imports(path)}
        # importing distml.a.b runs distml/a/__init__.py first (unless it is the importer's
        # own package, which is already running)
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for m in list(targets):
            parts = m.split(".")
            targets |= {".".join(parts[:i]) for i in range(2, len(parts))} - own
        graph[name] = {t for t in targets if t != name and t in MODULES and t != "distml"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_modules_and_functions_are_short():
    long_modules = {
        n: len(p.read_text().splitlines())
        for n, p in MODULES.items()
        if len(p.read_text().splitlines()) > MAX_MODULE_LINES
    }
    assert long_modules == {}
    long_functions = []
    for n, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long_functions.append(f"{n}.{node.name}: {lines}")
    assert long_functions == []


def test_ray_is_imported_only_in_the_cluster_package():
    outside = [
        f"{n}:{ln}"
        for n, p in MODULES.items()
        if not n.startswith(("distml.cluster", "distml.plugins"))
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for ln, mod in (
            [(node.lineno, a.name) for a in node.names]
            if isinstance(node, ast.Import)
            else [(node.lineno, node.module or "")]
        )
        if mod == "ray" or mod.startswith("ray.")
    ]
    assert outside == []


@pytest.mark.parametrize("module", ["distml.__main__"])
def test_the_entry_is_the_cli(module):
    tree = ast.parse(MODULES[module].read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [ast.unparse(c.func) for c in calls] == ["main"]
    assert "from distml.cli import main" in MODULES[module].read_text()
