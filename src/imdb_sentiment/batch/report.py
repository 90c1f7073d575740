"""The monitoring report each batch run writes next to its output (JSON; the HTML page is
:mod:`.report_html`), its one-line summary and the drift table published as a Prefect artifact.

Profiles and PSI come from :mod:`imdb_sentiment.profile` (the same code that built the training
reference in the bundle's manifest). Each chunk is profiled on the reference's bins; this module
only adds them up, so a run of any size needs memory for one chunk, not for all its texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imdb_sentiment.batch.live import live_feedback_section, merge, shadow_section
from imdb_sentiment.batch.rows import REJECT_REASONS
from imdb_sentiment.labels import LABELS
from imdb_sentiment.profile import drift

if TYPE_CHECKING:
    from imdb_sentiment.feedback.report import ShadowAgreement

if TYPE_CHECKING:
    from imdb_sentiment.batch.score import ChunkSummary

DISTRIBUTIONS = ("text_length", "oov_rate", "score")
TITLES = {
    "text_length": "Text length (characters)",
    "oov_rate": "Out-of-vocabulary rate",
    "score": "Score: P(positive)",
}


def merge_profiles(parts: Iterable[tuple[Mapping[str, Any], Mapping[str, int]]]) -> dict[str, Any]:
    """Combine chunk profiles built on the same bins, each weighted by the rows it measured.

    ``parts`` holds (profile, weights) pairs where weights maps "rows" and each distribution's
    name to the number of values behind it (the OOV rate is measured on a sample of rows).
    """
    parts = [(profile, weights) for profile, weights in parts if weights.get("rows")]
    if not parts:
        return {}
    rows = sum(weights["rows"] for _, weights in parts)
    merged: dict[str, Any] = {
        "rows": rows,
        "predicted_positive_rate": round(
            sum(p["predicted_positive_rate"] * w["rows"] for p, w in parts) / rows, 6
        ),
    }
    for name in DISTRIBUTIONS:
        weighted = [(p[name], w.get(name, 0)) for p, w in parts if w.get(name, 0)]
        edges = parts[0][0][name]["edges"]
        total = sum(weight for _, weight in weighted)
        if total == 0:
            merged[name] = {"edges": edges, "proportions": [0.0] * (len(edges) + 1), "mean": None}
            continue
        proportions = sum(np.asarray(d["proportions"]) * weight for d, weight in weighted) / total
        merged[name] = {
            "edges": edges,
            "proportions": [round(float(value), 6) for value in proportions],
            "mean": round(sum(d["mean"] * weight for d, weight in weighted) / total, 6),
            "values": int(total),
        }
    return merged


def drift_section(
    reference: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    psi_threshold: float,
    positive_rate_threshold: float,
) -> dict[str, Any]:
    """PSI per distribution and the change of the positive rate, each against its threshold."""
    if not reference or not current:
        return {
            "available": False,
            "reason": "the bundle has no reference profile"
            if not reference
            else "no row was scored",
            "flag": False,
            "drifted": [],
        }
    psi = drift(reference, current)
    measured = {name: value for name, value in psi.items() if current[name].get("mean") is not None}
    rate_change = round(
        current["predicted_positive_rate"] - reference["predicted_positive_rate"], 6
    )
    drifted = [name for name, value in measured.items() if value > psi_threshold]
    if abs(rate_change) > positive_rate_threshold:
        drifted.append("predicted_positive_rate")
    return {
        "available": True,
        "psi": measured,
        "positive_rate_change": rate_change,
        "thresholds": {"psi": psi_threshold, "positive_rate_change": positive_rate_threshold},
        "drifted": drifted,
        "flag": bool(drifted),
    }


def label_metrics(confusion: Sequence[Sequence[int]] | None) -> dict[str, Any] | None:
    """Accuracy, F1 and friends from a 2x2 confusion matrix (rows true, columns predicted)."""
    if confusion is None:
        return None
    matrix = np.asarray(confusion, dtype=np.int64)
    total = int(matrix.sum())
    if total == 0:
        return None
    (tn, fp), (fn, tp) = matrix.tolist()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "rows": total,
        "accuracy": round((tp + tn) / total, 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "confusion_matrix": {
            "labels": list(LABELS),
            "rows_true_columns_predicted": [[tn, fp], [fn, tp]],
        },
    }


def count_rows(summaries: Sequence[ChunkSummary]) -> dict[str, Any]:
    """The run's counts, added up over its chunks (input rows are the plan's, added later)."""
    rejected = {
        reason: sum(s.rejected.get(reason, 0) for s in summaries) for reason in REJECT_REASONS
    }
    return {
        "scored": sum(s.scored for s in summaries),
        "rejected": sum(rejected.values()),
        "rejected_by_reason": rejected,
        "labels_unrecognized": sum(s.labels_unrecognized for s in summaries),
    }


def build_report(
    *,
    run: dict[str, Any],
    input_rows: int,
    counts: Mapping[str, Any],
    summaries: Sequence[ChunkSummary],
    reference: Mapping[str, Any] | None,
    labelled: bool,
    psi_threshold: float,
    positive_rate_threshold: float,
    files: dict[str, str | None],
    feedback: bool = False,
    shadow: ShadowAgreement | None = None,
) -> dict[str, Any]:
    """The report of one run: ``run`` describes it (input, model, timings, runner), the chunk
    summaries give the counts, profile, drift and, when the input is ``labelled``, the metrics;
    a ``feedback`` export adds accuracy by model version, and ``shadow`` figures their section."""
    profile = merge_profiles(pair for s in summaries for pair in s.profiles)
    confusion = None
    if labelled and summaries:
        confusion = np.sum([s.confusion for s in summaries], axis=0).tolist()
    return {
        "run": run,
        "counts": {"input_rows": input_rows, **counts},
        "profile": profile or None,
        "reference_profile": reference,
        "drift": drift_section(reference, profile, psi_threshold, positive_rate_threshold),
        "label_metrics": label_metrics(confusion),
        "live_feedback": live_feedback_section(
            merge(s.feedback or {} for s in summaries) if feedback else None
        ),
        "shadow": shadow_section(shadow),
        "files": files,
    }


def summarize(report: Mapping[str, Any], total_seconds: float | None = None) -> dict[str, Any]:
    """The run summary: counts, drift flag and where the files are, with a one-line message.

    ``seconds`` is the whole run, report and publishing included (``total_seconds``); the
    report's own figure stops before the report is written.
    """
    counts, drift_info = report["counts"], report["drift"]
    seconds = report["run"]["seconds"] if total_seconds is None else round(total_seconds, 3)
    message = (
        f"scored {counts['scored']} of {counts['input_rows']} rows "
        f"({counts['rejected']} rejected) in {seconds:.1f} s"
    )
    if drift_info["flag"]:
        message += "; DRIFT over threshold: " + ", ".join(drift_info["drifted"])
    metrics = report.get("label_metrics")
    if metrics:
        message += f"; accuracy {metrics['accuracy']:.4f}, F1 {metrics['f1']:.4f}"
    return {
        "message": message,
        "counts": counts,
        "drift": drift_info,
        "label_metrics": metrics,
        "files": report["files"],
        "model_version": report["run"]["model"]["version"],
        "seconds": seconds,
    }


def drift_markdown(report: Mapping[str, Any], message: str) -> str:
    """The drift section as Markdown, under the run's summary ``message``, for its artifact."""
    run, drift_info = report["run"], report["drift"]
    lines = [
        f"**{run['input']}** scored with {run['model']['name']} {run['model']['version']}: "
        + message,
        "",
    ]
    if not drift_info["available"]:
        return "\n".join([*lines, f"Drift not measured: {drift_info['reason']}."])
    lines.append("**Drift over threshold**" if drift_info["flag"] else "No drift over threshold.")
    thresholds = drift_info["thresholds"]
    rows = [
        (TITLES[name], value, thresholds["psi"], name in drift_info["drifted"])
        for name, value in drift_info["psi"].items()
    ]
    rows.append(
        (
            "Predicted positive rate (change)",
            drift_info["positive_rate_change"],
            thresholds["positive_rate_change"],
            "predicted_positive_rate" in drift_info["drifted"],
        )
    )
    lines += ["", "| statistic | PSI / change | threshold | status |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {title} | {value:.4f} | {limit:g} | {'drift' if drifted else 'ok'} |"
        for title, value, limit, drifted in rows
    ]
    lines += ["", f"Report: {report['files']['report_html']}"]
    return "\n".join(lines)
