"""Real uvicorn servers for the API tests, started with the container's own start command.
Helpers, not fixtures: the fixtures that use them are in tests/api/conftest.py."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.support import ROOT, free_port, running_process

DOCKERFILE = ROOT / "Dockerfile"


def container_command() -> list[str]:
    """The Dockerfile's CMD (exec form), exactly as the image runs it."""
    match = re.search(r"^CMD\s+(\[.*\])\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "the Dockerfile needs an exec-form CMD"
    return json.loads(match.group(1))


def serve_command(port: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The container's command with the venv's executable, bound to loopback on ``port``."""
    command = container_command()
    command[0] = str(Path(sys.executable).with_name(command[0]))
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    return [*command, *extra]


@contextmanager
def running_server_process(
    bundle: Path | str,
    log: Path,
    extra: tuple[str, ...] = (),
    *,
    stop_timeout: float = 20,
    **env: str,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start ``imdb-sentiment serve`` on a free loopback port; yield it and its base URL once ready."""
    port = free_port()
    environment = {**os.environ, "IMDB_SENTIMENT_MODEL": str(bundle), **env}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # Feedback goes beside the log, never into the checkout's data/ folder.
    environment.setdefault("IMDB_SENTIMENT_FEEDBACK_DB", f"sqlite:///{log.parent / 'feedback.db'}")
    base = f"http://127.0.0.1:{port}"
    with running_process(
        serve_command(port, extra), log, f"{base}/ready", env=environment, stop_timeout=stop_timeout
    ) as process:
        yield process, base


@contextmanager
def running_server(
    bundle: Path | str, log: Path, extra: tuple[str, ...] = (), **env: str
) -> Iterator[str]:
    """Start ``imdb-sentiment serve`` on a free loopback port; yield its base URL once ready."""
    with running_server_process(bundle, log, extra, **env) as (_, base):
        yield base


# Small limits so limit tests and schemathesis reach the edges with small payloads.
SMALL_LIMITS = {"IMDB_SENTIMENT_MAX_TEXT_CHARS": "200", "IMDB_SENTIMENT_MAX_BATCH_SIZE": "4"}
