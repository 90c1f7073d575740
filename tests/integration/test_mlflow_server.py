"""The team-server topology: a real `mlflow server` with artifacts proxied to S3 (moto_server).

The stages and `promote` run against the server with only MLFLOW_TRACKING_URI set, and a
separate client process with nothing but that variable (no AWS credentials, no S3 endpoint)
loads the champion through the one bundle loader.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pytest
from helpers.support import environment, mlflow_server, run_stages

from imdb_sentiment.cli import main
from imdb_sentiment.registry import load_bundle

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TEXTS = ["A wonderful, moving film with superb acting.", "Dull, predictable and far too long."]
CHAMPION = "models:/imdb-sentiment@champion"
# Superuser "mlflow", no password on loopback, no fsync: a throw-away test cluster.


def _copy_pipeline(sample_pipeline: Path, destination: Path) -> Path:
    # Without the local store: everything must now go to the server.
    shutil.copytree(
        sample_pipeline, destination, ignore=shutil.ignore_patterns("mlflow.db", "mlruns")
    )
    return destination


def _load_in_clean_client(tracking_uri: str, home: Path) -> list[float]:
    """Score TEXTS in a fresh process whose only configuration is MLFLOW_TRACKING_URI."""
    script = (
        "import json\n"
        "from imdb_sentiment.registry import load_bundle\n"
        f"model = load_bundle({CHAMPION!r})\n"
        f"print(json.dumps(model.predict_proba({TEXTS!r}).tolist()))\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # no ~/.aws, and the registry cache starts empty
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pipeline_registers_on_the_server_and_a_client_loads_the_champion(
    mlflow_tracking_server: str,
    moto_server: str,
    sample_pipeline: Path,
    sample_archive: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    workdir = _copy_pipeline(sample_pipeline, tmp_path / "pipeline")
    # Strict, so that any tracking failure fails the test instead of being a warning.
    with environment(
        MLFLOW_TRACKING_URI=mlflow_tracking_server, IMDB_SENTIMENT_STRICT_TRACKING="1"
    ):
        run_stages(workdir, sample_archive, stages=("train", "evaluate", "export"))
        registered = re.search(r"as version (\d+) @candidate", capsys.readouterr().out)
        assert registered, "the export stage did not register the bundle"
        assert main(["promote"]) == 0
        assert "becomes champion" in capsys.readouterr().out
        from imdb_sentiment.registry import mlflow_module

        client = mlflow_module().MlflowClient()
        champion = client.get_model_version_by_alias("imdb-sentiment", "champion")
        assert champion.version == registered[1]
        (run,) = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
        assert {run.data.tags[f"stage.{s}"] for s in ("train", "evaluate", "export")} == {"done"}

    # The artifacts went through the server into S3.
    keys = [
        item["Key"]
        for page in boto3.client("s3", endpoint_url=moto_server)
        .get_paginator("list_objects_v2")
        .paginate(Bucket="mlflow-artifacts", Prefix="mlflow/")
        for item in page.get("Contents", [])
    ]
    assert any(key.endswith("/manifest.json") for key in keys)
    assert any(key.endswith("/evaluate/plots/roc_val.csv") for key in keys)

    home = tmp_path / "home"
    home.mkdir()
    remote = _load_in_clean_client(mlflow_tracking_server, home)
    local = load_bundle(workdir / "models" / "imdb-sentiment").predict_proba(TEXTS)
    np.testing.assert_array_equal(np.asarray(remote), local)


def test_postgresql_backend_registers_promotes_and_serves(
    postgres_url: str,
    moto_server: str,
    s3_bucket: str,
    sample_pipeline: Path,
    sample_archive: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """The production topology of infra/: PostgreSQL backend store, S3 artifact store."""
    workdir = _copy_pipeline(sample_pipeline, tmp_path / "pipeline")
    with (
        mlflow_server(
            postgres_url,
            f"s3://{s3_bucket}/mlflow",
            tmp_path / "server.log",
            MLFLOW_S3_ENDPOINT_URL=moto_server,
        ) as url,
        environment(
            MLFLOW_TRACKING_URI=url,
            IMDB_SENTIMENT_STRICT_TRACKING="1",
            IMDB_SENTIMENT_REGISTRY_CACHE=str(tmp_path / "cache"),
        ),
    ):
        run_stages(workdir, sample_archive, stages=("export",))
        assert "as version 1 @candidate" in capsys.readouterr().out
        assert main(["promote"]) == 0
        model = load_bundle(CHAMPION)
    local = load_bundle(workdir / "models" / "imdb-sentiment")
    np.testing.assert_array_equal(model.predict_proba(TEXTS), local.predict_proba(TEXTS))

    import psycopg2

    dsn = postgres_url.replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(dsn) as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT version, alias FROM registered_model_aliases WHERE name = 'imdb-sentiment'"
        )
        rows = sorted(cursor.fetchall(), key=lambda row: row[1])
    assert rows == [(1, "candidate"), (1, "champion")]
