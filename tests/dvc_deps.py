"""The code each DVC stage runs: the static import closure of its entry points inside ``mind_lib``.

A stage's ``deps`` in dvc.yaml must name exactly these files (tests/test_dvc_stages.py), so that a change reruns
the stages that run the changed code and no other. Rules: every ``import``/``from ... import`` of ``mind_lib``
anywhere in a module (function-level imports included: the code may run) is followed, with the ``__init__.py`` of
every package on the way; in ``mind_lib/cli.py``, the dispatcher every stage's command goes through, only its
module-level imports are followed (each command imports its own stage's module). A notebook's code cells count
as a module.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISPATCHER = "mind_lib/cli.py"


def _module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _packages(name: str) -> list[Path]:
    parts = name.split(".")
    return [p for i in range(1, len(parts)) if (p := ROOT / Path(*parts[:i]) / "__init__.py").exists()]


def _imports(tree: ast.AST, module: str, top_level_only: bool) -> set[str]:
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: against this module's package (a package's module name ends in __init__)
                pkg = module.split(".")[:-node.level]
                base = ".".join([*pkg, base] if base else pkg)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # a submodule imported by name
    return {n for n in names if n == "mind_lib" or n.startswith("mind_lib.")}


def _code_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return path.read_text()


def closure(entries: list[str]) -> set[str]:
    """Repository-relative paths of the ``mind_lib`` files the entry files (paths) import, transitively,
    with the entries themselves."""
    todo = [ROOT / e for e in entries]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        rel = path.relative_to(ROOT).as_posix()
        module = rel.removesuffix(".py").replace("/", ".")
        tree = ast.parse(_code_of(path))
        for name in _imports(tree, module, top_level_only=rel == DISPATCHER):
            found = _module_file(name)
            if found is not None:
                todo.append(found)
                todo.extend(_packages(name))
    return {p.relative_to(ROOT).as_posix() for p in seen}


def stage_code(stage: str, notebook: str | None) -> list[str]:
    """The code files of a stage run by ``mind <stage>`` or ``mind notebook <notebook>``."""
    entries = [DISPATCHER, f"mind_lib/stages/{stage}.py"] + ([f"notebooks/{notebook}.ipynb"] if notebook else [])
    return sorted(closure(entries))


def write_deps(dvc_yaml: Path = ROOT / "dvc.yaml") -> None:
    """Rewrite each stage's code deps in dvc.yaml to its import closure, in place (data deps, comments and the
    rest of the file as they are): ``python -m tests.dvc_deps`` after an import changed."""
    import yaml

    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    lines, out, stage, in_deps = dvc_yaml.read_text().splitlines(), [], None, False
    for line in lines:
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            stage = line.strip()[:-1]
        if line == "    deps:":
            in_deps = True
            parts = stages[stage]["cmd"].split()
            notebook = parts[2] if parts[:2] == ["mind", "notebook"] else None
            data = [d for d in stages[stage]["deps"] if not d.startswith(("mind_lib/", "notebooks/"))]
            code = ([f"notebooks/{notebook}.ipynb"] if notebook else []) + [
                c for c in stage_code(stage, notebook) if not c.endswith(".ipynb")]
            out.append(line)
            out.extend(f"      - {d}" for d in code + data)
            continue
        if in_deps and line.startswith("      - "):
            continue
        in_deps = False
        out.append(line)
    dvc_yaml.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    write_deps()
