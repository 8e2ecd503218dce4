"""The import rules of the package (DESIGN.md, "Layers"): dependencies point down, no cycles.

Every ``import`` of a ``nasforge`` module counts, at module level or inside a function, under
``TYPE_CHECKING`` or not: a lazy import is still a dependency. Layers, bottom up:

0 ``core``; 1 ``space``, ``task``; 2 ``hardware``; 3 ``estimate``; 4 ``strategy``, ``oneshot``;
5 ``experiment``; 6 ``report``, ``bench``; 7 ``run``; 8 ``cli``, ``api``, ``gym``; 9 the package face and ``__main__``.

A module may import modules of its own folder and of lower layers. On top of that: ``strategy``
imports only ``space`` and ``core``; nothing but the entry points imports ``cli``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nasforge"
LAYERS = {"core": 0, "space": 1, "task": 1, "hardware": 2, "estimate": 3, "strategy": 4, "oneshot": 4,
          "experiment": 5, "report": 6, "bench": 6, "run": 7, "cli": 8, "api": 8, "gym": 8, "": 9, "__main__": 9}
ONLY = {"strategy": {"strategy", "space", "core"}}
#: registries name their built-in modules as strings (a plugin list, imported lazily by name):
#: (registry module, named module) -> why the entry may point up
PLUGIN_ENTRIES = {
    ("nasforge.estimate.base", "nasforge.oneshot.evaluator"):
        "the supernet evaluator is the one-shot layer's entry in the evaluator registry; nothing in "
        "estimate/ calls it",
    ("nasforge.estimate.base", "nasforge.oneshot.lm.evaluator"):
        "the lm-subnet evaluator (sub-networks of a Llama checkpoint) is the language-model one-shot "
        "package's entry in the evaluator registry; nothing in estimate/ calls it",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports() -> dict[str, set[str]]:
    """module -> the nasforge modules it imports (``from x import y`` counts y if it is a module)."""
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            edges[name].update(t for t in targets if t.split(".")[0] == "nasforge" and t != name)
    return edges


def _registry_strings() -> dict[str, set[str]]:
    """module -> the modules named in ``Registry(..., modules=(...))`` calls in it."""
    out: dict[str, set[str]] = defaultdict(set)
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Registry":
                for kw in node.keywords:
                    if kw.arg == "modules" and isinstance(kw.value, ast.Tuple):
                        out[name].update(e.value for e in kw.value.elts if isinstance(e, ast.Constant))
    return out


def _allowed(importer: str, imported: str) -> bool:
    a, b = _folder(importer), _folder(imported)
    if a == b or imported == "nasforge":
        return imported != "nasforge" or a in ("", "api", "__main__", "cli")
    if a in ONLY and b not in ONLY[a]:
        return False
    if b == "cli":
        return a in ("__main__",)
    return LAYERS[b] < LAYERS[a]


def test_every_folder_has_a_layer():
    folders = {_folder(m) for m in _modules()}
    assert folders <= set(LAYERS), f"folders without a layer: {sorted(folders - set(LAYERS))}"


def test_imports_point_down():
    uphill = sorted(f"{a} -> {b}" for a, targets in _imports().items() for b in targets if not _allowed(a, b))
    assert not uphill, "imports that break the layers:\n" + "\n".join(uphill)


def test_registry_plugin_lists_point_down():
    uphill = sorted((a, b) for a, targets in _registry_strings().items() for b in targets
                    if not _allowed(a, b) and (a, b) not in PLUGIN_ENTRIES)
    assert not uphill, f"registries that name modules above them: {uphill}"


def test_strategies_import_only_space_and_core():
    bad = sorted(f"{a} -> {b}" for a, targets in _imports().items() if _folder(a) == "strategy"
                 for b in targets if _folder(b) not in ONLY["strategy"])
    assert not bad, bad


def test_nothing_imports_the_cli():
    bad = sorted(f"{a} -> {b}" for a, targets in _imports().items() for b in targets
                 if _folder(b) == "cli" and _folder(a) not in ("cli", "__main__"))
    assert not bad, bad


def test_no_import_cycles():
    """No module reaches itself through imports (Tarjan's strongly connected components)."""
    edges = _imports()
    nodes = set(edges) | {b for targets in edges.values() for b in targets}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    # a package's __init__ re-exporting its own modules is not a cycle of ideas, but it still is
    # one of imports: report everything
    assert not cycles, f"import cycles: {cycles}"


def test_the_rules_catch_an_uphill_import():
    assert not _allowed("nasforge.strategy.base", "nasforge.experiment.experiment")
    assert not _allowed("nasforge.strategy.base", "nasforge.estimate.base")
    assert not _allowed("nasforge.estimate.train", "nasforge.run.config")
    assert not _allowed("nasforge.run.runner", "nasforge.cli.search")
    assert _allowed("nasforge.run.runner", "nasforge.experiment.experiment")
    assert _allowed("nasforge.strategy.guided", "nasforge.core.services")
