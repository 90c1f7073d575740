"""Parse infra/terraform with python-hcl2 into plain dicts (shared by the infra tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "infra" / "terraform"
MODULES = TF / "modules"


def _strip(value: str) -> str:
    """python-hcl2 (v8) keeps string quotes and wraps bare expressions in ${...}."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    m = re.fullmatch(r"\$\{(.*)\}", value, flags=re.S)
    if m and "${" not in m.group(1):
        value = m.group(1)
    return value


def norm(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            _strip(k): norm(v) for k, v in node.items() if not k.startswith("__")
        }  # __is_block__, __comments__
    if isinstance(node, list):
        return [norm(v) for v in node]
    if isinstance(node, str):
        return _strip(node)
    return node


def parse_text(text: str) -> dict[str, Any]:
    return norm(hcl2.loads(text))


def empty_module() -> dict[str, Any]:
    return {
        "resource": {},
        "data": {},
        "module": {},
        "variable": {},
        "output": {},
        "locals": {},
        "terraform": [],
    }


def add_parsed(merged: dict[str, Any], doc: dict[str, Any]) -> None:
    for kind in ("resource", "data"):
        for block in doc.get(kind, []):
            for rtype, named in block.items():
                for name, body in named.items():
                    merged[kind].setdefault(rtype, {})[name] = body
    for kind in ("module", "variable", "output"):
        for block in doc.get(kind, []):
            merged[kind].update(block)
    for block in doc.get("locals", []):
        merged["locals"].update(block)
    merged["terraform"].extend(doc.get("terraform", []))


def parse_dir(directory: Path) -> dict[str, Any]:
    """Merge every .tf file of one module into {kind: {...}}."""
    merged = empty_module()
    for path in sorted(directory.glob("*.tf")):
        add_parsed(merged, parse_text(path.read_text()))
    return merged


def module_dirs() -> list[Path]:
    return [TF, *sorted(p.parent for p in MODULES.rglob("main.tf"))]


def parse_all() -> dict[str, dict[str, Any]]:
    return {str(d.relative_to(TF)) if d != TF else "root": parse_dir(d) for d in module_dirs()}


def one(block: Any) -> dict[str, Any]:
    """Nested blocks parse as a list of one dict."""
    if isinstance(block, list):
        assert len(block) == 1, block
        return block[0]
    return block


def settings(env: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Beanstalk `setting` blocks as {(namespace, name): value}."""
    return {(s["namespace"], s["name"]): s["value"] for s in env.get("setting", [])}
