"""DESIGN.md's dependency direction, checked on the real import graph.

Every module of ``aware3d`` and ``aware3d.exporters`` is found through the import system (so the
package-dir mapping of pyproject.toml is honoured), parsed with :mod:`ast`, and each import
statement, at module level or inside a function, is resolved to the module it loads. grimp cannot
build this graph: it walks one folder per package and misses ``aware3d.exporters``, which lives
in its own folder.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import networkx as nx
import pytest

import aware3d
import aware3d.exporters

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    """Every module of the two import packages, by dotted name."""
    found = {"aware3d": Path(aware3d.__file__), "aware3d.exporters": Path(aware3d.exporters.__file__)}
    for package in (aware3d, aware3d.exporters):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            spec = importlib.util.find_spec(info.name)
            found[info.name] = Path(spec.origin)
    return found


def _imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The aware3d modules that ``name`` (file ``path``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            # ``from pkg import sub`` loads pkg.sub when it is a module, else only pkg
            candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:  # ``import aware3d.x.y`` -> the deepest module that exists
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    modules = _modules()
    known = set(modules)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for name, path in modules.items():
        graph.add_edges_from((name, target) for target in _imported(name, path, known))
    return graph


def _layer(module: str) -> str:
    if module == "aware3d.__main__" or module == "aware3d.app" or module.startswith("aware3d.app."):
        return "application"
    if module == "aware3d.exporters" or module.startswith("aware3d.exporters."):
        return "exporters"
    return "library"


_ALLOWED = {
    "application": {"application", "exporters", "library"},
    "exporters": {"exporters", "library"},
    "library": {"library"},
}
"""DESIGN.md: application -> aware3d.exporters -> library core; never the other way."""


def test_the_graph_is_the_real_one(graph):
    """Guards the walker itself: it finds the packages and edges we know exist."""
    assert {"aware3d.app.cli", "aware3d.exporters.pipeline", "aware3d.models.registry", "aware3d.__main__"} <= set(graph)
    assert graph.has_edge("aware3d.exporters.pipeline", "aware3d.exporters.relief")
    assert graph.has_edge("aware3d.app.batch", "aware3d.exporters")  # ``from .. import exporters``
    assert graph.has_edge("aware3d.models.gram", "aware3d.checkpoints")  # ``from ..checkpoints import``
    assert graph.has_edge("aware3d.app.cli", "aware3d.app.serve")  # an import inside a function counts


def test_no_import_cycles(graph):
    cycles = [sorted(component) for component in nx.strongly_connected_components(graph) if len(component) > 1]
    assert cycles == []


def test_every_edge_follows_the_layers(graph):
    wrong = [(a, b) for a, b in graph.edges if _layer(b) not in _ALLOWED[_layer(a)]]
    assert wrong == []


def test_the_walker_would_catch_a_back_edge(graph):
    """The checks above can fail: one edge from the library to the exporters makes both fire."""
    bad = graph.copy()
    bad.add_edge("aware3d.render", "aware3d.exporters.pipeline")
    assert [(a, b) for a, b in bad.edges if _layer(b) not in _ALLOWED[_layer(a)]] == [("aware3d.render", "aware3d.exporters.pipeline")]
    assert any(len(c) > 1 for c in nx.strongly_connected_components(bad))


def test_addon_imports_neither_torch_nor_aware3d():
    for path in (ROOT / "addon").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] in ("torch", "aware3d", "numpy")], path
