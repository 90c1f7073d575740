"""`imdb-sentiment feedback export`: every stored row to Parquet, on disk or S3, readable by the
batch flow."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from feedback_support import sample_rows

from imdb_sentiment.cli import main
from imdb_sentiment.feedback.export import EXPORT_SCHEMA
from imdb_sentiment.feedback.record import Feedback
from imdb_sentiment.feedback.store import FeedbackStore

pytestmark = pytest.mark.timeout(300)


def fill(url: str, rows: list[Feedback]) -> None:
    with FeedbackStore(url) as store:
        assert all(store.submit(row) for row in rows)
        assert store.flush(60)


def expected_columns(rows: list[Feedback]) -> dict[str, list[object]]:
    ordered = sorted(rows, key=lambda row: (row.created_at, str(row.id)))
    return {
        "id": [str(row.id) for row in ordered],
        "text": [row.text for row in ordered],
        "label": [row.label for row in ordered],
        "predicted_label": [row.predicted_label for row in ordered],
        "probability_positive": [row.probability_positive for row in ordered],
        "model_version": [row.model_version for row in ordered],
        "created_at": [row.created_at for row in ordered],
    }


def test_export_round_trips_every_row(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = sample_rows(25) + sample_rows(4, model_version="v2")
    fill(db_url, rows)
    output = tmp_path / "exports" / "feedback.parquet"
    assert main(["feedback", "export", "--db", db_url, "--output", str(output)]) == 0
    assert f"wrote {len(rows)} feedback row(s)" in capsys.readouterr().out
    table = pq.read_table(output)
    assert table.schema.equals(EXPORT_SCHEMA)
    assert table.to_pydict() == expected_columns(rows)
    assert sorted(p.name for p in output.parent.iterdir()) == ["feedback.parquet"]  # no staging


def test_an_empty_store_exports_an_empty_table_with_the_columns(tmp_path: Path) -> None:
    output = tmp_path / "empty.parquet"
    url = f"sqlite:///{tmp_path / 'new' / 'feedback.db'}"
    assert main(["feedback", "export", "--db", url, "--output", str(output)]) == 0
    table = pq.read_table(output)
    assert table.num_rows == 0 and table.schema.equals(EXPORT_SCHEMA)


def test_a_re_export_replaces_the_file_with_the_current_rows(tmp_path: Path) -> None:
    url, output = f"sqlite:///{tmp_path / 'f.db'}", tmp_path / "feedback.parquet"
    first, more = sample_rows(3), sample_rows(2)
    fill(url, first)
    assert main(["feedback", "export", "--db", url, "--output", str(output)]) == 0
    fill(url, more)
    assert main(["feedback", "export", "--db", url, "--output", str(output)]) == 0
    assert pq.read_table(output).to_pydict() == expected_columns(first + more)


def test_bad_destinations_and_databases_fail_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    assert main(["feedback", "export", "--db", url, "--output", str(tmp_path / "x.csv")]) == 1
    assert "name it *.parquet" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    output = str(tmp_path / "x.parquet")
    assert main(["feedback", "export", "--db", "nosuchdb://x", "--output", output]) == 1
    assert "error:" in capsys.readouterr().err
    dead = "postgresql+psycopg2://nobody:secret-pw@127.0.0.1:1/feedback"
    assert main(["feedback", "export", "--db", dead, "--output", output]) == 1
    message = capsys.readouterr().err
    assert message.startswith("error:") and "secret-pw" not in message
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.slow
def test_export_to_s3_round_trips(moto_server: str, s3_bucket: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    rows = sample_rows(9)
    fill(url, rows)
    target = f"s3://{s3_bucket}/feedback/export.parquet"
    assert main(["feedback", "export", "--db", url, "--output", target]) == 0
    s3 = boto3.client("s3", endpoint_url=moto_server)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    # The staged copy is gone; pyarrow may leave an empty "feedback/" folder marker behind.
    assert [key for key in keys if key != "feedback/"] == ["feedback/export.parquet"]
    body = s3.get_object(Bucket=s3_bucket, Key="feedback/export.parquet")["Body"].read()
    assert pq.read_table(io.BytesIO(body)).to_pydict() == expected_columns(rows)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_the_batch_flow_scores_the_export_against_the_users_labels(
    full_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_WORKERS", "1")
    url, export = f"sqlite:///{tmp_path / 'f.db'}", tmp_path / "feedback.parquet"
    rows = sample_rows(20)
    fill(url, rows)
    assert main(["feedback", "export", "--db", url, "--output", str(export)]) == 0
    out = tmp_path / "scored"
    command = ["batch", "--input", str(export), "--output", str(out), "--model", str(full_bundle)]
    assert main(command) == 0
    report = json.loads((out / "predictions.report.json").read_text())
    assert report["run"]["columns"] == {"text": "text", "id": "id", "label": "label"}
    assert report["counts"]["scored"] == 20 and report["counts"]["labels_unrecognized"] == 0
    # Its accuracy is measured against the users' labels, row by row.
    predictions = pq.read_table(out / "predictions.parquet").to_pydict()
    truth = {str(row.id): row.label for row in rows}
    assert sorted(predictions["id"]) == sorted(truth)
    right = sum(
        truth[row_id] == predicted
        for row_id, predicted in zip(predictions["id"], predictions["predicted_label"], strict=True)
    )
    assert report["label_metrics"]["rows"] == 20
    assert report["label_metrics"]["accuracy"] == pytest.approx(right / 20)
