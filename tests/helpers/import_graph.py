"""The project's import graph, read with ``ast`` (function-level imports included).

Modules are named as Python names them (``imdb_sentiment.bundle``, ``app.main``); the stage
scripts as ``stages.<name>``. Used by the layer test and the stage-deps test.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"imdb_sentiment": ROOT / "src" / "imdb_sentiment", "app": ROOT / "app"}
STAGES = ROOT / "stages"


def module_files() -> dict[str, Path]:
    modules = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    for path in STAGES.glob("*.py"):
        modules[f"stages.{path.stem}"] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``name`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """``start`` and every module it imports, directly or not, with their parent packages
    (Python runs a package's ``__init__`` before any module inside it)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(graph.get(module, ()))
        parts = module.split(".")
        todo.extend(
            ".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in graph
        )
    return seen


def stage_python_deps(stage_cmd: str) -> list[str]:
    """The stage script of a dvc.yaml ``cmd`` first, then every project file it imports."""
    script = next(part for part in stage_cmd.split() if part.startswith("stages/"))
    files = module_files()
    imported = closure(import_graph(), f"stages.{Path(script).stem}")
    found = sorted(files[module].resolve().relative_to(ROOT).as_posix() for module in imported)
    found.remove(script)
    return [script, *found]


def rewrite_dvc_deps(dvc_yaml: Path = ROOT / "dvc.yaml") -> None:
    """Replace the .py deps of every stage in dvc.yaml with what the stage imports; other deps
    (data, the behaviour suite) and the file's comments stay as they are."""
    import re

    import yaml

    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    out: list[str] = []
    stage, in_deps = None, False
    for line in dvc_yaml.read_text().split("\n"):
        match = re.match(r"^  (\w+):$", line)
        if match and match[1] in stages:
            stage = match[1]
        if stage and line.strip() == "deps:":
            out.append(line)
            out.extend(f"      - {path}" for path in stage_python_deps(stages[stage]["cmd"]))
            in_deps = True
            continue
        if in_deps and line.startswith("      - "):
            if line.strip().endswith(".py"):
                continue
        else:
            in_deps = False
        out.append(line)
    dvc_yaml.write_text("\n".join(out))


if __name__ == "__main__":
    rewrite_dvc_deps()
