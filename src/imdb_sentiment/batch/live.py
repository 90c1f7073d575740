"""Live evidence in the batch report: accuracy by model version of a feedback export, and the
shadow's agreement rate.

A feedback export (``imdb-sentiment feedback export``) carries, beside each text and the user's
label, the label the user was shown (``predicted_label``) and the version that gave it
(``model_version``). Each chunk counts, per version, the rows, the judged rows (both labels
known) and the right ones, and how often this run's model got the user's label on the same rows;
the flow adds the counts up. The 95 % lower bound is the feedback report's own
(:func:`imdb_sentiment.feedback.report.wilson_low`), so both reports give the same figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np

from imdb_sentiment.feedback.report import ShadowAgreement, wilson_low
from imdb_sentiment.feedback.shadow_source import read_shadow

# Per version: rows, judged, correct (shown label), batch_labelled, batch_correct (this run).
Tally = dict[str | None, list[int]]
_FIELDS = ("rows", "judged", "correct", "batch_labelled", "batch_correct")


def tally_shown(versions: Iterable[Any], truth: np.ndarray, shown: np.ndarray) -> Tally:
    """Per version: rows, rows with both labels known, rows whose shown label was right.
    ``truth`` and ``shown`` are 0/1 codes, -1 where missing or unrecognised."""
    tally: Tally = {}
    for version, true, given in zip(versions, truth.tolist(), shown.tolist(), strict=True):
        key = version if isinstance(version, str) else None
        counts = tally.setdefault(key, [0] * len(_FIELDS))
        counts[0] += 1
        if true >= 0 and given >= 0:
            counts[1] += 1
            counts[2] += int(true == given)
    return tally


def tally_batch(
    tally: Tally, versions: Iterable[Any], truth: np.ndarray, guess: np.ndarray
) -> None:
    """Add this run's model to ``tally``: on the scored rows with a known label, how often its
    label (``guess``) was the user's."""
    for version, true, label in zip(versions, truth.tolist(), guess.tolist(), strict=True):
        if true < 0:
            continue
        counts = tally.setdefault(version if isinstance(version, str) else None, [0] * len(_FIELDS))
        counts[3] += 1
        counts[4] += int(true == label)


def merge(tallies: Iterable[Tally]) -> Tally:
    merged: Tally = {}
    for tally in tallies:
        for version, counts in tally.items():
            total = merged.setdefault(version, [0] * len(_FIELDS))
            for position, value in enumerate(counts):
                total[position] += value
    return merged


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _low(part: int, whole: int) -> float | None:
    low = wilson_low(part, whole)
    return None if low is None else round(low, 6)


def live_feedback_section(tally: Tally | None) -> dict[str, Any] | None:
    """The report's ``live_feedback``: per model version the accuracy of the label users were
    shown (with its 95 % lower bound) and this run's model's accuracy on the same rows; None
    when the input is not a feedback export."""
    if tally is None:
        return None
    entries = []
    for version in sorted(tally, key=lambda v: (v is None, v or "")):
        counts = dict(zip(_FIELDS, tally[version], strict=True))
        entries.append(
            {
                "model_version": version,
                **counts,
                "accuracy": _share(counts["correct"], counts["judged"]),
                "accuracy_low_95": _low(counts["correct"], counts["judged"]),
                "batch_accuracy": _share(counts["batch_correct"], counts["batch_labelled"]),
                "batch_accuracy_low_95": _low(counts["batch_correct"], counts["batch_labelled"]),
            }
        )
    judged = sum(e["judged"] for e in entries)
    correct = sum(e["correct"] for e in entries)
    return {
        "rows": sum(e["rows"] for e in entries),
        "judged": judged,
        "correct": correct,
        "accuracy": _share(correct, judged),
        "accuracy_low_95": _low(correct, judged),
        "by_model_version": entries,
    }


def read_shadow_source(source: str | None) -> ShadowAgreement | None:
    """The shadow figures from a service's ``/metrics`` URL or a JSON file; None without one.
    Errors are the caller's: a source that was given and cannot be read fails the run."""
    return None if source is None else read_shadow(source)


def shadow_section(shadow: ShadowAgreement | None) -> dict[str, Any] | None:
    """The report's ``shadow``: the agreement counts, rate and both versions, as given."""
    if shadow is None:
        return None
    return {**asdict(shadow), "rate": shadow.rate}


def live_rows(section: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Table rows (version, rows, judged, accuracy, 95 % low, this run's accuracy) for a page."""
    return [
        (
            entry["model_version"] or "(not given)",
            entry["rows"],
            entry["judged"],
            entry["accuracy"],
            entry["accuracy_low_95"],
            entry["batch_accuracy"],
        )
        for entry in section["by_model_version"]
    ]
