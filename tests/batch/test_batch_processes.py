"""The batch flow with real processes: a Dask cluster, a killed run, a Prefect server + worker."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from batch_support import read_outputs, reviews_frame
from helpers.support import ROOT, free_port, wait_for_http

pytestmark = pytest.mark.slow
COLUMNS = ["id", "predicted_label", "probability_positive", "model_version"]
BIN = Path(sys.executable).parent
FINAL_FILES = (
    "predictions.parquet",
    "predictions.rejects.parquet",
    "predictions.report.html",
    "predictions.report.json",
)


@pytest.fixture
def batch_env(monkeypatch: pytest.MonkeyPatch, small_bundle: Path) -> Path:
    monkeypatch.setenv("IMDB_SENTIMENT_MODEL", str(small_bundle))
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_WORKERS", "1")
    return small_bundle


@pytest.fixture
def source(sample_pipeline: Path, tmp_path: Path) -> Path:
    path = tmp_path / "reviews.parquet"
    frame = reviews_frame(sample_pipeline / "data" / "split" / "test.parquet")
    frame.to_parquet(path, row_group_size=12)  # chunks of one row group, spread over the cluster
    return path


def test_dask_cluster_gives_the_same_output_as_the_local_run(
    prefect_harness: str,
    batch_env: Path,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from distributed import Client, LocalCluster

    from imdb_sentiment.batch.flow import batch_predict

    batch_predict(input=str(source), output=str(tmp_path / "local"), chunk_rows=12)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        monkeypatch.setenv("IMDB_SENTIMENT_BATCH_DASK_ADDRESS", cluster.scheduler_address)
        batch_predict(input=str(source), output=str(tmp_path / "dask"), chunk_rows=12)
        loaded = client.run(
            lambda: sorted(__import__("imdb_sentiment.batch.flow").batch.flow._models)
        )
    local, dask = read_outputs(tmp_path / "local"), read_outputs(tmp_path / "dask")
    assert dask["report"]["run"]["task_runner"] == "DaskTaskRunner"
    assert local["report"]["run"]["task_runner"] == "ThreadPoolTaskRunner"
    # The chunks were scored on the cluster's workers, each of which loaded the bundle itself.
    assert [(str(batch_env), 1)] in loaded.values(), loaded
    pd.testing.assert_frame_equal(local["predictions"][COLUMNS], dask["predictions"][COLUMNS])
    pd.testing.assert_frame_equal(local["rejects"], dask["rejects"])
    for section in ("counts", "profile", "drift", "label_metrics"):
        assert local["report"][section] == dask["report"][section]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_killed_run_leaves_no_partial_output_and_reruns_cleanly(
    prefect_harness: str, batch_env: Path, sample_pipeline: Path, tmp_path: Path
) -> None:
    from imdb_sentiment.batch.flow import batch_predict

    rows = 4000
    source = tmp_path / "big.parquet"
    # Row groups of 40 rows: 100 chunks, so the run is still writing parts when it is killed.
    frame = reviews_frame(sample_pipeline / "data" / "split" / "test.parquet", rows=rows)
    frame.to_parquet(source, row_group_size=40)
    digest = _sha256(source)
    output = tmp_path / "out"
    output.mkdir()
    staging = output / ".predictions.staging"
    env = os.environ | {"PREFECT_API_URL": prefect_harness}
    command = [str(BIN / "imdb-sentiment"), "batch", "--input", str(source)]
    command += ["--output", str(output), "--chunk-rows", "40"]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(list(staging.glob("*/predictions/part-*"))) < 3:
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not [name for name in FINAL_FILES if (output / name).exists()]
    assert _sha256(source) == digest  # the input is untouched

    batch_predict(input=str(source), output=str(output), chunk_rows=400)
    assert sorted(path.name for path in output.iterdir()) == sorted(FINAL_FILES)
    result = read_outputs(output)
    assert len(result["predictions"]) == rows
    assert result["predictions"]["id"].tolist() == [f"r{i}" for i in range(rows)]


def _prefect(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_deployment_runs_on_a_real_server_and_process_worker(
    batch_env: Path, source: Path, tmp_path: Path
) -> None:
    import httpx

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = os.environ | {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PWD": str(ROOT),
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_http(f"{api}/health", timeout=180, process=server)
        _prefect(["work-pool", "create", "imdb-batch", "--type", "process"], env)
        _prefect(["deploy", "--all"], env)
        deployment = httpx.get(f"{api}/deployments/name/imdb-sentiment-batch/nightly").json()
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 3 * * *"]
        assert deployment["parameters"]["input"] == "data/split/test.parquet"

        output = tmp_path / "scheduled" / "predictions.parquet"
        _prefect(
            [
                "deployment",
                "run",
                "imdb-sentiment-batch/nightly",
                "--param",
                f"input={source}",
                "--param",
                f"output={output}",
            ],
            env,
        )
        _prefect(["worker", "start", "--pool", "imdb-batch", "--run-once"], env, timeout=600)
        runs = httpx.post(
            f"{api}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [deployment["id"]]}}, "limit": 10},
        ).json()
        finished = [run for run in runs if run["state"]["type"] == "COMPLETED"]
        assert len(finished) == 1, [(run["name"], run["state"]) for run in runs]
        assert "scored 240 of 240 rows" in finished[0]["state"]["message"]
        report = json.loads(output.with_name("predictions.report.json").read_text())
        assert report["counts"]["scored"] == 240
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
