"""Pull-request report: what changed in metrics, params and plots against a base revision.

CI runs `imdb-sentiment report --base origin/main` and posts the markdown with CML; it runs the same
way locally. The numbers and plots come from DVC itself (`dvc metrics/params diff --md`,
`dvc plots diff --json`), so the plot definitions live once, in dvc.yaml. The Vega-Lite specs DVC
returns are rendered to PNG offline with vl-convert (a CML comment needs images, not HTML).
Training-side tooling: serving code never imports this module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.paths import ERROR_ANALYSIS, MISTAKES

# Review texts are untrusted input: show a bounded, escaped excerpt of a few of them.
MISTAKE_ROWS = 5
EXCERPT_CHARS = 160


class ReportError(ImdbSentimentError, RuntimeError):
    """A DVC command the report needs failed; the message carries its stderr."""


@dataclass
class Report:
    markdown: str
    images: list[Path] = field(default_factory=list)


def _dvc(args: list[str], cwd: Path) -> str:
    """Run the DVC of this interpreter (not whatever is first on PATH) and return stdout."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ReportError(f"`dvc {' '.join(args)}` failed:\n{result.stderr.strip()}")
    return result.stdout


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "plot"


def render_plots(plots: dict[str, list[dict[str, Any]]], images_dir: Path) -> dict[str, Path]:
    """Render each DVC plot (a Vega-Lite spec with its data inlined) to ``images_dir/<slug>.png``."""
    try:
        import vl_convert
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise ReportError(
            "rendering plots needs vl-convert-python: install the `report` extra"
        ) from error

    images_dir.mkdir(parents=True, exist_ok=True)
    rendered: dict[str, Path] = {}
    for title, specs in plots.items():
        for index, spec in enumerate(item for item in specs if item.get("type") == "vega"):
            suffix = f"-{index + 1}" if index else ""
            path = images_dir / f"{slug(title)}{suffix}.png"
            path.write_bytes(vl_convert.vegalite_to_png(spec["content"], scale=1))
            rendered[title + suffix] = path
    return rendered


def _cell(text: str) -> str:
    """One line of untrusted text made safe for a markdown table cell."""
    text = " ".join(str(text).split())
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def mistakes_summary(mistakes: list[dict[str, Any]]) -> str:
    """Markdown summary of the evaluate stage's most confident validation mistakes."""
    if not mistakes:
        return "The evaluate stage listed no validation mistakes."
    false_positive = [m for m in mistakes if m["label"] == "negative"]
    false_negative = [m for m in mistakes if m["label"] == "positive"]

    def confidence(mistake: dict[str, Any]) -> float:
        probability = float(mistake["probability_positive"])
        return probability if mistake["label"] == "negative" else 1.0 - probability

    ranked = sorted(mistakes, key=confidence, reverse=True)
    mean = sum(map(confidence, mistakes)) / len(mistakes)
    lines = [
        f"The {len(mistakes)} most confident validation mistakes: "
        f"{len(false_positive)} negative reviews scored positive, "
        f"{len(false_negative)} positive reviews scored negative; "
        f"mean confidence in the wrong label {mean:.3f}.",
        "",
        "| review | true label | P(positive) | excerpt |",
        "| --- | --- | --- | --- |",
    ]
    for mistake in ranked[:MISTAKE_ROWS]:
        lines.append(
            f"| {_cell(mistake['review_id'])} | {_cell(mistake['label'])} "
            f"| {float(mistake['probability_positive']):.3f} | {_cell(mistake['text'])} |"
        )
    return "\n".join(lines)


def error_analysis(project: Path) -> str | None:
    """The error-analysis write-up if the pipeline made one, else a summary of the mistakes."""
    if (project / ERROR_ANALYSIS).is_file():
        return (project / ERROR_ANALYSIS).read_text().strip()
    if (project / MISTAKES).is_file():
        return mistakes_summary(json.loads((project / MISTAKES).read_text()))
    return None


def build_report(base: str, output: Path, project: Path | None = None) -> Report:
    """Compare the workspace of ``project`` with git revision ``base``; write ``output`` + images.

    Images go to ``<output stem>_images/`` beside ``output`` and are linked relatively, which is
    what `cml comment update <output>` uploads.
    """
    project = (project or Path.cwd()).resolve()
    output = output if output.is_absolute() else Path.cwd() / output
    images_dir = output.parent / f"{output.stem}_images"

    metrics = _rows_or_empty(_dvc(["metrics", "diff", base, "--md"], project))
    params = _rows_or_empty(_dvc(["params", "diff", base, "--md"], project))
    plots = json.loads(_dvc(["plots", "diff", base, "--json"], project))
    images = render_plots(plots.get("data", {}), images_dir)

    sections = [
        f"## Model report: workspace vs `{base}`",
        "### Metrics",
        metrics or f"No metric changed against `{base}`.",
        "### Params",
        params or f"No param changed against `{base}`.",
        "### Plots",
    ]
    if images:
        sections += [
            f"![{title}]({path.relative_to(output.parent).as_posix()})"
            for title, path in images.items()
        ]
    else:
        sections.append("No plots to compare.")
    for message in _plot_errors(plots):
        sections.append(f"> plot error: {message}")
    analysis = error_analysis(project)
    if analysis:
        sections += ["### Error analysis (validation)", analysis]

    markdown = "\n\n".join(sections) + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown)
    return Report(markdown=markdown, images=list(images.values()))


def _rows_or_empty(table: str) -> str:
    """DVC prints a bare header when nothing changed: treat that as no table."""
    rows = [line for line in table.strip().splitlines() if line.startswith("|")]
    return table.strip() if len(rows) > 2 else ""


def _plot_errors(plots: dict[str, Any]) -> list[str]:
    errors = plots.get("errors") or []
    return [
        f"{error.get('rev', '?')}: {error.get('msg') or error.get('type', 'unknown error')}"
        for error in errors
        if isinstance(error, dict)
    ]
