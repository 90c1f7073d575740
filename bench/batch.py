"""Benchmark the batch flow end to end against in-process scoring measured in the same run.

For each size in --rows it writes an input of that many reviews (the real test split, repeated)
and runs `imdb_sentiment.batch.flow.batch_predict` in a fresh process, as `imdb-sentiment batch`
does, reading and writing local disk and, with --targets s3, a moto_server on loopback. Beside it,
the bare scoring rate, measured again just before and just after each run: the loaded bundle's
predict_proba on texts already in memory, in one process and on all cores through the bundle's own
scoring processes, the ones the flow scores on (no I/O, no Prefect); the ratio uses the mean of the
two all-cores rates. Peak RSS comes from getrusage; the CPU seconds of the flow process, of the
scoring processes and of Prefect's temporary API server while the flow runs, from /proc.

Also measured once per input, before its runs: the CPU a run spends beside scoring that the flow's
own code cannot avoid (``fixed_costs``): Prefect's, for an empty flow of the same shape in a fresh
process; loading the bundle in a fresh process; reading and decoding the input's texts; moto's
share of that read. From them, each run gets the ratio it would have had with no overhead of its
own (``ratio_if_only_fixed_costs``, an estimate), to tell the flow's own overhead from the rest.

A run of a few seconds says little on a machine whose speed drifts by a third within minutes, so
inputs of at most --repeat-below rows run --repeats times, each run between two baseline
measurements (B F B F ... B); the figures reported are the median run's, and every run is kept
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


def _cpu_snapshot() -> dict[str, Any]:
    return {
        "at": time.perf_counter(),
        "process": time.process_time(),
        "children": _children_cpu_seconds(),
    }


def _cpu_since(start: dict[str, Any]) -> dict[str, float]:
    """Seconds and CPU seconds since ``start``: of this process (the flow's threads and
    Prefect's), of the children already there then (Prefect's temporary API server) and of
    those started since (the scoring processes)."""
    now = _cpu_snapshot()
    children = now["children"]
    return {
        "seconds": now["at"] - start["at"],
        "flow_process": now["process"] - start["process"],
        "prefect_api_server": sum(
            children.get(pid, cpu) - cpu for pid, cpu in start["children"].items()
        ),
        "started_processes": sum(
            cpu for pid, cpu in children.items() if pid not in start["children"]
        ),
    }


def _run_measured(flow: Any, **parameters: Any) -> tuple[Any, dict[str, float]]:
    """Run a Prefect flow: its result, and seconds and CPU seconds (``_cpu_since``) from when
    it starts running until it returns, plus the wall time with Prefect's startup."""
    at_start: dict[str, Any] = {}
    started = time.perf_counter()
    result = flow.with_options(on_running=[lambda *_: at_start.update(_cpu_snapshot())])(
        **parameters
    )
    measured = _cpu_since(at_start)
    measured["wall_seconds_with_prefect_startup"] = time.perf_counter() - started
    return result, measured


def empty_flow_child(args: argparse.Namespace) -> None:
    """In the child process: what Prefect alone costs a run of the batch flow's shape, and what
    loading the bundle costs a fresh process. Prints them as JSON.

    The flow has the batch flow's three task runs (plan, one chunk on the same thread-pool task
    runner, publish) with its retry settings, logs a line as it does, and does nothing else.
    CPU is read when the body ends and when the flow returns (Prefect then drains its event
    and log queues).
    """
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.task_runners import ThreadPoolTaskRunner

    from imdb_sentiment.batch.flow import _backoff
    from imdb_sentiment.bundle import load_bundle
    from imdb_sentiment.settings import Settings

    settings = Settings()
    nothing = task(
        cache_policy=NO_CACHE,
        retries=settings.batch_retries,
        retry_delay_seconds=_backoff(settings),
    )(lambda value: value)
    body: dict[str, float] = {}

    @flow(name="empty-batch-shaped", log_prints=True)
    def empty_batch_flow() -> int:
        at_start = _cpu_snapshot()
        planned = nothing.with_options(name="plan-input")(1)
        with ThreadPoolTaskRunner(max_workers=os.cpu_count() or 1) as runner:
            chunk = runner.submit(nothing.with_options(name="score-chunk"), {"value": planned})
            scored = chunk.result()
        published = nothing.with_options(name="publish-outputs")(scored)
        print(f"published {published}")
        body.update(_cpu_since(at_start))
        return published

    # Before the flow: no Prefect threads run yet, so this process's CPU is the load's alone,
    # including the threads it reads and builds its tables in.
    started = time.process_time()
    load_bundle(args.model)
    load = time.process_time() - started
    _, returned = _run_measured(empty_batch_flow)
    print(
        "BENCH "
        + json.dumps(
            {
                "prefect_empty_flow": {
                    part: {
                        key: round(measured[key], 3)
                        for key in ("seconds", "flow_process", "prefect_api_server")
                    }
                    for part, measured in (("body", body), ("until_it_returns", returned))
                },
                "bundle_load_cpu_seconds_fresh_process": round(load, 3),
            }
        ),
        flush=True,
    )


