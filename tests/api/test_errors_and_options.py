"""One error shape everywhere, and the uvicorn options the service runs with."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from app.http_protocol import server_options
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


def test_uvicorn_runs_bounded_and_trusts_only_the_configured_proxy() -> None:
    settings = Settings(
        limit_concurrency=64, graceful_shutdown_seconds=7, forwarded_allow_ips="10.0.0.2"
    )
    options = server_options(settings)
    assert options["limit_concurrency"] == 64
    assert options["timeout_graceful_shutdown"] == 7
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.2"
    assert options["http"] == "app.http_protocol:JoinedWritesHttpToolsProtocol"
    assert Settings().forwarded_allow_ips == "127.0.0.1"
