"""The batch report as a self-contained HTML page: inline CSS and SVG, no script, nothing fetched."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from imdb_sentiment.batch.live import live_rows
from imdb_sentiment.batch.report import DISTRIBUTIONS, TITLES

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;
color:#1f2933;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
.muted{color:#627d98;font-size:.9rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #d9e2ec;padding:.3rem .7rem;text-align:right}th{background:#f0f4f8}
td:first-child,th:first-child{text-align:left}.flag{padding:.8rem 1rem;border-radius:6px;font-weight:600}
.flag.ok{background:#e3f9e5;color:#05400a}.flag.bad{background:#ffe3e3;color:#610404}
.drifted{color:#a61b1b;font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
figure{margin:0}figcaption{font-size:.9rem;margin-bottom:.3rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}
"""


def _bars(reference: Sequence[float] | None, current: Sequence[float], labels: list[str]) -> str:
    """Grouped bar chart (reference grey, this run blue) as inline SVG."""
    width, height, pad, below = 300, 160, 20, 50
    n = len(current)
    peak = max([*current, *(reference or [])], default=0) or 1
    slot = (width - pad) / max(n, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + below}" '
        f'viewBox="0 0 {width} {height + below}" role="img">',
        f'<line x1="{pad}" y1="{height}" x2="{width}" y2="{height}" stroke="#9fb3c8"/>',
    ]
    for i, value in enumerate(current):
        x = pad + i * slot
        for offset, series, colour in ((0.1, reference, "#bcccdc"), (0.5, current, "#2f80ed")):
            if series is None:
                continue
            bar = series[i] / peak * (height - 10)
            parts.append(
                f'<rect x="{x + offset * slot:.1f}" y="{height - bar:.1f}" width="{0.4 * slot:.1f}" '
                f'height="{bar:.1f}" fill="{colour}"><title>{html.escape(labels[i])}: '
                f"{series[i]:.3f}</title></rect>"
            )
        if n <= 12:
            cx, cy = x + slot / 2, height + 10
            parts.append(
                f'<text x="{cx:.1f}" y="{cy}" font-size="9" text-anchor="end" fill="#486581" '
                f'transform="rotate(-40 {cx:.1f} {cy})">{html.escape(labels[i])}</text>'
            )
        del value
    parts.append("</svg>")
    return "".join(parts)


def _bin_labels(edges: Sequence[float]) -> list[str]:
    def fmt(value: float) -> str:
        return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.3f}"

    if not edges:
        return ["all"]
    return [f"≤{fmt(edges[0])}"] + [f"≤{fmt(e)}" for e in edges[1:]] + [f">{fmt(edges[-1])}"]


