"""The /predict fast path answers plain valid requests itself and hands everything else on intact."""

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from app.fast_path import PredictFastPath
from app.metrics import ServiceMetrics
from app.schemas import request_models

PredictRequest, _ = request_models(max_text_chars=50, max_batch_size=4)


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

    app = PredictFastPath(
        inner,
        request_model=PredictRequest,
        predict=predict,
        ready=lambda: True,
        metrics=metrics,
        max_bytes=1_000,
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
        ("/predict", b'{"text": "' + b"y" * 1_200 + b'"}', {}),  # over max_bytes
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
    assert inner.bodies == [body]


def test_a_service_that_is_not_ready_leaves_requests_to_the_app() -> None:
    inner = Recorder()

    async def predict(text: str) -> dict[str, Any]:
        raise AssertionError("not loaded")

    app = PredictFastPath(
        inner,
        request_model=PredictRequest,
        predict=predict,
        ready=lambda: False,
        metrics=ServiceMetrics(),
        max_bytes=1_000,
    )
    body = json.dumps({"text": "ok"}).encode()
    answer = TestClient(app).post(
        "/predict", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 299
    assert inner.bodies == [body]
