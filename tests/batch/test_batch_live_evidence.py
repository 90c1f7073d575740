"""The batch report's live evidence: accuracy by model version of a feedback export, and the
shadow's agreement rate from the service's figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_support import read_outputs, reviews_frame

from imdb_sentiment.bundle import load_bundle
from imdb_sentiment.cli import main
from imdb_sentiment.feedback.export import EXPORT_SCHEMA
from imdb_sentiment.feedback.report import wilson_low

pytestmark = pytest.mark.usefixtures("prefect_harness")

# Which version users saw on each of 24 rows, and whether its label was right (None: the client
# did not send the label it showed). Hand count: v1 10 rows, 9 judged, 7 right; v2 10, 9, 3;
# no version 4, 3, 2.
SHOWN = (
    [("v1", True)] * 7
    + [("v1", False)] * 2
    + [("v1", None)]
    + [("v2", True)] * 3
    + [("v2", False)] * 6
    + [("v2", None)]
    + [(None, True), (None, False), (None, None), (None, True)]
)


@pytest.fixture
def batch_env(monkeypatch: pytest.MonkeyPatch, small_bundle: Path) -> Path:
    monkeypatch.setenv("IMDB_SENTIMENT_MODEL", str(small_bundle))
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_WORKERS", "1")
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_RETRY_DELAY_SECONDS", "0")
    return small_bundle


@pytest.fixture
def reviews(sample_pipeline: Path) -> pd.DataFrame:
    return reviews_frame(sample_pipeline / "data" / "split" / "test.parquet").head(len(SHOWN))


def _feedback_export(reviews: pd.DataFrame, path: Path) -> Path:
    """A table with the columns and types ``imdb-sentiment feedback export`` writes."""
    flip = {"positive": "negative", "negative": "positive"}
    labels = reviews["sentiment"].tolist()
    shown = [
        None if right is None else label if right else flip[label]
        for label, (_, right) in zip(labels, SHOWN, strict=True)
    ]
    table = pa.table(
        {
            "id": [f"f{i}" for i in range(len(SHOWN))],
            "text": reviews["review"].tolist(),
            "label": labels,
            "predicted_label": shown,
            "probability_positive": [None if s is None else 0.5 for s in shown],
            "model_version": [version for version, _ in SHOWN],
            "created_at": [pd.Timestamp("2026-01-01", tz="UTC")] * len(SHOWN),
        },
        schema=EXPORT_SCHEMA,
    )
    pq.write_table(table, path, row_group_size=10)  # versions span row groups and chunks
    return path


def test_a_feedback_export_gives_accuracy_by_model_version(
    batch_env: Path, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    from imdb_sentiment.batch.flow import batch_predict

    source = _feedback_export(reviews, tmp_path / "feedback.parquet")
    state = batch_predict(
        input=str(source), output=str(tmp_path / "out"), chunk_rows=7, return_state=True
    )
    assert state.is_completed()
    report = read_outputs(tmp_path / "out")["report"]
    live = report["live_feedback"]
    by_version = {e["model_version"]: e for e in live["by_model_version"]}
    counted = {v: (e["rows"], e["judged"], e["correct"]) for v, e in by_version.items()}
    assert counted == {"v1": (10, 9, 7), "v2": (10, 9, 3), None: (4, 3, 2)}
    assert by_version["v1"]["accuracy"] == pytest.approx(7 / 9, abs=1e-6)
    assert by_version["v2"]["accuracy"] == pytest.approx(3 / 9, abs=1e-6)
    # 7 of 9: the 95% Wilson lower bound, worked by hand, and the feedback report's own figure.
    assert by_version["v1"]["accuracy_low_95"] == pytest.approx(0.4526, abs=1e-3)
    assert by_version["v1"]["accuracy_low_95"] == pytest.approx(wilson_low(7, 9), abs=1e-6)
    assert (live["rows"], live["judged"], live["correct"]) == (24, 21, 12)

    # This run's model on the same rows, per version, against the users' labels.
    model = load_bundle(batch_env)
    guess = model.predict(reviews["review"].tolist())
    for version, first, last in (("v1", 0, 10), ("v2", 10, 20), (None, 20, 24)):
        right = sum(
            g == t for g, t in zip(guess[first:last], reviews["sentiment"][first:last], strict=True)
        )
        entry = by_version[version]
        assert (entry["batch_labelled"], entry["batch_correct"]) == (last - first, right)
    metrics = report["label_metrics"]
    assert sum(e["batch_labelled"] for e in by_version.values()) == metrics["rows"] == 24
    total_right = sum(e["batch_correct"] for e in by_version.values())
    assert total_right / 24 == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert report["shadow"] is None

    page = (tmp_path / "out" / "predictions.report.html").read_text()
    assert "Live feedback by model version" in page
    assert "<td>v1</td><td>10</td><td>9</td><td>0.7778</td>" in page


def test_shadow_figures_from_a_json_file_show_in_the_report(
    batch_env: Path, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "reviews.csv"
    reviews.to_csv(source, index=False)
    figures = tmp_path / "shadow.json"
    figures.write_text(
        json.dumps(
            {"agree": 45, "disagree": 5, "champion_version": "c1", "challenger_version": "c2"}
        )
    )
    out = tmp_path / "out"
    command = ["batch", "--input", str(source), "--output", str(out), "--shadow", str(figures)]
    assert main(command) == 0
    report = read_outputs(out)["report"]
    assert report["shadow"] == {
        "agree": 45,
        "disagree": 5,
        "champion_version": "c1",
        "challenger_version": "c2",
        "rate": 0.9,
    }
    assert report["live_feedback"] is None  # plain reviews: no feedback columns
    page = (out / "predictions.report.html").read_text()
    assert "Shadow agreement" in page and "<td>rate</td><td>0.9000</td>" in page

    # A source that was given and cannot be read fails the run, publishing nothing.
    missing = ["batch", "--input", str(source), "--output", str(tmp_path / "none")]
    (tmp_path / "list.json").write_text("[45, 5]")
    for bad in ("absent.json", "list.json"):
        assert main([*missing, "--shadow", str(tmp_path / bad)]) == 1
    assert not (tmp_path / "none").exists()


def test_without_feedback_columns_or_shadow_the_sections_are_null(
    batch_env: Path, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    from imdb_sentiment.batch.flow import batch_predict

    source = tmp_path / "reviews.parquet"
    reviews.to_parquet(source)
    state = batch_predict(input=str(source), output=str(tmp_path / "out"), return_state=True)
    assert state.is_completed()
    report = read_outputs(tmp_path / "out")["report"]
    assert report["label_metrics"]["rows"] == len(reviews)
    assert report["live_feedback"] is None and report["shadow"] is None
    page = (tmp_path / "out" / "predictions.report.html").read_text()
    assert "Live feedback" not in page and "Shadow agreement" not in page
