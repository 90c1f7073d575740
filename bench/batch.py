"""Benchmark the batch flow end to end against in-process scoring measured in the same run.

For each size in --rows it writes an input of that many reviews (the real test split, repeated)
and runs `imdb_sentiment.batch.flow.batch_predict` in a fresh process, as `imdb-sentiment batch`
does, reading and writing local disk and, with --targets s3, a moto_server on loopback. Beside it,
the bare scoring rate, measured again just before and just after each run: the loaded bundle's
predict_proba on texts already in memory, in one process and on all cores through the bundle's own
scoring processes, the ones the flow scores on (no I/O, no Prefect); the ratio uses the mean of the
two all-cores rates. Peak RSS comes from getrusage; the CPU seconds of the flow process, of the
scoring processes and of Prefect's temporary API server while the flow runs, from /proc.

A run of a few seconds says little on a machine whose speed drifts by a third within minutes, so
inputs of at most --repeat-below rows run --repeats times, each run between two baseline
measurements (B F B F B F B); the figures reported are the median run's, and every run is kept
in the JSON.

    python bench/batch.py --rows 25000 1000000 --targets local s3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEST_SPLIT = ROOT / "data" / "split" / "test.parquet"
WORK = ROOT / "bench" / "batch.tmp"
RESULTS = ROOT / "bench" / "results" / "batch.json"
# Row groups of the generated inputs (~8 MB each), independent of the flow's chunk size.
INPUT_ROW_GROUP_ROWS = 10_000
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def write_input(rows: int, path: Path, row_group: int) -> Path:
    """``rows`` reviews from the test split, repeated, streamed out one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    source = pq.read_table(TEST_SPLIT, columns=["review_id", "text", "label"])
    schema = pa.schema([("id", pa.string()), ("review", pa.string()), ("label", pa.int8())])
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, row_group):
            count = min(row_group, rows - start)
            positions = [(start + i) % source.num_rows for i in range(count)]
            part = source.take(positions)
            writer.write_table(
                pa.table(
                    {
                        "id": [f"r{start + i}" for i in range(count)],
                        "review": part["text"],
                        "label": part["label"],
                    },
                    schema=schema,
                ),
                row_group_size=row_group,
            )
    return path


def _score(model: Any, texts: list[str]) -> float:
    started = time.perf_counter()
    model.predict_proba(texts)
    return time.perf_counter() - started


def in_process_rates(model: str, sample: int) -> dict[str, float]:
    """Reviews/s of the bundle's predict_proba alone, on texts already in memory (no I/O, no
    Prefect): in this process, and on all cores through the bundle's scoring processes, as the
    flow scores (with the CPU seconds those processes spent)."""
    import pyarrow.parquet as pq

    from imdb_sentiment.bundle import load_bundle

    texts = pq.read_table(TEST_SPLIT, columns=["text"])["text"].to_pylist()[:sample]
    single = load_bundle(model)
    _score(single, texts[:200])  # warm up
    one = len(texts) / _score(single, texts)
    others = set(_children_cpu_seconds())  # moto_server, when there is one
    parallel = load_bundle(model, scoring_workers=os.cpu_count() or 1)
    try:
        _score(parallel, texts[:5_000])  # forks the scoring processes, warms them up
        before = _children_cpu_seconds()
        all_cores = len(texts) / _score(parallel, texts)
        after = _children_cpu_seconds()
    finally:
        parallel.close()
    cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after if pid not in others)
    return {
        "one_process": round(one, 1),
        "all_cores": round(all_cores, 1),
        "all_cores_cpu_seconds": round(cpu, 2),
        "texts": len(texts),
    }


def _children_cpu_seconds() -> dict[int, float]:
    """CPU seconds so far of each child process of this one (Linux /proc)."""
    me, found = os.getpid(), {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    found[int(entry.name)] = _cpu_seconds(int(entry.name))
            except (OSError, ValueError):  # gone in the meantime
                continue
    return found


def run_flow_child(args: argparse.Namespace) -> None:
    """In the child process: run the flow once, print timings, CPU and peak memory as JSON."""
    from imdb_sentiment.batch.flow import batch_predict

    # CPU while the flow runs, read when it starts running and after it returns: of this process
    # (the flow's threads and Prefect's), of the children already there (Prefect's temporary API
    # server) and of those forked during the run (the scoring processes).
    at_start: dict[str, Any] = {}

    def flow_running(*_: Any) -> None:
        at_start.update(process=time.process_time(), children=_children_cpu_seconds())

    started = time.perf_counter()
    summary = batch_predict.with_options(on_running=[flow_running])(
        input=args.input, output=args.output, model=args.model, chunk_rows=args.chunk_rows
    )
    wall = time.perf_counter() - started
    process_cpu = time.process_time() - at_start["process"]
    children = _children_cpu_seconds()
    prefect_server = sum(children[pid] - at_start["children"][pid] for pid in at_start["children"])
    scoring = sum(cpu for pid, cpu in children.items() if pid not in at_start["children"])
    total = process_cpu + prefect_server + scoring
    print(
        "BENCH "
        + json.dumps(
            {
                "wall_seconds_with_prefect_startup": round(wall, 2),
                "flow_seconds": summary["seconds"],
                "scored": summary["counts"]["scored"],
                "cpu_seconds_while_flow_runs": {
                    "flow_process": round(process_cpu, 2),
                    "scoring_processes": round(scoring, 2),
                    "prefect_api_server": round(prefect_server, 2),
                    # Against all cores for the flow's time: near 1, the run is CPU-bound.
                    "share_of_all_cores": round(
                        total / ((os.cpu_count() or 1) * summary["seconds"]), 3
                    ),
                },
                # ru_maxrss is in KiB on Linux. Children: the largest scoring worker (or the
                # temporary Prefect server), not their sum.
                "peak_rss_mib_flow_process": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
                "peak_rss_mib_largest_child": round(
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
                ),
            }
        ),
        flush=True,
    )


def run_flow(input_url: str, output_url: str, args: argparse.Namespace, env: dict) -> dict:
    command = [sys.executable, __file__, "--child", "--input", input_url, "--output", output_url]
    command += ["--model", args.model, "--chunk-rows", str(args.chunk_rows)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"flow failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH "))
    return json.loads(line.removeprefix("BENCH "))


