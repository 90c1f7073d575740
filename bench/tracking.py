"""What MLflow tracking costs a stage, and what loading from the registry costs the loader.

Runs the real `stages/train.py` in a pipeline folder built from the committed review sample:
tracking off (baseline), local SQLite store (new and existing), and a tracking server that is down.
Then loads a bundle from disk (baseline) and as models:/ URI (first download, then cached).

    .venv/bin/python bench/tracking.py      # prints and writes bench/results/tracking.json
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import chdir
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import (  # noqa: E402
    environment,
    free_port,
    run_stages,
    sample_members,
    write_archive,
    write_params,
)

RESULTS = ROOT / "bench" / "results" / "tracking.json"
REPEATS = 2
TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
}


def timed_stage(workdir: Path, **env: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py")],
        cwd=workdir,
        env={**os.environ, **TELEMETRY_OFF, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return elapsed


def median_stage(workdir: Path, **env: str) -> float:
    return round(statistics.median(timed_stage(workdir, **env) for _ in range(REPEATS)), 2)


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 3)


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    try:
        archive = write_archive(scratch / "sample.tar.gz", sample_members())
        workdir = scratch / "pipeline"
        workdir.mkdir()
        write_params(workdir)
        with environment(IMDB_SENTIMENT_TRACKING="false", **TELEMETRY_OFF):
            run_stages(workdir, archive)
        stage = {
            "tracking_off_s": median_stage(workdir, IMDB_SENTIMENT_TRACKING="false"),
            "local_sqlite_new_store_s": round(
                timed_stage(workdir, MLFLOW_TRACKING_URI=f"sqlite:///{scratch / 'new.db'}"), 2
            ),
            "local_sqlite_existing_store_s": median_stage(
                workdir, MLFLOW_TRACKING_URI=f"sqlite:///{scratch / 'new.db'}"
            ),
            "dead_server_s": median_stage(
                workdir, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}"
            ),
        }
        stage["dead_server_over_tracking_off"] = round(
            stage["dead_server_s"] / stage["tracking_off_s"], 2
        )
        stage["existing_store_over_tracking_off"] = round(
            stage["local_sqlite_existing_store_s"] / stage["tracking_off_s"], 2
        )

        full = ROOT / "models" / "imdb-sentiment"
        bundle = full if full.exists() else workdir / "models" / "imdb-sentiment"
        with (
            environment(
                MLFLOW_TRACKING_URI=f"sqlite:///{scratch / 'registry.db'}",
                IMDB_SENTIMENT_REGISTRY_CACHE=str(scratch / "cache"),
                IMDB_SENTIMENT_STRICT_TRACKING="1",
                **TELEMETRY_OFF,
            ),
            chdir(workdir),
        ):
            from imdb_sentiment import tracking
            from imdb_sentiment.bundle import load_bundle

            tracking.register_bundle(bundle)
            uri = "models:/imdb-sentiment@candidate"
            loading = {
                "bundle": str(bundle.relative_to(ROOT) if bundle == full else "sample bundle"),
                "bundle_bytes": sum(p.stat().st_size for p in bundle.iterdir()),
                "local_path_s": timed(lambda: load_bundle(bundle)),
                "registry_first_load_s": timed(lambda: load_bundle(uri)),
                "registry_cached_load_s": timed(lambda: load_bundle(uri)),
            }
            loading["cached_over_local"] = round(
                loading["registry_cached_load_s"] / loading["local_path_s"], 2
            )
        result = {
            "machine": f"{os.cpu_count()} cores, shared with other jobs; Python "
            f"{platform.python_version()}",
            "what": "wall time of `python stages/train.py` on the 480-review sample "
            f"(median of {REPEATS}, one run for the new store); load_bundle wall time",
            "train_stage": stage,
            "load_bundle": loading,
        }
        print(json.dumps(result, indent=2))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
