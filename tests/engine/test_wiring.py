"""Wiring has one home: argument handling lives in `nzeza.cli`, the engine takes typed values,
and the engine's modules import each other without cycles (session ↔ stopping and
live ↔ runner were cycles before the order flow and the feed spec got modules of their own)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "nzeza"


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Every nzeza module → the nzeza modules it imports anywhere (functions and
    TYPE_CHECKING blocks included: a cycle there is a cycle in the design)."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[mod] |= {n for n in names if n in mods and n != mod and not mod.startswith(n)}
    return graph


def cycles(graph: dict[str, set[str]], within: str) -> list[set[str]]:
    """Strongly connected components of more than one module, among modules under `within`."""
    nodes = {m for m in graph if m.startswith(within)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v] & nodes:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def test_the_engine_has_no_import_cycles() -> None:
    assert cycles(import_graph(), "nzeza.engine") == []


def test_the_check_finds_a_cycle() -> None:
    """The check above can fail: a made-up pair importing each other is reported."""
    graph = {"nzeza.engine.a": {"nzeza.engine.b"}, "nzeza.engine.b": {"nzeza.engine.a"}}
    assert cycles(graph, "nzeza.engine") == [{"nzeza.engine.a", "nzeza.engine.b"}]


def test_argument_handling_lives_in_the_cli() -> None:
    """No engine module parses arguments or takes an argparse Namespace."""
    offenders = []
    for name, path in modules().items():
        if not name.startswith("nzeza.engine"):
            continue
        text = path.read_text()
        if "argparse" in text or "args." in text or "Namespace" in text:
            offenders.append(name)
    assert offenders == []
