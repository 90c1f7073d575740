"""CI gates that need no model: quality floors on metrics/, and safe parsing of sweep input.

Metric floors live in one YAML file (``.github/scripts/metric_floors.yaml``)::

    floors:
      metrics/metrics.json: {test.accuracy: 0.92}

A missing file or key fails the gate: nothing is skipped.

Sweep input comes from a workflow trigger, so it is parsed here, never evaluated and never
spliced into a shell: ``section.key=`` followed by ``a,b``, ``[a, b]``, ``choice(a, b)`` or
``range(start, stop[, step])`` (integers), where each value is a number, true/false/null or a
plain word. The result is one ``section.key=v1,v2`` per key, what ``dvc exp run --queue -S``
expands into one experiment per combination.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from math import prod
from pathlib import Path
from typing import Any

from imdb_sentiment.errors import ImdbSentimentError

MAX_KEYS = 8
MAX_VALUES = 50
MAX_EXPERIMENTS = 64
MAX_INPUT_CHARS = 1_000
_KEY = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d{1,9}")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_CALL = re.compile(r"(choice|range)\((.*)\)")


class GateError(ImdbSentimentError, ValueError):
    """Input a gate cannot accept."""


# ---------------------------------------------------------------- metric floors


def _lookup(values: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(values, Mapping) or part not in values:
            return None
        values = values[part]
    return values


def check_metrics(floors_file: Path, root: Path = Path()) -> list[str]:
    """One line per floor, ``ok`` or ``FAIL``; raises GateError if any floor is not met."""
    import yaml

    floors = (yaml.safe_load(floors_file.read_text()) or {}).get("floors")
    if not isinstance(floors, Mapping) or not floors:
        raise GateError(f"{floors_file} defines no floors")
    lines, failed = [], False
    for name, checks in floors.items():
        path = root / name
        try:
            metrics = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            lines.append(f"FAIL {name}: cannot read it ({error}); run `make pipeline`")
            failed = True
            continue
        for key, floor in checks.items():
            value = _lookup(metrics, key)
            ok = isinstance(value, int | float) and value >= float(floor)
            failed |= not ok
            lines.append(f"{'ok  ' if ok else 'FAIL'} {name} {key} = {value} (floor {floor})")
    if failed:
        raise GateError("quality floor not met:\n" + "\n".join(lines))
    return lines


# ---------------------------------------------------------------- sweep input


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside brackets and parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
            if depth < 0:
                raise GateError(f"unbalanced brackets in {text!r}")
        if depth == 0 and (char == separator or (separator == " " and char.isspace())):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise GateError(f"unbalanced brackets in {text!r}")
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _scalar(text: str) -> str:
    if _NUMBER.fullmatch(text) or _WORD.fullmatch(text):
        return text
    raise GateError(f"{text!r} is not a number, true/false/null or a plain word")


def _values(text: str) -> list[str]:
    call = _CALL.fullmatch(text)
    if text.startswith("[") and text.endswith("]"):
        items = _split_top_level(text[1:-1], ",")
    elif call and call[1] == "choice":
        items = _split_top_level(call[2], ",")
    elif call:  # range
        bounds = _split_top_level(call[2], ",")
        if not 2 <= len(bounds) <= 3 or not all(_INTEGER.fullmatch(b) for b in bounds):
            raise GateError(f"{text!r}: use range(start, stop[, step]) with integers")
        start, stop, step = (*map(int, bounds), 1)[:3]
        if step == 0 or len(range(start, stop, step)) > MAX_VALUES:
            raise GateError(f"{text!r}: step 0 or more than {MAX_VALUES} values")
        items = [str(value) for value in range(start, stop, step)]
    else:
        items = _split_top_level(text, ",")
    if not items or len(items) > MAX_VALUES:
        raise GateError(f"{text!r}: give 1 to {MAX_VALUES} values")
    return [_scalar(item) for item in items]


def sweep_arguments(spec: str) -> list[str]:
    """``section.key=<values> ...`` -> canonical ``section.key=v1,v2`` strings for ``-S``."""
    if len(spec) > MAX_INPUT_CHARS:
        raise GateError(f"the sweep input is longer than {MAX_INPUT_CHARS} characters")
    assignments = _split_top_level(spec, " ")
    if not 1 <= len(assignments) <= MAX_KEYS:
        raise GateError(f"give 1 to {MAX_KEYS} section.key=values assignments")
    result: dict[str, list[str]] = {}
    for assignment in assignments:
        key, equals, values = assignment.partition("=")
        if not equals or not _KEY.fullmatch(key):
            raise GateError(f"{assignment!r} is not section.key=values")
        if key in result:
            raise GateError(f"{key} is given twice")
        result[key] = list(dict.fromkeys(_values(values.strip())))
    if prod(len(values) for values in result.values()) > MAX_EXPERIMENTS:
        raise GateError(f"more than {MAX_EXPERIMENTS} experiments; narrow the sweep")
    return [f"{key}={','.join(values)}" for key, values in result.items()]
