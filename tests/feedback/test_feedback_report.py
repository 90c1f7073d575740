"""`imdb-sentiment feedback report` (live accuracy by model version) and `feedback delete`."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedback_support import sample_rows

from imdb_sentiment.cli import main
from imdb_sentiment.feedback.database import count_feedback, create_feedback_engine
from imdb_sentiment.feedback.record import Feedback
from imdb_sentiment.feedback.report import wilson_low
from imdb_sentiment.feedback.store import FeedbackStore

pytestmark = pytest.mark.timeout(180)


def fill(url: str, rows: list[Feedback]) -> None:
    with FeedbackStore(url) as store:
        assert all(store.submit(row) for row in rows)
        assert store.flush(60)


def verdicts(version: str | None, right: int, wrong: int, unjudged: int = 0) -> list[Feedback]:
    """Feedback on ``version``: ``right`` confirmed predictions, ``wrong`` corrected ones and
    ``unjudged`` rows that do not say what the user was shown."""
    rows = []
    for i in range(right + wrong + unjudged):
        label = ("positive", "negative")[i % 2]
        flipped = "negative" if label == "positive" else "positive"
        shown = label if i < right else flipped if i < right + wrong else None
        rows.append(
            Feedback.create(
                f"review {i} of {version}",
                label,
                max_text_chars=100,
                predicted_label=shown,
                model_version=version,
            )
        )
    return rows


def report_json(url: str, capsys: pytest.CaptureFixture, *extra: str) -> dict:
    assert main(["feedback", "report", "--db", url, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_report_gives_live_accuracy_by_model_version(
    db_url: str, capsys: pytest.CaptureFixture
) -> None:
    fill(db_url, verdicts("v1", right=7, wrong=3) + verdicts(None, right=3, wrong=0))
    fill(db_url, verdicts("v2", right=1, wrong=3, unjudged=2))  # the newest feedback
    report = report_json(db_url, capsys)
    by_version = {entry["model_version"]: entry for entry in report["by_model_version"]}
    assert report["by_model_version"][0]["model_version"] == "v2"  # most recent first
    assert {v: (e["rows"], e["judged"], e["correct"]) for v, e in by_version.items()} == {
        "v1": (10, 10, 7),
        "v2": (6, 4, 1),
        None: (3, 3, 3),
    }
    assert by_version["v1"]["accuracy"] == pytest.approx(0.7)
    assert by_version["v2"]["accuracy"] == pytest.approx(0.25)
    assert (report["rows"], report["judged"], report["correct"]) == (19, 17, 11)
    assert report["accuracy"] == pytest.approx(11 / 17)
    assert report["shadow"] is None  # not measured here, and not made up
    assert main(["feedback", "report", "--db", db_url]) == 0
    table = capsys.readouterr().out
    assert "v1" in table and "0.700" in table and "(not given)" in table
    assert "shadow agreement: not given" in table


def test_accuracy_comes_with_a_95_percent_lower_bound(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # Wilson interval for 7 of 10: [0.397, 0.892] (e.g. Newcombe 1998, Table I method 3).
    assert wilson_low(7, 10) == pytest.approx(0.3968, abs=1e-4)
    assert wilson_low(0, 0) is None
    url = f"sqlite:///{tmp_path / 'f.db'}"
    fill(url, verdicts("few", right=3, wrong=0) + verdicts("many", right=940, wrong=60))
    report = report_json(url, capsys)
    low = {e["model_version"]: e["accuracy_low_95"] for e in report["by_model_version"]}
    assert low["few"] < low["many"]  # 3 of 3 is weaker evidence than 940 of 1,000


def test_report_shows_shadow_agreement_only_when_given(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    fill(url, verdicts("v1", right=2, wrong=1))
    shadow = tmp_path / "shadow.json"
    shadow.write_text(
        json.dumps(
            {"agree": 90, "disagree": 10, "champion_version": "v1", "challenger_version": "v2"}
        )
    )
    written = tmp_path / "reports" / "feedback.json"
    report = report_json(url, capsys, "--shadow", str(shadow), "--output", str(written))
    assert report["shadow"] == {
        "agree": 90,
        "disagree": 10,
        "champion_version": "v1",
        "challenger_version": "v2",
        "rate": 0.9,
    }
    assert json.loads(written.read_text()) == report
    assert main(["feedback", "report", "--db", url, "--shadow", str(shadow)]) == 0
    assert "shadow agreement: 0.900 (90 of 100; champion v1, challenger v2)" in (
        capsys.readouterr().out
    )
    for bad in ('{"agree": -1, "disagree": 3}', '{"agree": "9"}', "not json"):
        shadow.write_text(bad)
        assert main(["feedback", "report", "--db", url, "--shadow", str(shadow)]) == 1
        assert capsys.readouterr().err.startswith("error:")


def test_since_days_keeps_only_recent_feedback(db_url: str, capsys: pytest.CaptureFixture) -> None:
    old = [
        dataclasses.replace(row, created_at=datetime.now(UTC) - timedelta(days=10))
        for row in verdicts("v1", right=0, wrong=4)
    ]
    fill(db_url, old + verdicts("v1", right=3, wrong=1))
    everything = report_json(db_url, capsys)
    assert (everything["judged"], everything["correct"]) == (8, 3)
    recent = report_json(db_url, capsys, "--since-days", "7")
    assert (recent["judged"], recent["correct"]) == (4, 3)
    assert recent["since"] is not None


def test_delete_removes_rows_by_id_and_by_age(db_url: str, capsys: pytest.CaptureFixture) -> None:
    old = [
        dataclasses.replace(row, created_at=datetime.now(UTC) - timedelta(days=40))
        for row in sample_rows(3)
    ]
    recent = sample_rows(4)
    fill(db_url, old + recent)
    engine = create_feedback_engine(db_url)
    assert main(["feedback", "delete", "--db", db_url, "--older-than-days", "30"]) == 0
    assert "deleted 3 feedback row(s)" in capsys.readouterr().out
    assert count_feedback(engine) == 4
    ids = ["--id", str(recent[0].id), "--id", str(recent[1].id)]
    assert main(["feedback", "delete", "--db", db_url, *ids]) == 0
    assert "deleted 2 feedback row(s)" in capsys.readouterr().out
    assert count_feedback(engine) == 2
    assert main(["feedback", "delete", "--db", db_url]) == 2  # nothing named: nothing deleted
    assert main(["feedback", "delete", "--db", db_url, "--id", "not-a-uuid"]) == 1
    assert count_feedback(engine) == 2
    engine.dispose()


def test_without_a_setting_the_store_is_a_sqlite_file_under_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMDB_SENTIMENT_FEEDBACK_DB", raising=False)
    fill("sqlite:///data/feedback/feedback.db", verdicts("v1", right=1, wrong=1))
    assert report_json("sqlite:///data/feedback/feedback.db", capsys)["judged"] == 2
    assert main(["feedback", "report", "--json"]) == 0  # no --db: the default location
    assert json.loads(capsys.readouterr().out)["judged"] == 2
    assert (tmp_path / "data" / "feedback" / "feedback.db").is_file()
