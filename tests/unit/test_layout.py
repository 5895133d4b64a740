"""The house rules the layout promises, checked on the source: no import cycles between modules
or between packages, distml/cluster/ below every other package, modules of at most 500 lines,
functions of at most 80, Ray imported only under distml/cluster/ (lazily), by the Serve
deployment and the sweep launcher plugin, the commands' entry in cli.py only."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def _package(module: str) -> str:
    """distml.a.b -> a; a top-level module distml.x is its own package x."""
    return module.split(".")[1]


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a, targets in graph.items():
        if a == "distml":
            continue
        out.setdefault(_package(a), set()).update(
            _package(b) for b in targets if _package(b) != _package(a)
        )
    return out


MOVED = {"distml.cluster.serve"}
"""Modules left only to fail with their new name (an import path in users' manifests)."""
RAY_MODULES = ("distml.cluster", "distml.serve.deployment", "distml.plugins")
"""Where ``import ray`` may appear: the Ray layer, the Serve application, the sweep launcher."""
CLUSTER_MAY_IMPORT = {"cluster", "config", "errors", "progress"}


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_no_package_cycles():
    """A module-level check cannot see a loop through packages (cluster -> serve -> scoring ->
    cluster, each import from a different module)."""
    assert _cycles(_package_graph(_graph())) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    # a deliberate cluster -> serve import closes a loop through packages
    graph = _graph()
    graph["distml.cluster.session"] = graph["distml.cluster.session"] | {"distml.serve.model"}
    assert any("cluster" in c and "serve" in c for c in _cycles(_package_graph(graph)))


def test_the_cluster_package_is_below_every_other():
    """distml/cluster/ (Ray) imports nothing of distml but config, errors and progress."""
    graph = _graph()
    above = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        if a != "distml" and _package(a) == "cluster" and a not in MOVED
        for b in targets
        if _package(b) not in CLUSTER_MAY_IMPORT
    )
    assert above == []


def test_importing_distml_does_not_load_ray():
    """Scoring, preprocessing, a Serve replica's code and the in-process executor's path (every
    module but the Serve application) run without loading Ray: Ray is imported where it runs."""
    named = ["distml.scoring", "distml.preprocess.apply", "distml.serve.model", "distml.serve.rows"]
    rest = sorted(
        n for n in MODULES if not n.startswith(RAY_MODULES[1:]) and n not in MOVED and n != "distml"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {named + ['distml.serve.answers', 'distml.serve.log'] + rest!r}:\n"
        "    importlib.import_module(name)\n"
        "    assert 'ray' not in sys.modules, 'importing ' + name + ' loaded ray'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


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
        if not n.startswith(RAY_MODULES)
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
