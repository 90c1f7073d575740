"""Benchmark the pipeline from scratch: wall time and peak memory per stage, then a no-op repro.

Runs in a fresh clone of HEAD (no DVC cache), so it measures what `make pipeline` costs on a new
machine, and checks that the run reproduces the committed dvc.lock. Prints and saves JSON.
Usage: IMDB_ARCHIVE=... python bench/pipeline.py [--output bench/results/pipeline.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "split", "featurize", "train", "evaluate", "export")


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command run to completion."""
    start = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, _, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if process.returncode not in (None, 0) or usage is None:
        raise RuntimeError(f"{args} failed: {process.stderr.read() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    args = parser.parse_args()
    if not os.environ.get("IMDB_ARCHIVE"):
        sys.exit("set IMDB_ARCHIVE to the IMDB archive (the benchmark must not download it)")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        stages = {}
        for stage in STAGES:
            # --force: metrics committed to git would otherwise let evaluate skip.
            seconds, peak = run(["dvc", "repro", "--force", "--single-item", stage], clone, env)
            stages[stage] = {"seconds": round(seconds, 1), "peak_rss_mib": round(peak)}
            print(f"{stage:10s} {seconds:7.1f} s  peak {peak:6.0f} MiB", flush=True)
        noop_seconds, _ = run(["dvc", "repro"], clone, env)
        lock_reproduced = (
            subprocess.run(["git", "diff", "--quiet", "dvc.lock"], cwd=clone).returncode == 0
        )
    total = sum(stage["seconds"] for stage in stages.values())
    results = {
        "benchmark": "dvc repro from scratch, one stage at a time, in a fresh clone",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "stages": stages,
        "total_seconds": round(total, 1),
        "peak_rss_mib": max(stage["peak_rss_mib"] for stage in stages.values()),
        "noop_repro_seconds": round(noop_seconds, 1),
        "noop_share_of_full_run": round(noop_seconds / total, 4),
        "dvc_lock_reproduced": lock_reproduced,
    }
    print(json.dumps(results, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
