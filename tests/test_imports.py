"""The library's import graph, read statically (``ast``, nothing is imported): no module-level cycle.

A module-level import runs when the module is first imported, so a cycle of them makes the result depend on
which module a caller imports first (a half-initialised module, an ``ImportError`` on a name not yet
defined). Imports inside functions run later and may go anywhere; they are only checked to name modules
that exist. ``if TYPE_CHECKING:`` blocks never run and are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mind_lib"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The ``mind_lib`` modules ``node`` imports (``from pkg import sub`` names the submodule when there is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    if node.level:  # relative: from the module's package, up level - 1 packages
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    if target.split(".")[0] != PACKAGE:
        return []
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]


def imports(module: str) -> tuple[set[str], set[str]]:
    """(module-level, function-level) ``mind_lib`` imports of ``module``; class bodies count as module level."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    top: set[str] = set()
    late: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (late if in_function else top).update(_resolve(module, child))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return top - {module}, late - {module}


GRAPH = {m: imports(m) for m in MODULES}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as ``[a, b, ..., a]``, or None (depth-first search, white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := dfs(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := dfs(node)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_every_import_names_a_module_of_the_library():
    missing = sorted(f"{m} -> {t}" for m, (top, late) in GRAPH.items() for t in top | late if t not in MODULES)
    assert not missing, f"imports of mind_lib modules that do not exist: {missing}"


def test_the_module_level_import_graph_has_no_cycle():
    cycle = find_cycle({m: top for m, (top, _) in GRAPH.items()})
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("backend", ["mind_lib.teachers.builtin", "mind_lib.teachers.hf",
                                     "mind_lib.teachers.openai_compat", "mind_lib.teachers.base"])
def test_teacher_backends_never_import_the_registry(backend):
    top, late = GRAPH[backend]
    assert "mind_lib.teachers.registry" not in top | late
