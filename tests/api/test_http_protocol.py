"""Responses go out in one write per event-loop turn, and the HTTP exchange is unchanged:
pipelined requests, keep-alive and ``Connection: close`` on the real server (the locked uvicorn).
An unexpected uvicorn gets the stock protocol instead, with a warning."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app import http_protocol
from app.http_protocol import _JoinedWrites
from imdb_sentiment.bundle import load_bundle


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write_eof(self) -> None:
        self.eof = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_of_one_turn_are_sent_together_and_close_flushes_first() -> None:
    async def scenario() -> RecordingTransport:
        transport = RecordingTransport()
        joined = _JoinedWrites(transport, asyncio.get_running_loop())
        joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
        joined.write(b"body")
        assert transport.writes == []  # nothing sent within the turn
        await asyncio.sleep(0)
        assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        joined.write(b"last")
        joined.close()
        assert transport.writes[-1] == b"last" and transport.closed
        assert joined.get_extra_info("peername") == "info:peername"
        await asyncio.sleep(0)  # the scheduled flush finds nothing left and writes nothing
        return transport

    assert len(asyncio.run(scenario()).writes) == 2


def test_writelines_and_write_eof_keep_the_order_on_the_wire() -> None:
    async def scenario() -> RecordingTransport:
        transport = RecordingTransport()
        joined = _JoinedWrites(transport, asyncio.get_running_loop())
        joined.write(b"head ")
        joined.writelines([b"body ", b"tail"])
        assert transport.writes == []
        joined.write_eof()  # everything written before the EOF goes out before it
        assert transport.writes == [b"head body tail"] and transport.eof
        joined.write(b"x")
        assert joined.get_write_buffer_size() == 0 and transport.writes[-1] == b"x"
        return transport

    asyncio.run(scenario())


def test_the_locked_uvicorn_gets_the_joined_writes_protocol() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    joined = http_protocol.JoinedWritesHttpToolsProtocol
    assert issubclass(joined, HttpToolsProtocol) and joined is not HttpToolsProtocol


def test_an_untested_uvicorn_falls_back_to_the_stock_protocol_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "__version__", "0.99.0")
    with caplog.at_level("WARNING"):
        assert http_protocol._build() is None
    assert "is not a release the joined-writes protocol was tested with" in caplog.text
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert (http_protocol._build() or http_protocol._stock()) is HttpToolsProtocol


def test_the_version_bound_in_pyproject_matches_the_tested_range() -> None:
    from helpers.support import ROOT

    low, high = http_protocol.TESTED_UVICORN
    bound = f'"uvicorn[standard]>={low[0]}.{low[1]},<{high[0]}.{high[1]}"'
    assert bound in (ROOT / "pyproject.toml").read_text()


def _exchange(base: str, payload: bytes, responses: int) -> list[tuple[str, dict, bytes]]:
    """Send raw bytes, read ``responses`` HTTP responses (Content-Length framed)."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(payload)
        buffer, answers = b"", []
        while len(answers) < responses:
            while b"\r\n\r\n" not in buffer:
                chunk = connection.recv(65536)
                assert chunk, f"connection closed after {len(answers)} responses"
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            status, *lines = head.decode().split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines)
            size = int(headers["content-length"])
            while len(buffer) < size:
                chunk = connection.recv(65536)
                assert chunk, "connection closed inside a body"
                buffer += chunk
            answers.append((status, headers, buffer[:size]))
            buffer = buffer[size:]
        if answers and answers[-1][1].get("connection") == "close":
            assert connection.recv(1) == b""  # closed after the whole response
    return answers


def _post(text: str, close: bool = False) -> bytes:
    body = json.dumps({"text": text}).encode()
    head = (
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode() + body


def test_pipelined_requests_are_answered_in_order_then_the_connection_closes(
    api_server: str, small_bundle: Path
) -> None:
    texts = ["A wonderful, moving film.", "Dull and far too long.", "Great acting!"]
    expected = load_bundle(small_bundle).predict_proba(texts)
    payload = b"".join(_post(text, close=i == len(texts) - 1) for i, text in enumerate(texts))
    payload = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n" + payload
    answers = _exchange(api_server, payload, 1 + len(texts))
    assert [status for status, _, _ in answers] == ["HTTP/1.1 200 OK"] * 4
    assert json.loads(answers[0][2]) == {"status": "ok"}
    answered = [json.loads(body)["probability_positive"] for _, _, body in answers[1:]]
    assert answered == pytest.approx(expected.tolist(), abs=1e-6)
    assert answers[-1][1]["connection"] == "close"


def test_a_malformed_request_gets_a_json_400(api_server: str) -> None:
    url = urlsplit(api_server)
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head
    assert json.loads(body)["detail"]
