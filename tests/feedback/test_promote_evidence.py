"""`imdb-sentiment promote --min-shadow-agreement`: production evidence beside validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from integration.test_promote import _alias, _candidate, client, empty_registry  # noqa: F401 (fixtures)

from imdb_sentiment.cli import main


def shadow_file(tmp_path: Path, agree: int, disagree: int, challenger: str) -> str:
    path = tmp_path / "shadow.json"
    figures = {"agree": agree, "disagree": disagree, "challenger_version": challenger}
    path.write_text(json.dumps(figures))
    return str(path)


@pytest.fixture
def champion_and_better_candidate(client) -> tuple[str, str]:  # noqa: F811
    champion = _candidate(client, roc_auc=0.90)
    assert main(["promote"]) == 0
    return champion, _candidate(client, roc_auc=0.905)  # bundle version "b0.905"


def test_low_shadow_agreement_refuses_a_better_candidate_and_says_why(
    client,  # noqa: F811
    champion_and_better_candidate: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    champion, _ = champion_and_better_candidate
    shadow = shadow_file(tmp_path, 80, 20, "b0.905")
    assert main(["promote", "--min-shadow-agreement", "0.95", "--shadow", shadow]) == 3
    out = capsys.readouterr().out
    assert "REFUSED: shadow agreement 0.8000 < 0.95" in out and shadow in out
    assert _alias(client, "champion") == champion


def test_missing_or_foreign_shadow_evidence_refuses(
    client,  # noqa: F811
    champion_and_better_candidate: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    champion, _ = champion_and_better_candidate
    assert main(["promote", "--min-shadow-agreement", "0.5"]) == 3
    assert "needs --shadow" in capsys.readouterr().out
    other = shadow_file(tmp_path, 99, 1, "some-other-bundle")
    assert main(["promote", "--min-shadow-agreement", "0.5", "--shadow", other]) == 3
    assert "about another challenger" in capsys.readouterr().out
    assert _alias(client, "champion") == champion


def test_enough_agreement_promotes_and_names_the_evidence(
    client,  # noqa: F811
    champion_and_better_candidate: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    _, candidate = champion_and_better_candidate
    shadow = shadow_file(tmp_path, 97, 3, "b0.905")
    assert main(["promote", "--min-shadow-agreement", "0.95", "--shadow", shadow]) == 0
    out = capsys.readouterr().out
    assert out.startswith("promoted:") and "ok: shadow agreement 0.9700 >= 0.95" in out
    assert _alias(client, "champion") == candidate


def test_feedback_evidence_from_an_empty_store_refuses(
    client,  # noqa: F811
    champion_and_better_candidate: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    champion, _ = champion_and_better_candidate
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    assert main(["promote", "--min-feedback-accuracy", "0.8", "--feedback-db", db]) == 3
    assert "REFUSED: no feedback rows" in capsys.readouterr().out
    assert _alias(client, "champion") == champion
