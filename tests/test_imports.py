"""Every module of the package imports on its own, and its imports form no cycle.

The graph counts every ``import reidlab...`` / ``from reidlab... import`` in a module, at module
level *and* inside functions: a function-level import that only hides a cycle is still a cycle
(the layering is wrong), so it is counted. Registry plug-in loading by name (``importlib``) is not
an import statement and is not counted.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "reidlab"


def _modules() -> list[str]:
    out = []
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def _imports(name: str, *, everywhere: bool = True) -> set[str]:
    """reidlab modules imported by module ``name``: anywhere in it (``everywhere``), or only at
    module level (including module-level ``if`` / ``try`` guards, which run at import)."""
    path = PKG.parent / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = PKG.parent / name.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    mods = set(_modules())
    found: set[str] = set()

    def add(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("reidlab"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("reidlab"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods)

    def visit(stmts):
        for node in stmts:
            add(node)
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                visit(getattr(node, "orelse", []))

    if everywhere:
        for node in ast.walk(tree):
            add(node)
    else:
        visit(tree.body)
    return {m for m in found if m in mods and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(u: str) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(stack[stack.index(v):] + [v])
            elif v not in state:
                dfs(v)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    return cycles


def _graph(everywhere: bool) -> dict[str, set[str]]:
    """An edge a -> b for an import of b in a. A package's ``__init__`` importing its own
    submodules is expected, so edges *into* a package from its own submodules are not followed
    (``import reidlab.x.y`` runs ``reidlab.x`` first anyway)."""
    graph = {m: _imports(m, everywhere=everywhere) for m in _modules()}
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}


def test_function_level_imports_are_in_the_graph() -> None:
    """The checker sees imports inside functions (a lazy import cannot hide a cycle)."""
    mods = set(_modules())
    fn_only = {m: _imports(m) - _imports(m, everywhere=False) for m in mods}
    assert any(fn_only.values())  # the package has lazy imports, and the graph counts them
    g = _graph(everywhere=True)
    assert "reidlab.engine.runs" in g["reidlab.engine.trainer"]  # the graph is really built
    assert "reidlab.engine.build" in g["reidlab.engine.runs"]
    # the cycles cut in issue 9 stay cut: manifest/registry, runs/trainer, backbones/pretrain
    for a, b in (("reidlab.data.layouts.manifest", "reidlab.data.registry"),
                 ("reidlab.engine.trainer", "reidlab.engine.runs"),
                 ("reidlab.engine.pretrain", "reidlab.methods.backbones")):
        assert b in g[a] and a not in g[b], (a, b)


def test_import_graph_is_acyclic() -> None:
    """Module-level and function-level imports together form a DAG (a layering)."""
    cycles = _cycles(_graph(everywhere=True))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    code = ("import importlib, sys\nbad = []\nfor m in sys.argv[1:]:\n"
            "    for k in [k for k in sys.modules if k == 'reidlab' or k.startswith('reidlab.')]:\n"
            "        del sys.modules[k]\n"
            "    try:\n        importlib.import_module(m)\n"
            "    except Exception as e:\n        bad.append(f'{m}: {type(e).__name__}: {e}')\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    mods = [m for m in _modules() if not m.endswith("__main__")]
    p = subprocess.run([sys.executable, "-c", code, *mods], capture_output=True, text=True, timeout=300,
                       cwd=PKG.parent)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
