"""Every error the service sends has one shape: JSON ``{"detail": ...}``.

``detail`` is a sentence, or for a 422 the list of field errors (``loc``, ``msg``, ``type``).
That holds for 4xx, for 503 (with ``Retry-After``) and for 500, whether the answer comes from
a route, from the front middleware (:mod:`app.fast_path`) or from the HTTP protocol itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import Send

from app.jobs import dumps, validation_details

logger = logging.getLogger("uvicorn.error.imdb_sentiment")

NOSNIFF = (b"x-content-type-options", b"nosniff")
INTERNAL_ERROR = "internal error: the request could not be answered (the server log has details)"


class ServiceUnavailableError(Exception):
    """A 503: the service cannot take this request now; the client may retry after a while."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class OverloadedError(ServiceUnavailableError):
    """A queue is at its bound: refused at once rather than queued without limit."""


def error_body(detail: Any) -> bytes:
    return dumps({"detail": detail})


def error_headers(body: bytes, retry_after: int | None = None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
        NOSNIFF,
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    return headers


async def send_error(
    send: Send,
    status: int,
    detail: Any,
    retry_after: int | None = None,
    close: bool = False,
) -> None:
    """Answer with the service's error shape straight over ASGI (no framework in between)."""
    body = error_body(detail)
    headers = error_headers(body, retry_after)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def json_error(status: int, detail: Any, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, explain_bad_request)
    app.add_exception_handler(ServiceUnavailableError, _unavailable)
    # Starlette's last-resort handler: JSON instead of text/plain "Internal Server Error".
    app.add_exception_handler(Exception, _internal_error)


async def _unavailable(_: Request, error: ServiceUnavailableError) -> JSONResponse:
    return json_error(503, error.detail, error.retry_after)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return json_error(500, INTERNAL_ERROR)


def content_type_problem(content_type: str | None, body: bytes) -> tuple[int, str] | None:
    """The 400/415 FastAPI gives a JSON body route for an empty body or a non-JSON type."""
    if not body:
        return 400, 'the body is empty: send a JSON object such as {"text": "..."}'
    media = (content_type or "").split(";")[0].strip().lower()
    main, _, subtype = media.partition("/")
    if main == "application" and (subtype == "json" or subtype.endswith("+json")):
        return None
    return 415, (
        "send the body as JSON with Content-Type: application/json "
        f"(got {content_type or 'no Content-Type'})"
    )


async def explain_bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """Turn FastAPI's validation errors into the 4xx that says what is actually wrong."""
    problems = error.errors()
    for problem in problems:
        if problem.get("type") == "json_invalid":
            position = problem["loc"][-1]
            reason = problem.get("ctx", {}).get("error", "malformed")
            return json_error(400, f"the body is not valid JSON: {reason} at character {position}")
    if request.method == "POST" and any(problem["loc"][:1] == ("body",) for problem in problems):
        # FastAPI hands over the raw bytes when the Content-Type is not JSON.
        body = error.body if isinstance(error.body, bytes) else b""
        missing = any(p["loc"] == ("body",) and p["type"] == "missing" for p in problems)
        if body or missing:
            found = content_type_problem(request.headers.get("content-type"), body)
            if found is not None:
                return json_error(*found)
    return json_error(422, validation_details(problems))
