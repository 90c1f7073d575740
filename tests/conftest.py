"""Fixtures for the whole suite. Telemetry of every tool is off for tests and the processes they start."""

from __future__ import annotations

import os
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

from support import ROOT, run_stages, sample_members, write_archive, write_params  # noqa: E402

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
