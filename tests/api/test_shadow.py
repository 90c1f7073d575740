"""Shadow scoring in a real server: the challenger sees /predict traffic, clients never see it."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from helpers.api_server import running_server_process

from imdb_sentiment.feedback.shadow_source import read_shadow

TEXTS = [
    "A wonderful film, I loved every minute of it.",
    "Dull, slow and far too long.",
    "The film was good.",
    "Not bad at all, though the ending drags.",
    "I expected more from this director.",
    "An absolute masterpiece of modern cinema.",
]
# Bounded polling (up to 30 s) for work the server finishes after answering; no timing is asserted.
POLLS = 600


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def shadow_counts(client: httpx.Client) -> dict[str, float]:
    body = client.get("/metrics").text
    return {
        "agree": metric(body, "imdb_sentiment_shadow_predictions_total", '{agreement="agree"}'),
        "disagree": metric(
            body, "imdb_sentiment_shadow_predictions_total", '{agreement="disagree"}'
        ),
        "skipped": metric(body, "imdb_sentiment_shadow_skipped_total"),
        "failures": metric(body, "imdb_sentiment_shadow_failures_total"),
        "differences": metric(body, "imdb_sentiment_shadow_probability_difference_count"),
    }


def wait_for(client: httpx.Client, done: object) -> dict[str, float]:
    for _ in range(POLLS):
        counts = shadow_counts(client)
        if done(counts):  # type: ignore[operator]
            return counts
        time.sleep(0.05)
    return shadow_counts(client)


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in map(int, (task / "children").read_text().split()):
            found += [child, *descendants(child)]
    return found


def shadow_process(server: int) -> int:
    """The one process niced one step below the server's (the heavy lane is set to 0 here)."""
    base = nice_of(server)
    (shadow,) = [pid for pid in descendants(server) if nice_of(pid) == min(base + 1, 19)]
    return shadow


def test_every_shadowed_request_is_counted_once_as_agree_or_disagree(
    small_bundle: Path, full_bundle: Path, tmp_path: Path
) -> None:
    env = {
        "IMDB_SENTIMENT_CHALLENGER_MODEL": str(full_bundle),
        "IMDB_SENTIMENT_FEEDBACK_DB": f"sqlite:///{tmp_path / 'feedback.db'}",
    }
    with (
        running_server_process(small_bundle, tmp_path / "server.log", **env) as (_, base),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        card = client.get("/model").json()
        assert card["challenger"]["version"] != card["version"]
        assert card["challenger"]["shadow_fraction"] == 1.0
        sent = 0
        for round_ in range(5):
            for text in TEXTS:
                answer = client.post("/predict", json={"text": f"{text} ({round_})"})
                assert answer.status_code == 200
                assert answer.json()["model_version"] == card["version"]
                sent += 1
        counts = wait_for(client, lambda c: c["agree"] + c["disagree"] + c["failures"] >= sent)
        # One client at a time never fills the queue, and the challenger is healthy.
        assert counts["skipped"] == counts["failures"] == 0
        assert counts["agree"] + counts["disagree"] == sent == counts["differences"]
        assert counts["disagree"] > 0  # the sample-trained champion and the full model differ
        # The report's and promote's live source reads the same counts and both versions.
        figures = read_shadow(f"{base}/metrics")
        assert (figures.agree, figures.disagree) == (counts["agree"], counts["disagree"])
        assert figures.champion_version == card["version"]
        assert figures.challenger_version == card["challenger"]["version"]
        sample = client.get("/shadow/disagreements").json()
        assert sample["challenger_version"] == card["challenger"]["version"]
        assert len(sample["disagreements"]) == counts["disagree"]
        for row in sample["disagreements"]:
            assert re.fullmatch(r"[0-9a-f]{64}", row["text_sha256"])
            assert row["champion_label"] != row["challenger_label"]


def test_a_stuck_challenger_never_fails_or_holds_a_prediction(
    small_bundle: Path, tmp_path: Path
) -> None:
    env = {
        "IMDB_SENTIMENT_CHALLENGER_MODEL": str(small_bundle),
        "IMDB_SENTIMENT_SHADOW_TIMEOUT_SECONDS": "1",
        "IMDB_SENTIMENT_SHADOW_NICE": "1",
        "IMDB_SENTIMENT_HEAVY_NICE": "0",
        "IMDB_SENTIMENT_FEEDBACK_DB": f"sqlite:///{tmp_path / 'feedback.db'}",
    }
    with (
        running_server_process(small_bundle, tmp_path / "server.log", **env) as (server, base),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        shadow = shadow_process(server.pid)
        os.kill(shadow, signal.SIGSTOP)  # the challenger hangs: it will miss its deadline
        try:
            for text in TEXTS * 3:
                answer = client.post("/predict", json={"text": text})
                assert answer.status_code == 200, answer.text
            counts = wait_for(client, lambda c: c["failures"] > 0)
            assert counts["failures"] > 0
            # The stuck process was replaced; predictions still answer, the shadow resumes.
            assert client.post("/predict", json={"text": TEXTS[0]}).status_code == 200
            assert client.get("/ready").status_code == 200
        finally:
            if Path(f"/proc/{shadow}").exists():
                os.kill(shadow, signal.SIGKILL)


def test_a_challenger_that_fails_to_load_leaves_the_champion_serving(
    small_bundle: Path, tmp_path: Path
) -> None:
    env = {
        "IMDB_SENTIMENT_CHALLENGER_MODEL": str(tmp_path / "no-such-bundle"),
        "IMDB_SENTIMENT_FEEDBACK_DB": f"sqlite:///{tmp_path / 'feedback.db'}",
    }
    with (
        running_server_process(small_bundle, tmp_path / "server.log", **env) as (_, base),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert client.post("/predict", json={"text": TEXTS[0]}).status_code == 200
        challenger = client.get("/model").json()["challenger"]
        assert challenger["status"] == "unavailable" and "no-such-bundle" in challenger["detail"]
        assert client.get("/shadow/disagreements").status_code == 404


@pytest.mark.parametrize("fraction", ["0"])
def test_a_zero_shadow_fraction_scores_nothing_in_the_shadow(
    small_bundle: Path, tmp_path: Path, fraction: str
) -> None:
    env = {
        "IMDB_SENTIMENT_CHALLENGER_MODEL": str(small_bundle),
        "IMDB_SENTIMENT_SHADOW_FRACTION": fraction,
        "IMDB_SENTIMENT_FEEDBACK_DB": f"sqlite:///{tmp_path / 'feedback.db'}",
    }
    with (
        running_server_process(small_bundle, tmp_path / "server.log", **env) as (_, base),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        for text in TEXTS:
            assert client.post("/predict", json={"text": text}).status_code == 200
        counts = shadow_counts(client)
        assert counts["agree"] + counts["disagree"] + counts["skipped"] == 0
