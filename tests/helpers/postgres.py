"""A throw-away PostgreSQL cluster for the tests that need a real database (MLflow's backend,
the feedback store). Import the fixture by name where it is used."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.support import free_port

INITDB_OPTIONS = ("-U", "mlflow", "--auth=trust", "-E", "UTF8", "--no-sync")


def _postgres_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))  # Debian keeps them here
    return Path(versions[-1]).parent if versions else None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free loopback port; yields a SQLAlchemy URL."""
    binaries = _postgres_binaries()
    if binaries is None:
        message = "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # PostgreSQL refuses to run as root; pytest's tmp dirs are private to root, so use /tmp.
    folder = Path(tempfile.mkdtemp(prefix="imdb-pg-"))
    folder.chmod(0o755)
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        subprocess.run(
            [*as_owner, str(binaries / "initdb"), "-D", str(data), *INITDB_OPTIONS],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_owner,
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-o",
                f"-p {port} -h 127.0.0.1 -k {folder}",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="mlflow", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE mlflow")
        connection.close()
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            [*as_owner, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)
