"""Feedback stores on real databases: a SQLite file in a temp folder, and a PostgreSQL cluster
started for the test (the MLflow backend test's fixture, so the suite starts PostgreSQL one way)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLAlchemy URL of an empty database that the store may create its table in."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'feedback' / 'feedback.db'}"
    return request.getfixturevalue("postgres_url")
