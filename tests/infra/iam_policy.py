"""A small evaluator of the IAM identity policies written as aws_iam_policy_document in HCL.

It answers "may this role call ACTION on RESOURCE?" the way IAM does for one
account's identity policies: an explicit Deny wins, otherwise any Allow grants,
otherwise the call is denied. Actions and resources match with IAM's wildcards
(`*` any run of characters, `?` one character; actions case-insensitively).

It errs towards granting, so that a "no grant" verdict is a proof:
- Allow statements count even when they carry conditions (a condition might hold);
- a Deny counts only when it has no condition;
- an interpolation the test did not supply a value for resolves to `*`;
- a role with a managed policy attached, or an inline policy it cannot read,
  is treated as allowed everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_INTERP = re.compile(r"\$\{([^}]*)\}")
_REF = re.compile(r"^(var|local)\.(\w+)$")
_DOC_REF = re.compile(r"^data\.aws_iam_policy_document\.(\w+)(?:\[\"(\w+)\"\])?\.json$")
_ROLE_REF = re.compile(r"^aws_iam_role\.(\w+)\.(?:id|name)$")


@dataclass
class Statement:
    effect: str
    actions: list[str] = field(default_factory=list)
    not_actions: list[str] | None = None
    resources: list[str] = field(default_factory=list)
    not_resources: list[str] | None = None
    conditional: bool = False


def wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's string matching: `*` matches any run (also across `/` and `:`), `?` one character."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.S | (re.I if ignore_case else 0)) is not None


class Resolver:
    """Turns HCL expressions into strings, using test-supplied values for var.* and the module's locals."""

    def __init__(self, module: dict[str, Any], values: dict[str, Any]) -> None:
        self.module = module
        self.values = values

    def ref(self, expr: str) -> Any:
        expr = expr.strip()
        if expr in self.values:
            return self.values[expr]
        m = _REF.match(expr)
        if m and m.group(1) == "local" and m.group(2) in self.module["locals"]:
            local = self.module["locals"][m.group(2)]
            if isinstance(local, str):
                return self.text(local)
        return "*"  # unknown: may be anything

    def text(self, value: str) -> Any:
        whole = self.ref(value) if _REF.match(value) or value in self.values else None
        if whole is not None:
            return whole
        return _INTERP.sub(lambda m: str(self.ref(m.group(1))), value)

    def strings(self, value: Any) -> list[str]:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for item in items:
            resolved = self.text(item) if isinstance(item, str) else item
            out.extend(resolved if isinstance(resolved, list) else [str(resolved)])
        return out


def statements(module: dict[str, Any], doc_name: str, values: dict[str, Any]) -> list[Statement]:
    """Statements of data.aws_iam_policy_document.<doc_name>, with its source documents."""
    docs = module["data"].get("aws_iam_policy_document", {})
    if doc_name not in docs:
        return [Statement("Allow", ["*"], None, ["*"])]  # unreadable: assume everything
    doc = docs[doc_name]
    resolve = Resolver(module, values)
    out: list[Statement] = []
    for source in doc.get("source_policy_documents", []) + doc.get("override_policy_documents", []):
        m = _DOC_REF.match(source)
        out.extend(
            statements(module, m.group(1), values)
            if m
            else [Statement("Allow", ["*"], None, ["*"])]
        )
    for st in doc.get("statement", []):
        out.append(
            Statement(
                effect=st.get("effect", "Allow"),
                actions=resolve.strings(st.get("actions")),
                not_actions=resolve.strings(st["not_actions"]) if "not_actions" in st else None,
                resources=resolve.strings(st.get("resources")),
                not_resources=(
                    resolve.strings(st["not_resources"]) if "not_resources" in st else None
                ),
                conditional=bool(st.get("condition")),
            )
        )
    return out


def role_statements(module: dict[str, Any], role: str, values: dict[str, Any]) -> list[Statement]:
    """Everything the identity policies of aws_iam_role.<role> say."""
    resources = module["resource"]
    assert role in resources.get("aws_iam_role", {}), f"no aws_iam_role.{role}"
    body = resources["aws_iam_role"][role]
    out: list[Statement] = []
    if body.get("managed_policy_arns") or body.get("inline_policy"):
        out.append(Statement("Allow", ["*"], None, ["*"]))
    for att in resources.get("aws_iam_role_policy_attachment", {}).values():
        if (m := _ROLE_REF.match(att.get("role", ""))) and m.group(1) == role:
            out.append(Statement("Allow", ["*"], None, ["*"]))  # managed policy: unknown content
    for pol in resources.get("aws_iam_role_policy", {}).values():
        if (m := _ROLE_REF.match(pol.get("role", ""))) and m.group(1) == role:
            doc = _DOC_REF.match(pol.get("policy", ""))
            out.extend(
                statements(module, doc.group(1), values)
                if doc
                else [Statement("Allow", ["*"], None, ["*"])]
            )
    return out


def _matches(st: Statement, action: str, resource: str) -> bool:
    if st.not_actions is not None:
        action_ok = not any(wildcard(a, action, ignore_case=True) for a in st.not_actions)
    else:
        action_ok = any(wildcard(a, action, ignore_case=True) for a in st.actions)
    if st.not_resources is not None:
        resource_ok = not any(wildcard(r, resource) for r in st.not_resources)
    else:
        resource_ok = any(wildcard(r, resource) for r in st.resources)
    return action_ok and resource_ok


def allowed(sts: list[Statement], action: str, resource: str) -> bool:
    if any(
        st.effect == "Deny" and not st.conditional and _matches(st, action, resource) for st in sts
    ):
        return False
    return any(st.effect == "Allow" and _matches(st, action, resource) for st in sts)


def grants_in_service(sts: list[Statement], service: str) -> list[str]:
    """Allow-statement action patterns that could match some action of `service` (e.g. "ecr")."""
    hits = []
    for st in sts:
        if st.effect != "Allow":
            continue
        if st.not_actions is not None:
            hits.append(f"NotAction {st.not_actions}")
            continue
        for pattern in st.actions:
            svc = pattern.split(":", 1)[0]
            if pattern == "*" or wildcard(svc, service, ignore_case=True):
                hits.append(pattern)
    return hits
