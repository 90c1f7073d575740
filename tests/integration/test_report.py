"""`imdb-sentiment report`: the pull-request markdown, built from a real git + DVC repo."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.dvc_project import VENV_BIN, commit, init_project, run

from imdb_sentiment.report import mistakes_summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_revisions(tmp_path_factory: pytest.TempPathFactory, sample_archive: Path):
    """main: the pipeline with the small params; branch `feature`: train.C lowered, re-run."""
    repo = tmp_path_factory.mktemp("report-repo")
    env = init_project(repo, sample_archive)
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "pipeline on main")
    run(["git", "checkout", "--quiet", "-b", "feature"], repo, env)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["C"] = 0.05
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "lower C")
    return repo, env


@pytest.mark.slow
def test_report_shows_metric_and_param_changes_and_plots(two_revisions) -> None:
    repo, env = two_revisions
    result = run(
        [str(Path(VENV_BIN) / "imdb-sentiment"), "report", "--base", "main"],
        repo,
        env,
    )
    assert "wrote report.md" in result.stdout
    markdown = (repo / "report.md").read_text()

    # The params table names the changed param with both values.
    main_params = yaml.safe_load(run(["git", "show", "main:params.yaml"], repo, env).stdout)
    params_row = next(line for line in markdown.splitlines() if "train.C" in line)
    assert str(main_params["train"]["C"]) in params_row and "0.05" in params_row
    # The metrics table has rows for the metrics file, and the accuracy moved.
    main_metrics = json.loads(run(["git", "show", "main:metrics/metrics.json"], repo, env).stdout)
    feature_metrics = json.loads((repo / "metrics" / "metrics.json").read_text())
    assert main_metrics["val"]["log_loss"] != feature_metrics["val"]["log_loss"]
    log_loss_row = next(
        line
        for line in markdown.splitlines()
        if "| metrics/metrics.json " in line and "| val.log_loss " in line
    )
    assert f"{feature_metrics['val']['log_loss']:g}"[:5] in log_loss_row

    # Every dvc.yaml plot is an image file linked from the markdown.
    links = re.findall(r"!\[([^\]]+)\]\(([^)]+)\)", markdown)
    assert {title for title, _ in links} >= {
        "ROC curve",
        "Precision-recall curve",
        "Confusion matrix (test)",
        "Confusion matrix (validation)",
    }
    for _, link in links:
        image = repo / link
        assert image.read_bytes()[:8] == PNG_MAGIC, link
        assert image.stat().st_size > 5_000, link  # a rendered chart, not an empty canvas

    # The evaluate stage's error analysis is included as written.
    assert "### Error analysis (validation)" in markdown
    assert (repo / "metrics" / "error_analysis.md").read_text().strip() in markdown


@pytest.mark.slow
def test_report_against_itself_says_nothing_changed(two_revisions) -> None:
    repo, env = two_revisions
    run(
        [str(Path(VENV_BIN) / "imdb-sentiment"), "report", "--base", "HEAD", "--output", "same.md"],
        repo,
        env,
    )
    markdown = (repo / "same.md").read_text()
    assert "No metric changed against `HEAD`." in markdown
    assert "No param changed against `HEAD`." in markdown


@pytest.mark.slow
def test_report_with_unknown_base_fails_clearly(two_revisions) -> None:
    repo, env = two_revisions
    result = run(
        [str(Path(VENV_BIN) / "imdb-sentiment"), "report", "--base", "no-such-branch"],
        repo,
        env,
        check=False,
    )
    assert result.returncode == 1
    assert "error: `dvc metrics diff no-such-branch --md` failed" in result.stderr


def test_mistakes_summary_escapes_review_text() -> None:
    mistakes = [
        {
            "review_id": "r1",
            "label": "negative",
            "probability_positive": 0.9,
            "text": "a | b <img src=x>\nnext line " + "x" * 300,
        },
        {"review_id": "r2", "label": "positive", "probability_positive": 0.3, "text": "fine"},
    ]
    summary = mistakes_summary(mistakes)
    assert "1 negative reviews scored positive, 1 positive reviews scored negative" in summary
    assert "mean confidence in the wrong label 0.800" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| r1"))
    assert "a \\| b &lt;img src=x&gt; next line" in row
    assert "<img" not in summary and len(row) < 250
    # Most confident mistake first.
    assert summary.index("| r1") < summary.index("| r2")


def test_report_module_is_not_loaded_by_serving_imports() -> None:
    code = (
        "import sys, imdb_sentiment.bundle, imdb_sentiment.cli;"
        "assert 'imdb_sentiment.report' not in sys.modules, 'report imported at startup'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
