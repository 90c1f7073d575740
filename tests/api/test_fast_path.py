"""The service's front door: per-route body limits before parsing, one JSON error shape and the
nosniff header on every answer, and the /predict fast path that hands everything else on intact."""

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from app.errors import ServiceUnavailableError
from app.fast_path import ServiceFront
from app.metrics import ServiceMetrics
from app.schemas import request_models

PredictRequest, _ = request_models(max_text_chars=50, max_batch_size=4)
LIMITS = {"/predict": 1_000, "/predict/batch": 5_000}


class Recorder:
    """The app behind the fast path: records what reaches it, echoes the body with status 299."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def served() -> tuple[TestClient, Recorder, ServiceMetrics]:
    inner, metrics = Recorder(), ServiceMetrics()

    async def predict(text: str) -> dict[str, Any]:
        return {"label": "positive", "probability_positive": len(text) / 100, "echo": text}

    app = ServiceFront(
        inner,
        request_model=PredictRequest,
        predict=predict,
        ready=lambda: True,
        metrics=metrics,
        body_limits=LIMITS,
        default_body_limit=1_000,
    )
    return TestClient(app), inner, metrics


def test_a_plain_valid_request_is_answered_without_the_app(served) -> None:
    client, inner, metrics = served
    answer = client.post("/predict", json={"text": "caf\u00e9 \u2605"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert (
        answer.content
        == '{"label":"positive","probability_positive":0.06,"echo":"café ★"}'.encode()
    )
    assert inner.bodies == []
    count = metrics.registry.get_sample_value(
        "imdb_sentiment_http_requests_total",
        {"method": "POST", "route": "/predict", "status": "200"},
    )
    assert count == 1


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/predict", b'{"text": ""}', {}),  # invalid: the route explains why
        ("/predict", b'{"text": "ok", "extra": 1}', {}),
        ("/predict", b'{"text": "' + b"x" * 60 + b'"}', {}),  # over max_text_chars
        ("/predict", b"not json", {}),
        ("/predict", b'{"text": "ok"}', {"content-type": "text/plain"}),
        ("/predict?explain=true", b'{"text": "ok"}', {}),
        ("/predict/batch", b'{"texts": ["ok"]}', {}),
        ("/predict/batch", b'{"texts": ["' + b"y" * 4_000 + b'"]}', {}),  # its own limit
    ],
)
def test_everything_else_reaches_the_app_with_its_body_intact(
    served, path: str, body: bytes, headers: dict[str, str]
) -> None:
    client, inner, _ = served
    answer = client.post(
        path, content=body, headers={"content-type": "application/json", **headers}
    )
    assert answer.status_code == 299
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert inner.bodies == [body]


@pytest.mark.parametrize(
    ("path", "size"), [("/predict", 1_001), ("/predict/batch", 5_001), ("/other", 1_001)]
)
def test_a_body_over_its_routes_limit_is_a_413_before_the_app_reads_it(
    served, path: str, size: int
) -> None:
    client, inner, _ = served
    body = b"x" * size
    declared = client.post(path, content=body, headers={"content-type": "application/json"})
    streamed = client.post(path, content=iter([body[:500], body[500:]]))
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert f"larger than {size - 1} bytes" in answer.json()["detail"]
    assert streamed.headers["connection"] == "close"  # a chunked body's end is unknown
    assert inner.bodies == []
    # The largest allowed body still gets through.
    assert client.post(path, content=body[:-1]).status_code == 299


def test_an_unexpected_error_is_a_json_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def predict(text: str) -> dict[str, Any]:
        raise KeyError("also boom")

    app = ServiceFront(
        broken,
        request_model=PredictRequest,
        predict=predict,
        ready=lambda: True,
        metrics=ServiceMetrics(),
        body_limits=LIMITS,
        default_body_limit=1_000,
    )
    client = TestClient(app, raise_server_exceptions=False)
    for answer in (client.get("/health"), client.post("/predict", json={"text": "ok"})):
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "internal error" in answer.json()["detail"]


def test_a_busy_service_answers_the_fast_path_with_a_503_and_retry_after() -> None:
    async def predict(text: str) -> dict[str, Any]:
        raise ServiceUnavailableError("queue full", retry_after=3)

    app = ServiceFront(
        Recorder(),
        request_model=PredictRequest,
        predict=predict,
        ready=lambda: True,
        metrics=ServiceMetrics(),
        body_limits=LIMITS,
        default_body_limit=1_000,
    )
    answer = TestClient(app).post("/predict", json={"text": "ok"})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "3"
    assert answer.json() == {"detail": "queue full"}


def test_a_service_that_is_not_ready_leaves_requests_to_the_app() -> None:
    inner = Recorder()

    async def predict(text: str) -> dict[str, Any]:
        raise AssertionError("not loaded")

    app = ServiceFront(
        inner,
        request_model=PredictRequest,
        predict=predict,
        ready=lambda: False,
        metrics=ServiceMetrics(),
        body_limits=LIMITS,
        default_body_limit=1_000,
    )
    body = json.dumps({"text": "ok"}).encode()
    answer = TestClient(app).post(
        "/predict", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 299
    assert inner.bodies == [body]
