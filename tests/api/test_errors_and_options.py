"""One error shape everywhere, and the uvicorn options the service runs with."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from imdb_sentiment.settings import Settings


def test_an_unexpected_error_in_a_route_is_a_json_500(small_bundle: Path) -> None:
    app = create_app(Settings(model=str(small_bundle)))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "internal error" in answer.json()["detail"]
        assert "a bug" not in answer.text  # no internals leak to the client
        assert client.post("/predict", json={"text": "a fine film"}).status_code == 200


def test_serve_runs_uvicorn_bounded_and_trusting_only_the_configured_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    from imdb_sentiment import cli, settings

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **options: calls.append(options))
    monkeypatch.setenv("IMDB_SENTIMENT_LIMIT_CONCURRENCY", "64")
    monkeypatch.setenv("IMDB_SENTIMENT_GRACEFUL_SHUTDOWN_SECONDS", "7")
    monkeypatch.setenv("IMDB_SENTIMENT_FORWARDED_ALLOW_IPS", "10.0.0.2")
    settings.get_settings.cache_clear()
    try:
        assert cli.main(["serve", "--port", "1"]) == 0
    finally:
        settings.get_settings.cache_clear()
    (options,) = calls
    assert options["limit_concurrency"] == 64
    assert options["timeout_graceful_shutdown"] == 7
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.2"
    assert options["http"] == "app.http_protocol:JoinedWritesHttpToolsProtocol"
    assert Settings.model_fields["forwarded_allow_ips"].default == "127.0.0.1"
