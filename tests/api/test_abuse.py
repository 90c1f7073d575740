"""The API keeps serving valid traffic under abuse and partial failure (the real server).

The same abusive clients as ``make bench-abuse`` (bench/abuse.py), with bounded loops and no
throughput ratios: status codes, memory bounds, and recovery within a generous deadline.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from helpers.api_server import running_server_process
from helpers.support import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from abuse import (
    Abusers,
    empty_objects,
    explain_batch,
    hostile_bodies,
    raw_post,
    rss_peak,
    time_to_recover,
)

pytestmark = pytest.mark.slow

MB = 2**20
REVIEWS = [
    "A wonderful film: the acting is superb and the story kept me gripped.",
    "Dull and far too long. The plot makes no sense and the acting is awful.",
    "Not bad at all, with a few great scenes and a moving score.",
]


def _scorers(pid: int) -> tuple[psutil.Process, psutil.Process]:
    """(single-review scoring process, heavy lane's), told apart by CPU niceness."""
    light, heavy = sorted(psutil.Process(pid).children(), key=lambda child: child.nice())
    return light, heavy


def _wait_for(condition, limit: float = 60) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def served(full_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A fresh server with the default settings over the real model: (pid, base URL, log)."""
    log = tmp_path_factory.mktemp("abuse") / "server.log"
    with running_server_process(full_bundle, log, stop_timeout=30) as (process, base):
        yield process.pid, base, log


def test_oversized_bodies_get_a_413_without_the_server_growing(served: tuple) -> None:
    pid, base, _ = served
    huge = empty_objects(9_000_000)  # 27 MB
    cases = [
        ("/predict/batch", huge, False),
        ("/predict/batch", huge, True),
        ("/predict", b'{"text": "' + b"x" * 1_000_000 + b'"}', False),
    ]
    for path, body, chunked in cases:
        with rss_peak(pid) as rss:
            status, _ = raw_post(_port(base), path, body, chunked=chunked)
        assert status == 413, (path, chunked)
        assert rss["peak"] - rss["before"] < 150 * MB, (path, chunked)


def test_valid_traffic_keeps_flowing_while_clients_abuse_the_api(
    served: tuple, full_reviews: Path
) -> None:
    pid, base, log = served
    import pyarrow.parquet as pq

    reviews = pq.read_table(full_reviews, columns=["text"]).column("text").to_pylist()[:500]
    statuses: list[int] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        with requests.Session() as session:
            for i in range(40):
                text = reviews[(offset * 40 + i) % len(reviews)]
                answer = session.post(f"{base}/predict", json={"text": text}, timeout=30)
                with lock:
                    statuses.append(answer.status_code)

    with (
        rss_peak(pid, every=0.05) as rss,
        Abusers(_port(base), hostile_bodies(reviews), count=3, max_each=4) as abusers,
        ThreadPoolExecutor(8) as pool,
    ):
        list(pool.map(client, range(8)))
    assert len(statuses) == 320
    assert sum(status != 200 for status in statuses) <= len(statuses) // 100
    assert rss["peak"] < 1536 * MB
    # The abusers were answered too: refused (413/422), served (200) or told to retry (503).
    assert sum(abusers.statuses.values()) > 0
    assert {key.rsplit(" ", 1)[1] for key in abusers.statuses} <= {"200", "413", "422", "503"}
    assert "exception was never retrieved" not in log.read_text()


def test_a_killed_scoring_process_is_replaced_within_the_deadline(served: tuple) -> None:
    pid, base, log = served
    assert time_to_recover(_port(base), pid, limit=60) is not None
    assert "exception was never retrieved" not in log.read_text()


# Small bounds, so a stopped scoring process fills them with a handful of requests.
BOUNDED = {
    "IMDB_SENTIMENT_SCORING_TIMEOUT_SECONDS": "2",
    "IMDB_SENTIMENT_READY_TIMEOUT_SECONDS": "1",
    "IMDB_SENTIMENT_QUEUE_LIMIT": "2",
    "IMDB_SENTIMENT_HEAVY_QUEUE_LIMIT": "0",
    "IMDB_SENTIMENT_HEAVY_TIMEOUT_SECONDS": "3",
}


@pytest.fixture(scope="module")
def bounded(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    log = tmp_path_factory.mktemp("bounded") / "server.log"
    with running_server_process(small_bundle, log, stop_timeout=30, **BOUNDED) as (process, base):
        yield process.pid, base, log


def _ready(base: str) -> bool:
    return requests.get(f"{base}/ready", timeout=10).status_code == 200


def test_a_hung_scorer_turns_ready_red_then_is_replaced(bounded: tuple) -> None:
    pid, base, log = bounded
    light, _ = _scorers(pid)
    os.kill(light.pid, signal.SIGSTOP)  # alive, but answering nothing
    try:
        ready = requests.get(f"{base}/ready", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["status"] == "unresponsive" and ready.json()["detail"]
        assert _wait_for(lambda: _ready(base))  # the stuck process was replaced
        assert not light.is_running() or light.status() == psutil.STATUS_ZOMBIE
        assert requests.post(f"{base}/predict", json={"text": REVIEWS[0]}, timeout=30).ok
        # A /predict that meets a hung scorer gets a 503 at the deadline, not a stall.
        light, _ = _scorers(pid)
        os.kill(light.pid, signal.SIGSTOP)
        answer = requests.post(f"{base}/predict", json={"text": REVIEWS[0]}, timeout=30)
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/json"
        assert "retry-after" in answer.headers and "not answering" in answer.json()["detail"]
        assert _wait_for(lambda: _ready(base))
    finally:
        if light.is_running():
            os.kill(light.pid, signal.SIGCONT)
    assert "missed its 1 s deadline" in log.read_text()


def test_a_full_queue_answers_503_with_retry_after_at_once(bounded: tuple) -> None:
    pid, base, _ = bounded
    light, _ = _scorers(pid)
    os.kill(light.pid, signal.SIGSTOP)

    def ask(i: int) -> requests.Response:
        time.sleep(0.1 * i)  # one request per event-loop turn: each meets the queue as it is
        return requests.post(f"{base}/predict", json={"text": f"{REVIEWS[i % 3]} {i}"}, timeout=30)

    try:
        # Two micro-batches go out to the stopped process, two reviews wait, the rest are refused.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
    finally:
        if light.is_running():
            os.kill(light.pid, signal.SIGCONT)
    refused = [a for a in answers if "waiting to be scored" in a.text]
    assert len(refused) >= 2, [a.text for a in answers]
    assert all(a.status_code == 503 and a.headers["retry-after"] == "1" for a in refused)
    assert _wait_for(lambda: _ready(base))
    assert requests.post(f"{base}/predict", json={"text": REVIEWS[1]}, timeout=30).ok


def test_heavy_requests_have_their_own_bounded_lane(bounded: tuple) -> None:
    pid, base, _ = bounded
    _, heavy = _scorers(pid)
    os.kill(heavy.pid, signal.SIGSTOP)  # the heavy lane is stuck...
    try:
        with ThreadPoolExecutor(2) as pool:
            stuck = pool.submit(
                requests.post, f"{base}/predict/batch", json={"texts": REVIEWS}, timeout=30
            )
            time.sleep(0.5)
            extra = requests.post(
                f"{base}/predict", params={"explain": "true"}, json={"text": "ok"}, timeout=30
            )
            # ...single reviews are still answered meanwhile, by their own scoring process.
            singles = [
                requests.post(f"{base}/predict", json={"text": text}, timeout=30)
                for text in REVIEWS
            ]
            assert stuck.result().status_code == 503  # at the heavy deadline; then replaced
    finally:
        if heavy.is_running():
            os.kill(heavy.pid, signal.SIGCONT)
    assert extra.status_code == 503 and extra.headers["retry-after"] == "1"
    assert "already in progress" in extra.json()["detail"]
    assert [answer.status_code for answer in singles] == [200, 200, 200]
    again = requests.post(f"{base}/predict/batch", json={"texts": REVIEWS}, timeout=30)
    assert again.status_code == 200 and len(again.json()["predictions"]) == 3


def test_an_explain_batch_answers_every_text_with_its_evidence(bounded: tuple) -> None:
    _, base, _ = bounded
    texts = json.loads(explain_batch(REVIEWS, size=4, chars=200))["texts"]
    answer = requests.post(
        f"{base}/predict/batch", params={"explain": "true"}, json={"texts": texts}, timeout=30
    )
    assert answer.status_code == 200
    assert all(item["explanation"] for item in answer.json()["predictions"])


def test_docs_and_metrics_can_be_closed(small_bundle: Path, tmp_path: Path) -> None:
    closed = {"IMDB_SENTIMENT_DOCS_ENABLED": "false", "IMDB_SENTIMENT_METRICS_ENABLED": "false"}
    with running_server_process(small_bundle, tmp_path / "server.log", **closed) as (_, base):
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
            answer = requests.get(f"{base}{path}", timeout=10)
            assert answer.status_code == 404, path
            assert answer.json() == {"detail": "Not Found"}
        assert requests.post(f"{base}/predict", json={"text": REVIEWS[0]}, timeout=10).ok


@pytest.mark.parametrize(
    ("trusted", "logged"), [("127.0.0.1", "203.0.113.7"), ("10.9.8.7", "127.0.0.1")]
)
def test_x_forwarded_for_counts_only_from_the_trusted_proxy(
    small_bundle: Path, tmp_path: Path, trusted: str, logged: str
) -> None:
    log = tmp_path / "server.log"
    env = {"IMDB_SENTIMENT_FORWARDED_ALLOW_IPS": trusted}
    with running_server_process(small_bundle, log, ("--access-log",), **env) as (_, base):
        headers = {"X-Forwarded-For": "203.0.113.7"}
        assert requests.get(f"{base}/health", headers=headers, timeout=10).ok
        assert _wait_for(lambda: "GET /health" in log.read_text(), limit=10)
    (line,) = [row for row in log.read_text().splitlines() if "GET /health" in row]
    assert f"{logged}:" in line


def test_past_the_connection_limit_uvicorn_answers_a_json_503(
    small_bundle: Path, tmp_path: Path
) -> None:
    import socket

    env = {"IMDB_SENTIMENT_LIMIT_CONCURRENCY": "3"}
    with running_server_process(small_bundle, tmp_path / "server.log", **env) as (_, base):
        idle = [socket.create_connection(("127.0.0.1", _port(base))) for _ in range(3)]
        try:
            time.sleep(0.5)  # the server has accepted them
            answer = requests.get(f"{base}/health", timeout=10)
        finally:
            for connection in idle:
                connection.close()
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["retry-after"] == "1"
        assert "connection limit" in answer.json()["detail"]
        assert _wait_for(lambda: requests.get(f"{base}/health", timeout=10).ok, limit=10)
