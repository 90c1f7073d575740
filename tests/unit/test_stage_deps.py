"""Editing any project module a stage imports re-runs that stage: dvc.yaml lists them all.

For each stage, the project files it imports are found twice: by importing the stage script in a
fresh interpreter and reading ``sys.modules`` (what really loads), and by walking its imports with
``ast`` (which also sees imports deferred into functions). Both must be within the stage's deps,
and the deps may list no Python file the stage does not import (a stale dep re-runs it for nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.import_graph import ROOT, closure, import_graph, module_files

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Prints the project files loaded by importing one stage script (its main() does not run).
PROBE = """
import importlib.util, json, sys
roots = tuple(sys.argv[1].split(","))
spec = importlib.util.spec_from_file_location("stage_probe", sys.argv[2])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
print(json.dumps(sorted(f for f in files if f and f.startswith(roots))))
"""


def stage_script(stage: dict) -> Path:
    script = next(part for part in stage["cmd"].split() if part.startswith("stages/"))
    return ROOT / script


def python_deps(stage: dict) -> set[str]:
    return {dep for dep in stage["deps"] if dep.endswith(".py")}


def relative(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def test_every_stage_runs_a_script_in_stages() -> None:
    assert STAGES
    for name, stage in STAGES.items():
        assert stage_script(stage).is_file(), name


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_list_every_project_module_the_stage_imports(name: str) -> None:
    stage = STAGES[name]
    script = stage_script(stage)
    files = module_files()
    imported = closure(import_graph(), f"stages.{script.stem}")
    static = {relative(files[module]) for module in imported}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, f"{ROOT}/src/,{ROOT}/stages/", str(script)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    loaded = {relative(Path(path)) for path in json.loads(probe.stdout)}
    assert loaded, f"importing {script} loaded no project file: the probe is broken"
    assert loaded <= static, f"the ast walk missed {sorted(loaded - static)}"
    declared = python_deps(stage)
    fix = "run `python tests/helpers/import_graph.py` to rewrite the deps"
    assert not static - declared, f"{name}: missing deps {sorted(static - declared)}: {fix}"
    assert not declared - static, f"{name}: deps not imported {sorted(declared - static)}: {fix}"


def declared_outputs() -> set[str]:
    found = set()
    for stage in STAGES.values():
        for key in ("outs", "metrics"):
            for entry in stage.get(key, []):
                found.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    return found


def test_every_pipeline_output_is_named_once_in_paths() -> None:
    from imdb_sentiment import paths

    named = {value.as_posix() for value in vars(paths).values() if isinstance(value, Path)}
    outputs = {out for out in declared_outputs() if "${" not in out}  # models/${export.name}
    assert outputs, "dvc.yaml declares no outputs"
    assert outputs <= named, f"not in imdb_sentiment.paths: {sorted(outputs - named)}"
    # The stage scripts take their paths from there instead of spelling them again.
    for script in sorted((ROOT / "stages").glob("*.py")):
        text = script.read_text()
        assert '"data/' not in text and '"metrics/' not in text, script.name