def start_moto(env: dict) -> tuple[subprocess.Popen, str]:
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return process, endpoint


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[25_000, 1_000_000])
    parser.add_argument("--targets", nargs="+", choices=["local", "s3"], default=["local", "s3"])
    parser.add_argument("--model", default=str(ROOT / "models" / "imdb-sentiment"))
    parser.add_argument("--chunk-rows", type=int, default=50_000)  # the flow's default
    parser.add_argument("--baseline-texts", type=int, default=25_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each short input")
    parser.add_argument("--repeat-below", type=int, default=100_000, help="rows; larger: once")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.child:
        run_flow_child(args)
        return

    env = os.environ | TELEMETRY_OFF
    moto = None
    if "s3" in args.targets:
        moto, endpoint = start_moto(env)
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto accepts any credentials
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
        )
        env = os.environ | TELEMETRY_OFF
    runs = []
    try:
        for rows in args.rows:
            source = write_input(rows, WORK / f"reviews-{rows}.parquet", INPUT_ROW_GROUP_ROWS)
            for target in args.targets:
                if target == "local":
                    input_url, output_url = str(source), str(WORK / f"out-{rows}")
                else:
                    import boto3

                    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
                    client.create_bucket(Bucket="bench")
                    client.upload_file(str(source), "bench", f"in/{source.name}")
                    input_url = f"s3://bench/in/{source.name}"
                    output_url = f"s3://bench/out-{rows}/"
                # Measured just before and just after every run: this machine's speed drifts by
                # a third or more within minutes, so each ratio uses the mean of the two.
                repeats = args.repeats if rows <= args.repeat_below else 1
                before = in_process_rates(args.model, args.baseline_texts)
                print(f"in-process scoring: {before}", flush=True)
                measured = []
                for _ in range(repeats):
                    if target == "local":
                        shutil.rmtree(output_url, ignore_errors=True)
                    moto_cpu = _cpu_seconds(moto.pid) if target == "s3" else 0.0
                    result = run_flow(input_url, output_url, args, env)
                    if target == "s3":
                        # moto answers every ranged GET by reading the whole object first: its
                        # CPU time comes out of the same two cores the scoring runs on.
                        result["moto_server_cpu_seconds"] = round(
                            _cpu_seconds(moto.pid) - moto_cpu, 1
                        )
                    after = in_process_rates(args.model, args.baseline_texts)
                    print(f"in-process scoring: {after}", flush=True)
                    baseline = (before["all_cores"] + after["all_cores"]) / 2
                    flow_rate = rows / result["flow_seconds"]
                    measured.append(
                        {
                            "in_process_reviews_per_second": {
                                "before": before,
                                "after": after,
                                "all_cores_mean": round(baseline, 1),
                            },
                            **result,
                            "end_to_end_reviews_per_second": round(flow_rate, 1),
                            "ratio_to_in_process_all_cores": round(flow_rate / baseline, 3),
                        }
                    )
                    print(json.dumps(measured[-1]), flush=True)
                    before = after
                ranked = sorted(measured, key=lambda m: m["ratio_to_in_process_all_cores"])
                run = {
                    "rows": rows,
                    "target": target,
                    **ranked[len(ranked) // 2],  # the median run (upper middle of an even count)
                    "repeats": len(measured),
                    "ratios_of_all_repeats": [m["ratio_to_in_process_all_cores"] for m in measured],
                    "all_repeats": measured,
                }
                runs.append(run)
                if target == "s3":
                    client.delete_object(Bucket="bench", Key=f"in/{source.name}")
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=30)

    report = {
        "benchmark": "batch flow end to end vs in-process scoring",
        "command": "python bench/batch.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cores": os.cpu_count(),
            "note": "2-core machine shared with other jobs; rates are comparable only within a run",
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "model": args.model,
        "chunk_rows": args.chunk_rows,
        "runs": runs,
        "goal": "end-to-end >= 0.8 x in-process scoring on all (2) cores (mean of before and after)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
