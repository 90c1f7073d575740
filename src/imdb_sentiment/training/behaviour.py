"""The behavioural suite: short hand-written cases in the style of CheckList, scored as a metric.

The cases live as data (``tests/behaviour/cases.jsonl``, one JSON object a line). Each names its
``capability`` and one of three kinds of ``test``:

- ``label``: ``text`` must get the ``expect`` label (minimum functionality, negation, contrast...);
- ``invariance``: every one of ``texts`` gets the same label (``expect``, when given) and their
  probabilities lie within ``max_change`` of each other (swapping names, adding a neutral sentence);
- ``direction``: ``changed`` scores above (``expect: up``) or below (``down``) ``text``; moving the
  wrong way by no more than ``DIRECTION_SLACK`` still passes, so two saturated scores are a tie.

The suite is a test of record: nothing is tuned on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.labels import LABELS

TESTS = ("label", "invariance", "direction")
DIRECTION_SLACK = 0.01
REQUIRED = {
    "label": {"text": str, "expect": str},
    "invariance": {"texts": list, "max_change": float},
    "direction": {"text": str, "changed": str, "expect": str},
}

Scorer = Callable[[Sequence[str]], np.ndarray]


class SuiteError(ImdbSentimentError, ValueError):
    """The suite file is not a list of well-formed cases."""


def check_case(case: Any) -> dict[str, Any]:
    """The case itself if it is well formed; SuiteError saying what is wrong otherwise."""
    if not isinstance(case, dict):
        raise SuiteError(f"a case must be a JSON object, got {case!r}")
    name = case.get("id", "?")
    for key in ("id", "capability", "test"):
        if not isinstance(case.get(key), str) or not case[key]:
            raise SuiteError(f"case {name}: {key!r} must be a non-empty string")
    if case["test"] not in TESTS:
        raise SuiteError(f"case {name}: test must be one of {TESTS}, got {case['test']!r}")
    for key, kind in REQUIRED[case["test"]].items():
        value = case.get(key)
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            continue
        if not isinstance(value, kind) or (kind is not float and not value):
            raise SuiteError(f"case {name}: {key!r} must be a non-empty {kind.__name__}")
    if case["test"] == "invariance":
        if len(case["texts"]) < 2 or not all(isinstance(t, str) and t for t in case["texts"]):
            raise SuiteError(f"case {name}: 'texts' must hold at least two non-empty strings")
        if not 0 < case["max_change"] <= 1:
            raise SuiteError(f"case {name}: 'max_change' must be in (0, 1]")
    expected = ("up", "down") if case["test"] == "direction" else LABELS
    if "expect" in case and case["expect"] not in expected:
        raise SuiteError(f"case {name}: expect must be one of {expected}, got {case['expect']!r}")
    return case


def read_suite(path: Path) -> list[dict[str, Any]]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(check_case(json.loads(line)))
        except json.JSONDecodeError as error:
            raise SuiteError(f"{path}:{number} is not JSON: {error}") from error
    ids = [case["id"] for case in cases]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{path}: case ids must be unique")
    return cases


def _texts(case: dict[str, Any]) -> list[str]:
    if case["test"] == "label":
        return [case["text"]]
    if case["test"] == "invariance":
        return list(case["texts"])
    return [case["text"], case["changed"]]


def case_passes(case: dict[str, Any], probabilities: np.ndarray, threshold: float) -> bool:
    """Whether the model's ``probabilities`` for the case's texts (in ``_texts`` order) pass it."""
    labels = [LABELS[int(p >= threshold)] for p in probabilities]
    if case["test"] == "label":
        return labels[0] == case["expect"]
    if case["test"] == "invariance":
        same = len(set(labels)) == 1 and labels[0] == case.get("expect", labels[0])
        return same and float(probabilities.max() - probabilities.min()) <= case["max_change"]
    change = float(probabilities[1] - probabilities[0])
    return change >= -DIRECTION_SLACK if case["expect"] == "up" else change <= DIRECTION_SLACK


def score_suite(
    cases: list[dict[str, Any]], predict_proba: Scorer, threshold: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics, per-case results): the overall pass rate and one per capability.

    All texts are scored in one batch; each case's result keeps its probabilities for review.
    """
    texts = [_texts(case) for case in cases]
    flat = np.asarray(predict_proba([t for group in texts for t in group]), dtype=np.float64)
    results, start = [], 0
    for case, group in zip(cases, texts, strict=True):
        probabilities = flat[start : start + len(group)]
        start += len(group)
        results.append(
            {
                "id": case["id"],
                "capability": case["capability"],
                "passed": case_passes(case, probabilities, threshold),
                "probabilities": [round(float(p), 4) for p in probabilities],
            }
        )
    capabilities = sorted({case["capability"] for case in cases})
    per_capability = {}
    for capability in capabilities:
        passed = [r["passed"] for r in results if r["capability"] == capability]
        per_capability[capability] = {
            "pass_rate": round(float(np.mean(passed)), 6),
            "cases": len(passed),
        }
    metrics = {
        "pass_rate": round(float(np.mean([r["passed"] for r in results])), 6),
        "cases": len(results),
        "capabilities": per_capability,
    }
    return metrics, results
