"""Start-up: a broken bundle stops the service with a clear message; it never serves it."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
from helpers.api_server import running_server, running_server_process, serve_command
from helpers.support import free_port

from imdb_sentiment.bundle import load_bundle

pytestmark = pytest.mark.slow


def _start_and_expect_failure(bundle: Path, *extra: str) -> tuple[int, str]:
    port = free_port()
    env = {**os.environ, "IMDB_SENTIMENT_MODEL": str(bundle)}
    process = subprocess.Popen(
        serve_command(port, extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready_seen = False
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            ready_seen |= requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).ok
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
        pytest.fail("the service kept running with a broken bundle")
    assert not ready_seen, "/ready said yes to a broken bundle"
    return process.returncode, process.stdout.read()


@pytest.fixture
def tampered_bundle(small_bundle: Path, tmp_path: Path) -> Path:
    bundle = shutil.copytree(small_bundle, tmp_path / "imdb-sentiment")
    coef = bundle / "classifier.coef.npy"
    data = bytearray(coef.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in one coefficient
    coef.write_bytes(bytes(data))
    return bundle


@pytest.mark.parametrize(
    ("workers", "status", "prefix"),
    [
        ("1", 3, "ERROR:    cannot start: the model bundle is unusable: "),  # from the app
        ("2", 1, "error: "),  # from the command, before any worker starts
    ],
)
def test_a_tampered_bundle_stops_start_up(
    tampered_bundle: Path, workers: str, status: int, prefix: str
) -> None:
    returncode, output = _start_and_expect_failure(tampered_bundle, "--workers", workers)
    assert returncode == status
    message = f"{tampered_bundle}/classifier.coef.npy does not match the sha256 in its manifest"
    assert f"{prefix}{message}" in output


def test_a_missing_bundle_stops_start_up(tmp_path: Path) -> None:
    status, output = _start_and_expect_failure(tmp_path / "nowhere")
    assert status != 0
    assert "no model bundle at" in output and "manifest.json is missing" in output


def test_two_workers_serve_and_report_metrics_together(small_bundle: Path, tmp_path: Path) -> None:
    with running_server(small_bundle, tmp_path / "server.log", ("--workers", "2")) as base:
        with requests.Session() as session:
            for _ in range(40):
                answer = session.post(f"{base}/predict", json={"text": "a fine film"}, timeout=10)
                assert answer.status_code == 200
        metrics = requests.get(f"{base}/metrics", timeout=10).text
    # Both workers' counts appear in one exposition, whichever worker answered the scrape.
    line = 'imdb_sentiment_http_requests_total{method="POST",route="/predict",status="200"}'
    counts = [row.split()[-1] for row in metrics.splitlines() if row.startswith(line)]
    assert counts == ["40.0"]


def test_the_service_never_imports_training_code(small_bundle: Path) -> None:
    probe = (
        "import sys, json\n"
        "from fastapi.testclient import TestClient\n"
        "from app.main import app\n"
        "with TestClient(app) as client:\n"
        "    assert client.post('/predict', json={'text': 'good'}).status_code == 200\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('imdb_sentiment'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "IMDB_SENTIMENT_MODEL": str(small_bundle)},
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert "imdb_sentiment.bundle" in modules
    assert not [name for name in modules if name.startswith("imdb_sentiment.training")]


def _scorers(server: psutil.Process) -> tuple[psutil.Process, psutil.Process]:
    """(the single-review scoring process, the heavy lane's), told apart by CPU niceness."""
    children = server.children()
    assert len(children) == 2, children
    light, heavy = sorted(children, key=lambda child: child.nice())
    assert heavy.nice() > light.nice()
    return light, heavy


def test_a_killed_scoring_process_is_replaced_and_none_outlives_the_server(
    small_bundle: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with running_server_process(small_bundle, log, stop_timeout=30) as (process, base):
        server = psutil.Process(process.pid)
        scorer, heavy = _scorers(server)
        expected = requests.post(f"{base}/predict", json={"text": "a fine film"}, timeout=10).json()
        scorer.kill()  # the server reaps it when it notices
        again = requests.post(f"{base}/predict", json={"text": "a fine film"}, timeout=10)
        assert again.status_code == 200
        assert again.json() == expected
        replacement, same_heavy = _scorers(server)
        assert replacement.pid != scorer.pid and same_heavy.pid == heavy.pid
        heavy.kill()
        batch = requests.post(f"{base}/predict/batch", json={"texts": ["a fine film"]}, timeout=10)
        assert batch.status_code == 200
        assert batch.json()["predictions"] == [expected]
        new_heavy = _scorers(server)[1]
    assert not replacement.is_running(), "the scoring process outlived the server"
    assert not new_heavy.is_running(), "the heavy scoring process outlived the server"
    text = log.read_text()
    assert "the scoring process died; starting a new one" in text
    assert "exception was never retrieved" not in text


def test_scoring_on_the_event_loop_when_asked(small_bundle: Path, tmp_path: Path) -> None:
    with running_server_process(
        small_bundle,
        tmp_path / "server.log",
        stop_timeout=30,
        IMDB_SENTIMENT_API_SCORING_PROCESSES="0",
    ) as (process, base):
        assert psutil.Process(process.pid).children() == []
        answer = requests.post(f"{base}/predict", json={"text": "a fine film"}, timeout=10)
        assert answer.status_code == 200
        expected = load_bundle(small_bundle).predict_proba(["a fine film"])[0]
        assert answer.json()["probability_positive"] == pytest.approx(expected, abs=1e-12)
