"""POST /feedback in a real server, stored in SQLite and in a PostgreSQL started by the test."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from helpers.api_server import running_server_process

from imdb_sentiment.cli import main

pytestmark = pytest.mark.timeout(600)

BAD_BODIES = [
    {"text": "   \u3000", "label": "positive"},  # only whitespace
    {"text": "a\u0000b", "label": "positive"},  # NUL: no database column holds it
    {"text": "fine", "label": "neutral"},
    {"text": "fine", "label": "positive", "probability_positive": 1.5},
    {"text": "fine", "label": "positive", "predicted_label": "maybe"},
    {"text": "fine", "label": "positive", "model_version": "x" * 129},
    {"text": "fine", "label": "positive", "user": "someone"},  # no extra fields
    {"text": 5, "label": "positive"},
    {"label": "positive"},
    {"text": "x" * 201, "label": "positive"},  # over IMDB_SENTIMENT_MAX_TEXT_CHARS=200
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def feedback_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'feedback' / 'feedback.db'}"
    return str(request.getfixturevalue("postgres_url"))


def feedback_counts(client: httpx.Client) -> tuple[float, float]:
    body = client.get("/metrics").text

    def value(correct: str) -> float:
        found = re.search(
            rf'^imdb_sentiment_feedback_total{{correct="{correct}"}} (\S+)$', body, re.M
        )
        return float(found.group(1)) if found else 0.0

    return value("true"), value("false")


def test_feedback_is_stored_survives_a_restart_and_exports_row_for_row(
    small_bundle: Path, tmp_path: Path, feedback_db: str
) -> None:
    env = {"IMDB_SENTIMENT_FEEDBACK_DB": feedback_db, "IMDB_SENTIMENT_MAX_TEXT_CHARS": "200"}
    sent: dict[str, dict[str, object]] = {}
    for run in range(2):  # the second server reopens the same database
        log = tmp_path / f"server-{run}.log"
        with (
            running_server_process(small_bundle, log, **env) as (_, base),
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            shown = client.post("/predict", json={"text": f"A lovely film, run {run}."}).json()
            body = {
                "text": f"A lovely film, run {run}.",
                "label": "positive",
                "predicted_label": shown["label"],
                "probability_positive": shown["probability_positive"],
                "model_version": shown["model_version"],
            }
            answer = client.post("/feedback", json=body)
            assert answer.status_code == 202, answer.text
            sent[answer.json()["id"]] = body
            wrong = {"text": f"Dreadful, run {run}.", "label": "negative"}
            wrong |= {"predicted_label": "positive"}
            answer = client.post("/feedback", json=wrong)
            assert answer.status_code == 202
            sent[answer.json()["id"]] = wrong
            for bad in BAD_BODIES:
                refused = client.post("/feedback", json=bad)
                assert refused.status_code == 422, (bad, refused.text)
                assert isinstance(refused.json()["detail"], list)
            too_big = client.post("/feedback", content=b"{" + b" " * 2_000_000 + b"}")
            assert too_big.status_code == 413
            # The counter follows the writer thread: poll it (bounded) instead of timing it.
            for _ in range(300):
                right, wrong_count = feedback_counts(client)
                if right + wrong_count >= 2:
                    break
                client.get("/health")
            first_right = body["predicted_label"] == "positive"
            assert (right, wrong_count) == (float(first_right), 2.0 - first_right)
    output = tmp_path / "export.parquet"
    assert main(["feedback", "export", "--db", feedback_db, "--output", str(output)]) == 0
    rows = pq.read_table(output).to_pylist()
    assert {row["id"] for row in rows} == set(sent)  # every accepted row, no refused one
    for row in rows:
        body = sent[row["id"]]
        for key in ("text", "label", "predicted_label", "probability_positive", "model_version"):
            assert row[key] == body.get(key)
        assert row["created_at"] is not None


def test_a_full_feedback_queue_answers_503_and_the_request_never_waits_on_the_database(
    small_bundle: Path, tmp_path: Path
) -> None:
    import sqlite3

    path = tmp_path / "feedback.db"
    url = f"sqlite:///{path}"
    assert main(["feedback", "export", "--db", url, "--output", str(tmp_path / "e.parquet")]) == 0
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the database is locked: the writer cannot write
    env = {"IMDB_SENTIMENT_FEEDBACK_DB": url, "IMDB_SENTIMENT_FEEDBACK_QUEUE_LIMIT": "1"}
    accepted, refused = [], []
    try:
        with (
            running_server_process(small_bundle, tmp_path / "server.log", **env) as (_, base),
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            # The writer holds at most what it took before the lock stopped it; one more row
            # fits the queue; so among three rows at least one is refused.
            for index in range(3):
                answer = client.post(
                    "/feedback", json={"text": f"row {index}", "label": "positive"}
                )
                assert answer.status_code in (202, 503), answer.text
                if answer.status_code == 503:
                    assert answer.headers["retry-after"] == "5"
                    assert "retry" in answer.json()["detail"]
                    refused.append(index)
                else:
                    accepted.append(answer.json()["id"])
            assert refused
            lock.execute("COMMIT")  # the database is back: the queued rows get written
            assert client.get("/health").status_code == 200
    finally:
        lock.close()
    output = tmp_path / "export.parquet"
    assert main(["feedback", "export", "--db", url, "--output", str(output)]) == 0
    assert sorted(row["id"] for row in pq.read_table(output).to_pylist()) == sorted(accepted)
