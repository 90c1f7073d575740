"""Fixtures for the whole suite. Telemetry of every tool is off for tests and the processes they start."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

for _key, _value in {
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
}.items():
    os.environ.setdefault(_key, _value)

# Fixtures several folders use: a throw-away PostgreSQL (`postgres_url`), a headless Chromium
# (`browser`).
pytest_plugins = ["helpers.postgres", "helpers.browser"]

from helpers.support import (  # noqa: E402
    ROOT,
    environment,
    free_port,
    mlflow_server,
    run_stages,
    running_process,
    sample_members,
    write_archive,
    write_params,
)

FULL_BUNDLE = ROOT / "models" / "imdb-sentiment"
FULL_REVIEWS = ROOT / "data" / "raw" / "reviews.parquet"


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample of real reviews as an archive in the official layout."""
    return write_archive(
        tmp_path_factory.mktemp("archive") / "aclImdb_sample.tar.gz", sample_members()
    )


@pytest.fixture(scope="session")
def sample_pipeline(tmp_path_factory: pytest.TempPathFactory, sample_archive: Path) -> Path:
    """A folder where every stage has run on the sample: data/, metrics/ and models/ inside."""
    workdir = tmp_path_factory.mktemp("pipeline")
    write_params(workdir)
    run_stages(workdir, sample_archive)
    return workdir


@pytest.fixture(scope="session")
def small_bundle(sample_pipeline: Path) -> Path:
    """A bundle trained on the sample: real format and code, toy quality."""
    return sample_pipeline / "models" / "imdb-sentiment"


def _require(path: Path) -> Path:
    if not path.exists():
        message = f"{path.relative_to(ROOT)} is missing: run `make pipeline` first"
        if os.environ.get("REQUIRE_FULL_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def full_bundle() -> Path:
    """The bundle `make pipeline` exported from the full data (CI requires it)."""
    return _require(FULL_BUNDLE)


@pytest.fixture(scope="session")
def full_reviews() -> Path:
    return _require(FULL_REVIEWS)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real moto_server process speaking S3 over loopback; yields its endpoint URL.

    AWS credentials and the endpoint are exported so boto3, s3fs, DVC and MLflow all find it
    the way they would find real S3 settings.
    """
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    moto = str(Path(sys.executable).with_name("moto_server"))
    command = [moto, "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    with (
        running_process(command, log, endpoint, timeout=30, stop_timeout=10),
        environment(**_AWS_ENV, AWS_ENDPOINT_URL=endpoint),
    ):
        yield endpoint


_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def s3_bucket(moto_server: str) -> str:
    """A fresh, empty bucket on the moto server; returns its name."""
    import uuid

    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def mlflow_tracking_server(
    tmp_path_factory: pytest.TempPathFactory, moto_server: str
) -> Iterator[str]:
    """A real `mlflow server` (SQLite backend, artifacts proxied to S3 on moto); yields its URL.

    Clients only need MLFLOW_TRACKING_URI=<url>: the server holds the S3 endpoint and credentials.
    """
    import boto3

    bucket = "mlflow-artifacts"
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=bucket)
    folder = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(
        f"sqlite:///{folder / 'mlflow.db'}",
        f"s3://{bucket}/mlflow",
        folder / "server.log",
        MLFLOW_S3_ENDPOINT_URL=moto_server,
    ) as url:
        yield url


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """One temporary Prefect API for the whole run (only for tests that ask for it); yields its URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())