def _table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def render_html(report: Mapping[str, Any]) -> str:
    """A self-contained page (inline CSS and SVG, no script, nothing fetched) for one run."""
    run, counts, drift_info = report["run"], report["counts"], report["drift"]
    profile, reference = report.get("profile") or {}, report.get("reference_profile") or {}
    if drift_info["flag"]:
        banner = (
            '<p class="flag bad" id="drift-flag">Drift over threshold: '
            + html.escape(", ".join(drift_info["drifted"]))
            + "</p>"
        )
    elif drift_info.get("available"):
        banner = '<p class="flag ok" id="drift-flag">No drift over threshold</p>'
    else:
        reason = html.escape(drift_info["reason"])
        banner = f'<p class="flag ok" id="drift-flag">Drift not measured: {reason}</p>'
    sections = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Batch report: {html.escape(run['input'])}</title><style>{_CSS}</style></head><body>",
        "<h1>imdb-sentiment batch report</h1>",
        f"<p class='muted'>{html.escape(run['input'])} → {html.escape(run['output'])}<br>"
        f"model {html.escape(run['model']['name'])} {html.escape(run['model']['version'])} · "
        f"scored at {html.escape(run['scored_at'])} · {run['seconds']:.1f} s</p>",
        banner,
        "<h2>Counts</h2>",
        _table(
            [
                ("input rows", counts["input_rows"]),
                ("scored", counts["scored"]),
                ("rejected", counts["rejected"]),
                *((f"rejected: {reason}", n) for reason, n in counts["rejected_by_reason"].items()),
                ("predicted positive rate", _fmt(profile.get("predicted_positive_rate"))),
                ("reference positive rate", _fmt(reference.get("predicted_positive_rate"))),
            ],
            ("", "value"),
        ),
    ]
    if drift_info.get("available"):
        thresholds = drift_info["thresholds"]
        rows = [
            (
                TITLES[name],
                _fmt(value),
                _fmt(thresholds["psi"]),
                '<span class="drifted">drift</span>' if name in drift_info["drifted"] else "ok",
            )
            for name, value in drift_info["psi"].items()
        ]
        rows.append(
            (
                "Predicted positive rate (change)",
                _fmt(drift_info["positive_rate_change"]),
                _fmt(thresholds["positive_rate_change"]),
                '<span class="drifted">drift</span>'
                if "predicted_positive_rate" in drift_info["drifted"]
                else "ok",
            )
        )
        sections += ["<h2>Drift against the training reference</h2>"]
        sections.append(_table(rows, ("statistic", "PSI / change", "threshold", "status")))
        sections.append(
            '<p class="legend muted"><span style="background:#bcccdc"></span>reference (validation split)'
            '<span style="background:#2f80ed"></span>this run</p><div class="charts">'
        )
        for name in DISTRIBUTIONS:
            current = profile.get(name)
            if not current or current.get("mean") is None:
                continue
            ref = reference.get(name, {})
            sections.append(
                f"<figure><figcaption>{TITLES[name]} · mean {_fmt(current['mean'])} "
                f"(reference {_fmt(ref.get('mean'))})</figcaption>"
                + _bars(
                    ref.get("proportions"), current["proportions"], _bin_labels(current["edges"])
                )
                + "</figure>"
            )
        sections.append("</div>")
    metrics = report.get("label_metrics")
    if metrics:
        (tn, fp), (fn, tp) = metrics["confusion_matrix"]["rows_true_columns_predicted"]
        sections += [
            f"<h2>Against the labels ({metrics['rows']} labelled rows)</h2>",
            _table(
                [(name, _fmt(metrics[name])) for name in ("accuracy", "precision", "recall", "f1")],
                ("metric", "value"),
            ),
            "<p class='muted'>Confusion matrix (rows: true label, columns: predicted)</p>",
            _table(
                [("negative", tn, fp), ("positive", fn, tp)],
                ("true \\ predicted", "negative", "positive"),
            ),
        ]
    sections += _live_sections(report)
    sections.append("</body></html>")
    return "\n".join(sections)


def _live_sections(report: Mapping[str, Any]) -> list[str]:
    """Accuracy by model version of a feedback export, and the shadow's agreement, when given."""
    sections = []
    feedback = report.get("live_feedback")
    if feedback:
        rows = [(html.escape(str(r[0])), *(_fmt(v) for v in r[1:])) for r in live_rows(feedback)]
        totals = ("rows", "judged", "accuracy", "accuracy_low_95")
        rows.append(("all", *(_fmt(feedback[k]) for k in totals), ""))
        header = ("model version", "rows", "judged", "accuracy shown", "95% low", "this run")
        sections += [
            "<h2 id='live-feedback'>Live feedback by model version</h2>",
            "<p class='muted'>Accuracy of the label users were shown (judged rows: both labels "
            "known), the lower bound of its 95% Wilson interval, and this run's model on the "
            "same rows.</p>",
            _table(rows, header),
        ]
    shadow = report.get("shadow")
    if shadow:
        sections += [
            "<h2 id='shadow'>Shadow agreement</h2>",
            _table(
                [
                    (name.replace("_", " "), _fmt(shadow[name]))
                    for name in (
                        "rate",
                        "agree",
                        "disagree",
                        "champion_version",
                        "challenger_version",
                    )
                ],
                ("", "value"),
            ),
        ]
    return sections
