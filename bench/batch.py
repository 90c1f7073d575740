"""Benchmark the batch flow end to end against in-process scoring measured in the same run.

For each size in --rows it writes an input of that many reviews (the real test split, repeated)
and runs `imdb_sentiment.batch.flow.batch_predict` in a fresh process, as `imdb-sentiment batch`
does, reading and writing local disk and, with --targets s3, a moto_server on loopback. Beside it,
the bare scoring rate, measured again just before and just after each run: the loaded bundle's
predict_proba on texts already in memory, in one process and in one process per core (no I/O, no
Prefect); the ratio uses the mean of the two all-cores rates. Peak RSS comes from getrusage.

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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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


_model = None


def _load(model: str) -> None:
    global _model
    from imdb_sentiment.bundle import load_bundle

    _model = load_bundle(model)


def _score(texts: list[str]) -> float:
    started = time.perf_counter()
    _model.predict_proba(texts)
    return time.perf_counter() - started


def in_process_rates(model: str, sample: int) -> dict[str, float]:
    """Reviews/s of predict_proba alone: one process, and one process per core."""
    import pyarrow.parquet as pq

    texts = pq.read_table(TEST_SPLIT, columns=["text"])["text"].to_pylist()[:sample]
    _load(model)
    _score(texts[:200])  # warm up
    one = len(texts) / _score(texts)
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores, initializer=_load, initargs=(model,)) as pool:
        list(pool.map(_score, [texts[:50]] * cores))  # every worker has loaded the bundle
        shares = [texts[i::cores] for i in range(cores)]
        started = time.perf_counter()
        list(pool.map(_score, shares))
        all_cores = len(texts) / (time.perf_counter() - started)
    return {"one_process": round(one, 1), "all_cores": round(all_cores, 1), "texts": len(texts)}


def run_flow_child(args: argparse.Namespace) -> None:
    """In the child process: run the flow once, print timings and peak memory as JSON."""
    from imdb_sentiment.batch.flow import batch_predict

    started = time.perf_counter()
    summary = batch_predict(
        input=args.input, output=args.output, model=args.model, chunk_rows=args.chunk_rows
    )
    wall = time.perf_counter() - started
    print(
        "BENCH "
        + json.dumps(
            {
                "wall_seconds_with_prefect_startup": round(wall, 2),
                "flow_seconds": summary["seconds"],
                "scored": summary["counts"]["scored"],
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
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
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
                    shutil.rmtree(output_url, ignore_errors=True)
                else:
                    import boto3

                    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
                    client.create_bucket(Bucket="bench")
                    client.upload_file(str(source), "bench", f"in/{source.name}")
                    input_url = f"s3://bench/in/{source.name}"
                    output_url = f"s3://bench/out-{rows}/"
                # Measured just before and just after every run: this machine's speed drifts by
                # a third or more within minutes, so the ratio uses the mean of the two.
                before = in_process_rates(args.model, args.baseline_texts)
                print(f"in-process scoring before: {before}", flush=True)
                moto_cpu = _cpu_seconds(moto.pid) if target == "s3" else 0.0
                result = run_flow(input_url, output_url, args, env)
                if target == "s3":
                    # moto answers every ranged GET by reading the whole object first: its CPU
                    # time comes out of the same two cores the scoring runs on.
                    result["moto_server_cpu_seconds"] = round(_cpu_seconds(moto.pid) - moto_cpu, 1)
                after = in_process_rates(args.model, args.baseline_texts)
                print(f"in-process scoring after: {after}", flush=True)
                baseline = (before["all_cores"] + after["all_cores"]) / 2
                flow_rate = rows / result["flow_seconds"]
                run = {
                    "rows": rows,
                    "target": target,
                    "in_process_reviews_per_second": {
                        "before": before,
                        "after": after,
                        "all_cores_mean": round(baseline, 1),
                    },
                    **result,
                    "end_to_end_reviews_per_second": round(flow_rate, 1),
                    "ratio_to_in_process_all_cores": round(flow_rate / baseline, 3),
                }
                runs.append(run)
                print(json.dumps(run), flush=True)
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
