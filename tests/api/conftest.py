"""Real uvicorn servers for the API tests (helpers in tests/helpers/api_server.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.api_server import SMALL_LIMITS, running_server


@pytest.fixture(scope="session")
def api_server(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with default limits over the small bundle."""
    log = tmp_path_factory.mktemp("api") / "server.log"
    with running_server(small_bundle, log) as base:
        yield base


@pytest.fixture(scope="session")
def limited_server(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api-limited") / "server.log"
    with running_server(small_bundle, log, **SMALL_LIMITS) as base:
        yield base


@pytest.fixture(scope="session")
def full_api_server(full_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service over the real model, for tests that need real quality (the browser test)."""
    log = tmp_path_factory.mktemp("api-full") / "server.log"
    with running_server(full_bundle, log) as base:
        yield base
