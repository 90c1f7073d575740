"""uvicorn's httptools protocol, sending each response in one ``send()`` instead of two.

uvicorn writes a response's head and its body with separate ``transport.write`` calls, and the
event loop's transport sends each at once: two system calls and two TCP segments per response,
and the client wakes twice. Under load on loopback the head's write alone was ~22 % of the
event loop's time (py-spy). Here writes made during one turn of the event loop are joined and
sent at the end of that turn; nothing else about the connection changes.

It subclasses uvicorn's private ``HttpToolsProtocol``, so pyproject.toml bounds uvicorn's version
to the releases it was tested with, and ``JoinedWritesHttpToolsProtocol`` is the stock protocol
(with a warning) when the installed uvicorn is outside that range or the class is not what it
expects.
The errors uvicorn writes itself (a malformed request, too many connections) become the
service's JSON error shape here as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from app.errors import error_body, error_headers, send_error

logger = logging.getLogger("uvicorn.error.imdb_sentiment")

# The uvicorn releases this subclass was tested against (keep in step with pyproject.toml).
TESTED_UVICORN = ((0, 30), (0, 55))


class _JoinedWrites:
    """A transport that joins the writes of one event-loop turn. Everything else passes through.

    Every call that could overtake or depend on the pending bytes (``write_eof``, ``close``,
    the write buffer size) flushes them first, so the order on the wire never changes.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def writelines(self, list_of_data: Iterable[bytes]) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        self._flush()
        return self._transport.get_write_buffer_size()

    def close(self) -> None:
        self._flush()  # a response written just before close still goes out first
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _json_response(status: int, detail: str) -> bytes:
    body = error_body(detail)
    reason = {400: b"Bad Request", 503: b"Service Unavailable"}[status]
    head = [b"HTTP/1.1 %d %s" % (status, reason)]
    head += [name + b": " + value for name, value in error_headers(body)]
    head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def _service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """What uvicorn answers above ``limit_concurrency``, in the service's error shape."""
    detail = "the server is at its connection limit; retry shortly"
    await send_error(send, 503, detail, retry_after=1, close=True)


def _build() -> type | None:
    """The subclass, or None when the installed uvicorn is not the one it was written for."""
    try:
        import uvicorn
        from uvicorn.protocols.http import httptools_impl
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError as error:
        logger.warning("uvicorn's httptools protocol is unavailable (%s): stock protocol", error)
        return None
    version = tuple(int(part) for part in uvicorn.__version__.split(".")[:2])
    low, high = TESTED_UVICORN
    expected = ("connection_made", "send_400_response", "on_headers_complete")
    if not (low <= version < high) or not all(hasattr(HttpToolsProtocol, n) for n in expected):
        logger.warning(
            "uvicorn %s is not a release the joined-writes protocol was tested with "
            "(>=%d.%d,<%d.%d): serving with the stock httptools protocol",
            uvicorn.__version__,
            *low,
            *high,
        )
        return None
    if hasattr(httptools_impl, "service_unavailable"):
        httptools_impl.service_unavailable = _service_unavailable

    class JoinedWritesHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(_JoinedWrites(transport, asyncio.get_running_loop()))

        def send_400_response(self, msg: str) -> None:
            self.transport.write(_json_response(400, msg))
            self.transport.close()

    return JoinedWritesHttpToolsProtocol


def _stock() -> type:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: uvicorn's pure-Python protocol
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


# What `imdb-sentiment serve` passes to uvicorn as "app.http_protocol:JoinedWritesHttpToolsProtocol"
# (a string, which each worker imports): the subclass, or the stock protocol when it cannot be.
JoinedWritesHttpToolsProtocol: type = _build() or _stock()
