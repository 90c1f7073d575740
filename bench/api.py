"""Load benchmark of the prediction API: the real server, driven by wrk from a second process.

    make bench-api        # or: python bench/api.py [--duration 10] [--connections 32]

First, /predict with and without a challenger in the shadow (1 worker, back to back in the
same run; the shadow's own counts show how much of the sampled traffic it kept up with). Then,
for 1 and 2 uvicorn workers it measures single-review requests (p50/p99 latency, requests/s,
32 connections) and the batch endpoint (reviews/s), next to the in-process scoring rate of the
same reviews measured in the same run, and a bare FastAPI app (one pydantic model, a constant
answer) on the same uvicorn with the same bodies. Every request carries a different real review (no
caching can help). Results go to bench/results/api.json and are printed.
"""

import argparse
import gzip
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api.json"
SAMPLE = ROOT / "tests" / "fixtures" / "imdb_sample.jsonl.gz"
SERVE = Path(sys.executable).with_name("imdb-sentiment")
WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  bodies[#bodies + 1] = wrk.format("POST", os.getenv("TARGET"), {["Content-Type"] = "application/json"}, line)
end
local i = 0
request = function()
  i = i % #bodies + 1
  return bodies[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""

BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel


class Review(BaseModel):
    text: str


app = FastAPI()


@app.post("/predict")
async def predict(review: Review) -> dict:
    return {"label": "positive", "probability_positive": 0.5, "model_version": "x",
            "explanation": None}
"""


def load_reviews(limit: int) -> list[str]:
    split = ROOT / "data" / "split" / "test.parquet"
    if split.exists():
        import pyarrow.parquet as pq

        return pq.read_table(split, columns=["text"]).column("text").to_pylist()[:limit]
    with gzip.open(SAMPLE, "rt") as lines:
        return [json.loads(line)["text"] for line in lines][:limit]


def in_process_rates(bundle: str, reviews: list[str], batch_size: int) -> dict[str, float]:
    from imdb_sentiment.bundle import load_bundle

    model = load_bundle(bundle)
    model.predict_proba(reviews[:50])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(reviews), batch_size):
        model.predict_proba(reviews[start : start + batch_size])
    batch_rate = len(reviews) / (time.perf_counter() - started)
    singles = reviews[:300]
    started = time.perf_counter()
    for text in singles:
        model.predict_proba([text])
    single_rate = len(singles) / (time.perf_counter() - started)
    return {
        "batched_reviews_per_s": round(batch_rate, 1),
        "one_call_per_review_per_s": round(single_rate, 1),
    }


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    bundle: str, port: int, workers: int, log: Path, **extra_env: str
) -> subprocess.Popen:
    env = {
        **os.environ,
        "IMDB_SENTIMENT_MODEL": bundle,
        # Feedback goes beside the log, not into the checkout.
        "IMDB_SENTIMENT_FEEDBACK_DB": f"sqlite:///{log.parent / 'feedback.db'}",
        **extra_env,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [str(SERVE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers), "--log-level", "warning"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    import urllib.request

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise TimeoutError("the server did not become ready")


def run_wrk(
    port: int, target: str, bodies: Path, connections: int, duration: int, script: Path
) -> dict:
    env = {**os.environ, "BODIES": str(bodies), "TARGET": target}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "30s"]
    output = subprocess.run(
        [*command, "-s", str(script), f"http://127.0.0.1:{port}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(row for row in output.splitlines() if row.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    seconds = result.pop("duration_us") / 1e6
    return {
        "requests": result["requests"],
        "seconds": round(seconds, 2),
        "requests_per_s": round(result["requests"] / seconds, 1),
        "latency_ms": {
            key.removesuffix("_us"): round(result[key] / 1000, 2)
            for key in ("p50_us", "p90_us", "p99_us", "max_us")
        },
        "errors": result["errors"],
    }


def bare_framework_rate(port: int, connections: int) -> float:
    """GET /health on the same server at the same moment: the ceiling without any scoring."""
    command = ["wrk", "-t1", f"-c{connections}", "-d5s", f"http://127.0.0.1:{port}/health"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(
        next(row.split()[1] for row in output.splitlines() if row.startswith("Requests/sec"))
    )


@contextmanager
def bare_fastapi_server(folder: Path) -> Iterator[int]:
    """A bare FastAPI app (one pydantic model, a constant answer) on the same uvicorn setup
    (uvloop + httptools); yields its port."""
    (folder / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def bare_fastapi_rate(
    folder: Path, bodies: Path, script: Path, connections: int, duration: int
) -> dict:
    """wrk on the bare FastAPI app with the same bodies."""
    with bare_fastapi_server(folder) as port:
        run_wrk(port, "/predict", bodies, connections, 2, script)  # warm-up
        return run_wrk(port, "/predict", bodies, connections, duration, script)


def mean_microbatch(port: int) -> float | None:
    """Mean number of single-review requests per model call, from the server's own metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = {}
    for row in text.splitlines():
        if row.startswith(
            ("imdb_sentiment_microbatch_size_sum", "imdb_sentiment_microbatch_size_count")
        ):
            name, value = row.split()
            values[name.rsplit("_", 1)[-1]] = float(value)
    return round(values["sum"] / values["count"], 1) if values.get("count") else None


def shadow_counts(port: int) -> dict[str, float]:
    """The shadow lane's own counts, from the server's /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    names = {
        'imdb_sentiment_shadow_predictions_total{agreement="agree"}': "agree",
        'imdb_sentiment_shadow_predictions_total{agreement="disagree"}': "disagree",
        "imdb_sentiment_shadow_skipped_total": "skipped",
        "imdb_sentiment_shadow_failures_total": "failures",
    }
    found = {}
    for row in text.splitlines():
        name, _, value = row.rpartition(" ")
        if name in names:
            found[names[name]] = float(value)
    return found


def shadow_comparison(args: argparse.Namespace, folder: Path, singles: Path, script: Path) -> dict:
    """/predict throughput without and with a challenger in the shadow, one worker, back to
    back (without, with, without again: the mean of the two bare runs is the baseline)."""
    runs = {}
    for name, env in (
        ("without_shadow", {}),
        ("with_shadow", {"IMDB_SENTIMENT_CHALLENGER_MODEL": args.challenger or args.bundle}),
        ("without_shadow_again", {}),
    ):
        port = free_port()
        server = start_server(args.bundle, port, 1, folder / f"server-{name}.log", **env)
        try:
            run_wrk(port, "/predict", singles, args.connections, 2, script)  # warm-up
            run = run_wrk(port, "/predict", singles, args.connections, args.duration, script)
            if env:
                time.sleep(1)  # let the shadow drain what it queued before reading its counts
                run["shadow"] = shadow_counts(port)
        finally:
            server.terminate()
            server.wait(timeout=30)
        runs[name] = run
        print(f"{name}: {run}", flush=True)
    baseline = (
        runs["without_shadow"]["requests_per_s"] + runs["without_shadow_again"]["requests_per_s"]
    ) / 2
    counts = runs["with_shadow"]["shadow"]
    sampled = sum(counts.values())
    return {
        **runs,
        "ratio_with_to_without": round(runs["with_shadow"]["requests_per_s"] / baseline, 3),
        "goal": ">= 0.5",
        "shadow_scored_share_of_sampled": round(
            (counts.get("agree", 0) + counts.get("disagree", 0)) / sampled, 3
        )
        if sampled
        else None,
    }


def git_commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / "models" / "imdb-sentiment"))
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--challenger", help="bundle for the shadow comparison (default: the served bundle)"
    )
    parser.add_argument(
        "--only-shadow", action="store_true", help="run only the with/without shadow comparison"
    )
    args = parser.parse_args()

    reviews = load_reviews(2000)
    started_load = os.getloadavg()

    results: dict = {
        "git_commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "note": "load generator and server share the same cores; compare ratios measured in the same run",
            "load_average_at_start": [round(value, 2) for value in started_load],
            "python": platform.python_version(),
        },
        "setup": {
            "reviews": len(reviews),
            "mean_review_chars": round(float(np.mean([len(text) for text in reviews])), 1),
            "connections_single": args.connections,
            "batch_size": args.batch_size,
            "duration_s": args.duration,
            "load_generator": "wrk -t1, every request a different review",
        },
        "note": "each run's ratios use the in-process rates measured just before that run, "
        "because the shared machine's load drifts within minutes",
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        folder = Path(scratch)
        script = folder / "post.lua"
        script.write_text(WRK_SCRIPT)
        singles = folder / "singles.jsonl"
        singles.write_text("".join(json.dumps({"text": text}) + "\n" for text in reviews))
        batches = folder / "batches.jsonl"
        batches.write_text(
            "".join(
                json.dumps({"texts": reviews[start : start + args.batch_size]}) + "\n"
                for start in range(0, len(reviews) - args.batch_size + 1, args.batch_size)
            )
        )
        results["shadow"] = shadow_comparison(args, folder, singles, script)
        print(f"shadow: ratio with/without {results['shadow']['ratio_with_to_without']}")
        for workers in [] if args.only_shadow else [int(v) for v in args.workers.split(",")]:
            baseline = in_process_rates(args.bundle, reviews, args.batch_size)
            print(f"in-process: {baseline}", flush=True)
            port = free_port()
            server = start_server(args.bundle, port, workers, folder / f"server-{workers}.log")
            try:
                health_rate = bare_framework_rate(port, args.connections)
                run_wrk(port, "/predict", singles, args.connections, 2, script)  # warm-up
                single = run_wrk(port, "/predict", singles, args.connections, args.duration, script)
                single["mean_reviews_per_model_call"] = mean_microbatch(port)
                # Two connections per worker keep every worker busy with batches.
                batch = run_wrk(port, "/predict/batch", batches, 2 * workers, args.duration, script)
            finally:
                server.terminate()
                server.wait(timeout=30)
            batch["reviews_per_s"] = round(
                batch["requests"] * args.batch_size / batch["seconds"], 1
            )
            batch["ratio_to_in_process_batched"] = round(
                batch["reviews_per_s"] / baseline["batched_reviews_per_s"], 3
            )
            for name, rate in baseline.items():
                single[f"ratio_to_in_process_{name.removesuffix('_per_s')}"] = round(
                    single["requests_per_s"] / rate, 3
                )
            results["runs"][f"{workers}_worker{'s' if workers > 1 else ''}"] = {
                "in_process_baseline": baseline,
                "health_endpoint_requests_per_s": health_rate,
                "single_review": single,
                "batch": batch,
            }
            print(f"{workers} worker(s): single {single}\n  batch {batch}", flush=True)
        if args.only_shadow:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(results, indent=2) + "\n")
            print(f"wrote {args.output}")
            return 0
        bare = bare_fastapi_rate(folder, singles, script, args.connections, args.duration)
        results["bare_fastapi_single_review"] = bare
        print(f"bare FastAPI: {bare}", flush=True)
        for run in results["runs"].values():
            run["single_review"]["ratio_to_bare_fastapi"] = round(
                run["single_review"]["requests_per_s"] / bare["requests_per_s"], 3
            )
    results["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    errors = sum(
        sum(run[kind]["errors"].values())
        for run in results["runs"].values()
        for kind in ("single_review", "batch")
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
