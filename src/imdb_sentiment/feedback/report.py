"""Live accuracy by model version, from the users' feedback, and the shadow's agreement rate.

Accuracy counts only rows whose predicted label was sent with the feedback ("judged" rows):
without it nobody knows what the user was shown. Each figure comes with the lower bound of a
95% Wilson interval, so that 3 out of 3 is not read as better than 940 out of 1,000.

Shadow agreement is not stored here: the service counts it. A caller passes its figures in
(:class:`ShadowAgreement`, e.g. from ``--shadow FILE``) and the report shows them beside the
feedback, or says they were not given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, case, func, select

from imdb_sentiment.feedback.database import as_utc, ensure_schema, feedback_table

Z_95 = 1.959963984540054


def wilson_low(successes: int, trials: int, z: float = Z_95) -> float | None:
    """Lower bound of the Wilson score interval for a proportion (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - margin) / denominator)


@dataclass(frozen=True)
class VersionAccuracy:
    """Feedback on one model version (``None``: the client did not say which)."""

    model_version: str | None
    rows: int  # feedback rows
    judged: int  # rows that say which label the user was shown
    correct: int
    accuracy: float | None  # correct / judged
    accuracy_low_95: float | None
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class ShadowAgreement:
    """How often the challenger agreed with the champion on live traffic (the service's
    ``imdb_sentiment_shadow_predictions_total{agreement}`` counts)."""

    agree: int
    disagree: int
    champion_version: str | None = None
    challenger_version: str | None = None

    @property
    def rate(self) -> float | None:
        total = self.agree + self.disagree
        return self.agree / total if total else None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ShadowAgreement:
        """From ``{"agree": n, "disagree": m, "champion_version": ..., "challenger_version": ...}``."""
        counts = {}
        for key in ("agree", "disagree"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"shadow figures: {key!r} must be a count (an integer >= 0)")
            counts[key] = value
        versions = {}
        for key in ("champion_version", "challenger_version"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"shadow figures: {key!r} must be a string")
            versions[key] = value
        return cls(**counts, **versions)


def accuracy_by_version(engine: Engine, *, since: datetime | None = None) -> list[VersionAccuracy]:
    """One entry per model version, the most recently judged first."""
    ensure_schema(engine)
    table = feedback_table
    correct = func.sum(case((table.c.predicted_label == table.c.label, 1), else_=0))
    query = select(
        table.c.model_version,
        func.count(),
        func.count(table.c.predicted_label),
        correct,
        func.min(table.c.created_at),
        func.max(table.c.created_at),
    ).group_by(table.c.model_version)
    if since is not None:
        query = query.where(table.c.created_at >= as_utc(since))
    with engine.connect() as connection:
        records = connection.execute(query).all()
    entries = []
    for version, rows, judged, right, first, last in records:
        judged, right = int(judged), int(right or 0)
        entries.append(
            VersionAccuracy(
                model_version=version,
                rows=int(rows),
                judged=judged,
                correct=right,
                accuracy=right / judged if judged else None,
                accuracy_low_95=wilson_low(right, judged),
                first_at=as_utc(first) if first is not None else None,
                last_at=as_utc(last) if last is not None else None,
            )
        )
    entries.sort(key=lambda e: e.last_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return entries


def feedback_accuracy(
    engine: Engine, model_version: str, *, since: datetime | None = None
) -> VersionAccuracy | None:
    """The feedback on one model version (for a promotion gate); None without any."""
    for entry in accuracy_by_version(engine, since=since):
        if entry.model_version == model_version:
            return entry
    return None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_report(
    engine: Engine, *, since: datetime | None = None, shadow: ShadowAgreement | None = None
) -> dict[str, Any]:
    """The report as JSON-ready data: overall and per-version accuracy, and the shadow's
    agreement when its figures are given (``"shadow": null`` says they were not)."""
    versions = accuracy_by_version(engine, since=since)
    judged = sum(v.judged for v in versions)
    correct = sum(v.correct for v in versions)
    by_version = []
    for entry in versions:
        item = asdict(entry)
        item["first_at"], item["last_at"] = _iso(entry.first_at), _iso(entry.last_at)
        by_version.append(item)
    shadow_part = None
    if shadow is not None:
        shadow_part = {**asdict(shadow), "rate": shadow.rate}
    return {
        "generated_at": _iso(datetime.now(UTC)),
        "since": _iso(since),
        "rows": sum(v.rows for v in versions),
        "judged": judged,
        "correct": correct,
        "accuracy": correct / judged if judged else None,
        "accuracy_low_95": wilson_low(correct, judged),
        "by_model_version": by_version,
        "shadow": shadow_part,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_text(report: Mapping[str, Any]) -> str:
    """A short plain-text table of :func:`build_report`'s result."""
    header = ("model version", "rows", "judged", "correct", "accuracy", "95% low", "last feedback")
    figures = ("rows", "judged", "correct", "accuracy", "accuracy_low_95")
    lines: list[Sequence[str]] = [header]
    for entry in report["by_model_version"]:
        version = entry["model_version"] or "(not given)"
        lines.append((version, *(_fmt(entry[k]) for k in figures), entry["last_at"] or "-"))
    lines.append(("all", *(_fmt(report[k]) for k in figures), ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    ]
    if report.get("since"):
        text.insert(0, f"feedback since {report['since']}")
    shadow = report.get("shadow")
    if shadow is None:
        text.append("shadow agreement: not given (pass --shadow FILE)")
    else:
        total = shadow["agree"] + shadow["disagree"]
        text.append(
            f"shadow agreement: {_fmt(shadow['rate'])} ({shadow['agree']} of {total}; "
            f"champion {shadow['champion_version'] or '?'}, "
            f"challenger {shadow['challenger_version'] or '?'})"
        )
    return "\n".join(text) + "\n"