def run_flow_child(args: argparse.Namespace) -> None:
    """In the child process: run the flow once, print timings, CPU and peak memory as JSON."""
    from imdb_sentiment.batch.flow import batch_predict

    summary, cpu = _run_measured(
        batch_predict,
        input=args.input,
        output=args.output,
        model=args.model,
        chunk_rows=args.chunk_rows,
    )
    total = cpu["flow_process"] + cpu["prefect_api_server"] + cpu["started_processes"]
    print(
        "BENCH "
        + json.dumps(
            {
                "wall_seconds_with_prefect_startup": round(
                    cpu["wall_seconds_with_prefect_startup"], 2
                ),
                "flow_seconds": summary["seconds"],
                "scored": summary["counts"]["scored"],
                "cpu_seconds_while_flow_runs": {
                    "flow_process": round(cpu["flow_process"], 2),
                    "scoring_processes": round(cpu["started_processes"], 2),
                    "prefect_api_server": round(cpu["prefect_api_server"], 2),
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


def _run_child(options: list[str], args: argparse.Namespace, env: dict) -> dict:
    command = [sys.executable, __file__, *options, "--model", args.model]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"flow failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH "))
    return json.loads(line.removeprefix("BENCH "))


def run_flow(input_url: str, output_url: str, args: argparse.Namespace, env: dict) -> dict:
    options = ["--child", "--input", input_url, "--output", output_url]
    return _run_child([*options, "--chunk-rows", str(args.chunk_rows)], args, env)


def input_decode_cpu_seconds(input_url: str, chunk_rows: int) -> float:
    """CPU seconds of this process to plan the input and read and decode every row's text into
    Python strings, chunk by chunk as the flow's tasks do, without scoring."""
    from imdb_sentiment.batch.plan import plan_input
    from imdb_sentiment.batch.read import iter_chunk

    started = time.process_time()
    plan = plan_input(input_url, chunk_rows)
    for spec in plan.chunks:
        for frame in iter_chunk(spec):
            frame[plan.columns.text].tolist()
    return time.process_time() - started


def fixed_costs(input_url: str, rows: int, args: argparse.Namespace, env: dict, moto: Any) -> dict:
    """CPU a run of the flow spends beside scoring that no code of the flow's own can avoid:
    Prefect's, loading the bundle, decoding the input (and moto's share of reading it)."""
    moto_before = _cpu_seconds(moto.pid) if moto is not None else 0.0
    decode = input_decode_cpu_seconds(input_url, args.chunk_rows)
    costs = {
        **_run_child(["--child-empty-flow"], args, env),
        "input_decode_cpu_seconds": round(decode, 3),
        "moto_server_cpu_seconds_reading_input": round(_cpu_seconds(moto.pid) - moto_before, 2)
        if moto is not None
        else 0.0,
    }
    # Prefect's client during the body (it finishes the run after the body, when scoring is
    # over), and its server until the flow returns: the server records a task run's events a
    # moment after they happen, within the body of a flow that runs longer than this one.
    empty = costs["prefect_empty_flow"]
    costs["total_cpu_seconds"] = round(
        empty["body"]["flow_process"]
        + empty["until_it_returns"]["prefect_api_server"]
        + costs["bundle_load_cpu_seconds_fresh_process"]
        + decode
        + costs["moto_server_cpu_seconds_reading_input"],
        3,
    )
    return costs


def ratio_if_only_fixed_costs(fixed: dict, before: dict, after: dict, rows: int) -> float:
    """An estimate, not a bound: the ratio of a run that spent nothing beside scoring but the
    fixed costs, with scoring costing what the baselines around it spent per text and the cores
    as busy as theirs. A run beats it when its scoring processes spend less per text than the
    baseline's (as over 1M rows) or the machine speeds up between the two baselines."""
    per_text = [m["all_cores_cpu_seconds"] / m["texts"] for m in (before, after)]
    scoring = sum(per_text) / 2 * rows
    return round(scoring / (scoring + fixed["total_cpu_seconds"]), 3)


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
    parser.add_argument("--repeats", type=int, default=5, help="runs of each short input")
    parser.add_argument("--repeat-below", type=int, default=100_000, help="rows; larger: once")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-empty-flow", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.child:
        run_flow_child(args)
        return
    if args.child_empty_flow:
        empty_flow_child(args)
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
                fixed = fixed_costs(input_url, rows, args, env, moto if target == "s3" else None)
                print(f"fixed costs: {fixed}", flush=True)
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
                            "ratio_if_only_fixed_costs": ratio_if_only_fixed_costs(
                                fixed, before, after, rows
                            ),
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
                    "fixed_costs": fixed,
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
