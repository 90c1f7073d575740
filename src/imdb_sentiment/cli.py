"""The `imdb-sentiment` command. Subcommands import what they need only when they run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from imdb_sentiment.feedback.commands import add_feedback_parser
from imdb_sentiment.settings import get_settings


def _predict(args: argparse.Namespace) -> int:
    from imdb_sentiment.registry import load_bundle

    model = load_bundle(args.model or get_settings().model)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    probabilities = model.predict_proba(texts)
    for text, label, probability in zip(
        texts, model.labels_for(probabilities), probabilities, strict=True
    ):
        record = {
            "label": label,
            "probability_positive": round(float(probability), 6),
            "text": text[:80],
        }
        print(json.dumps(record))
    return 0


def _report(args: argparse.Namespace) -> int:
    from imdb_sentiment.report import ReportError, build_report

    try:
        report = build_report(args.base, Path(args.output))
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} with {len(report.images)} plot image(s)")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    import boto3

    from imdb_sentiment.deploy import DeployError, deploy
    from imdb_sentiment.release import ReleaseError, resolve_release, write_summary

    try:
        # The registry gate: only the champion, pinned to a number, and only this commit's bundle.
        release = resolve_release(
            Path(args.bundle), Path(args.lock), args.model_name, expect_version=args.model_version
        )
    except ReleaseError as error:
        write_summary(f"### Deploy refused\n\n{error}")
        print(f"error: deploy refused: {error}", file=sys.stderr)
        return 1
    label = f"{args.label}-model-v{release.version}"
    try:
        deploy(
            boto3.client("elasticbeanstalk"),
            boto3.client("s3"),
            application=args.application,
            environment=args.environment,
            bucket=args.bucket,
            image=args.image,
            label=label,
            beanstalk_source=Path(args.beanstalk_source),
            base_url=args.url,
            timeout=args.timeout,
            poll=args.poll,
            model_version=release.version,
        )
    except DeployError as error:
        write_summary(f"### Deploy of {label} failed\n\n{error}")
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_summary(
        f"### Deployed {label}\n\n{release.name} version {release.version}, "
        f"bundle {release.bundle_version} ({release.bundle_hash}), image {args.image}"
    )
    return 0


def _release(args: argparse.Namespace) -> int:
    from imdb_sentiment.release import ReleaseError, resolve_release, write_summary

    try:
        release = resolve_release(Path(args.bundle), Path(args.lock), args.model_name)
    except ReleaseError as error:
        write_summary(f"### Release refused\n\n{error}")
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(release.outputs(), end="")
    return 0


def _check_metrics(args: argparse.Namespace) -> int:
    from imdb_sentiment.gates import GateError, check_metrics
    from imdb_sentiment.release import write_summary

    try:
        lines = check_metrics(Path(args.floors))
    except GateError as error:
        write_summary(f"### Quality floors not met\n\n```\n{error}\n```")
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _sweep_args(args: argparse.Namespace) -> int:
    from imdb_sentiment.gates import GateError, sweep_arguments

    try:
        print("\n".join(sweep_arguments(args.spec)))
    except GateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _register(args: argparse.Namespace) -> int:
    # In CI the registration is the gate's input: a failure must fail the job, not warn.
    os.environ["IMDB_SENTIMENT_STRICT_TRACKING"] = "1"
    os.environ["IMDB_SENTIMENT_TRACKING"] = "1"
    from imdb_sentiment.tracking import TrackingError, register_bundle

    try:
        register_bundle(Path(args.bundle))
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _smoke_test(args: argparse.Namespace) -> int:
    from imdb_sentiment.deploy import smoke_test

    return 0 if smoke_test(args.url, attempts=args.attempts) else 1


def _serve(args: argparse.Namespace) -> int:
    import tempfile

    import uvicorn
    from pydantic import ValidationError

    from imdb_sentiment.settings import Settings

    if args.model:
        # Workers are fresh processes that read the settings from the environment.
        os.environ["IMDB_SENTIMENT_MODEL"] = args.model
    try:
        Settings()
    except ValidationError as error:
        problems = "; ".join(str(item["msg"]) for item in error.errors())
        print(f"error: {problems}", file=sys.stderr)
        return 2
    if args.workers > 1:
        from imdb_sentiment.registry import load_bundle

        # uvicorn restarts workers that die at start-up: refuse a broken bundle here, once.
        load_bundle(get_settings().model if not args.model else args.model)
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Each worker counts in its own files; /metrics adds them up.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
                prefix="imdb-sentiment-metrics-"
            )
    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        # httptools with one send() per response (the stock protocol if uvicorn is not the tested one)
        http="app.http_protocol:JoinedWritesHttpToolsProtocol",
        lifespan="on",
        access_log=args.access_log,
        log_level=args.log_level,
        limit_concurrency=settings.limit_concurrency,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        # X-Forwarded-For/-Proto only from the proxy (nginx on Beanstalk): anyone else could
        # claim any client address.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    # A bundle that fails to load in the app's start-up makes uvicorn exit with status 3.
    return 0


def _promote(args: argparse.Namespace) -> int:
    from imdb_sentiment.feedback.evidence import asked_for, gate_from_args
    from imdb_sentiment.registry import promote

    decision = promote(
        args.name,
        metric=args.metric,
        min_improvement=args.min_improvement,
        allow_different_validation=args.allow_different_validation,
        evidence=gate_from_args(args),
    )
    from imdb_sentiment.release import write_summary

    print(decision.reason)
    # A candidate that already is the champion (an unchanged model) passes the gate.
    passed = decision.promoted or decision.candidate == decision.champion
    write_summary(f"### Promotion {'passed' if passed else 'refused'}\n\n{decision.reason}")
    return 3 if (args.fail_if_not_promoted or asked_for(args)) and not passed else 0


def _batch(args: argparse.Namespace) -> int:
    # The temporary Prefect server needs more than the default 20 s on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    from imdb_sentiment.batch.flow import batch_predict
    from imdb_sentiment.batch.plan import InputError

    try:
        summary = batch_predict(
            input=args.input,
            output=args.output,
            model=args.model,
            write_csv=args.csv,
            chunk_rows=args.chunk_rows,
            text_column=args.text_column,
            id_column=args.id_column,
            label_column=args.label_column,
            shadow=args.shadow,
        )
    except (InputError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imdb-sentiment", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser(
        "predict", help="score texts given as arguments or one per stdin line"
    )
    predict.add_argument("text", nargs="*", help="review texts (default: read stdin)")
    predict.add_argument("--model", help="bundle path or URL (default: $IMDB_SENTIMENT_MODEL)")
    predict.set_defaults(handler=_predict)

    report = commands.add_parser(
        "report", help="markdown report of metric, param and plot changes against a git revision"
    )
    report.add_argument("--base", default="main", help="git revision to compare with (main)")
    report.add_argument(
        "--output", default="report.md", help="markdown file; images go beside it (report.md)"
    )
    report.set_defaults(handler=_report)

    deploy = commands.add_parser(
        "deploy",
        help="deploy an ECR image to Elastic Beanstalk, smoke-test it, roll back on failure",
    )
    deploy.add_argument("--application", required=True, help="Beanstalk application")
    deploy.add_argument("--environment", required=True, help="Beanstalk environment")
    deploy.add_argument("--bucket", required=True, help="S3 bucket for application versions")
    deploy.add_argument("--image", required=True, help="image URI, e.g. <ecr-repo>:<git-sha>")
    deploy.add_argument(
        "--label", required=True, help="version label prefix; -model-v<N> is appended"
    )
    deploy.add_argument("--poll", type=float, default=15.0, help="seconds between polls (15)")
    _release_arguments(deploy)
    deploy.add_argument(
        "--model-version",
        help="registry version resolved earlier in this deploy (must still be the champion)",
    )
    deploy.add_argument("--url", help="API base URL to smoke-test (default: the environment CNAME)")
    deploy.add_argument(
        "--beanstalk-source", default="app/beanstalk/source", help="EB files to zip"
    )
    deploy.add_argument(
        "--timeout", type=float, default=1200.0, help="seconds to wait for healthy (1200)"
    )
    deploy.set_defaults(handler=_deploy)

    release = commands.add_parser(
        "release",
        help="resolve `champion` to a version number, if it is this commit's bundle",
        description="Checks the bundle folder against dvc.lock and the champion's registered "
        "manifest; prints model_version=, bundle_hash=, bundle_version= (for $GITHUB_OUTPUT).",
    )
    _release_arguments(release)
    release.set_defaults(handler=_release)
    register = commands.add_parser(
        "register", help="register a bundle in MLflow as `candidate` (fails if it cannot)"
    )
    register.add_argument("--bundle", default="models/imdb-sentiment", help="bundle folder")
    register.set_defaults(handler=_register)

    floors = commands.add_parser(
        "check-metrics", help="fail unless metrics/*.json meet the quality floors"
    )
    floors.add_argument(
        "--floors", default=".github/scripts/metric_floors.yaml", help="floors file (YAML)"
    )
    floors.set_defaults(handler=_check_metrics)
    sweep = commands.add_parser(
        "sweep-args", help="validate sweep input; print one `section.key=v1,v2` per line"
    )
    sweep.add_argument("spec", help="e.g. 'train.C=[1,4,16] featurize.min_df=range(2,6)'")
    sweep.set_defaults(handler=_sweep_args)

    smoke = commands.add_parser("smoke-test", help="check /ready and /predict of a running API")
    smoke.add_argument("url", help="API base URL, e.g. http://127.0.0.1:8000")
    smoke.add_argument("--attempts", type=int, default=5, help="tries, 6 s apart (5)")
    smoke.set_defaults(handler=_smoke_test)
    serve = commands.add_parser(
        "serve", help="run the prediction API and web page with uvicorn (uvloop + httptools)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.add_argument("--model", help="bundle path or URL (default: $IMDB_SENTIMENT_MODEL)")
    serve.add_argument(
        "--access-log", action="store_true", help="log every request (costs throughput)"
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=_serve)
    promote = commands.add_parser(
        "promote",
        help="move the registry alias `champion` to `candidate` if it is better on validation",
        description="Compare the candidate and champion versions of a registered model on a "
        "validation metric (never test) and move the champion alias only if the candidate "
        "improves it by at least --min-improvement. MLFLOW_TRACKING_URI picks the registry.",
    )
    promote.add_argument("--name", default="imdb-sentiment", help="registered model name")
    promote.add_argument(
        "--metric",
        default="roc_auc",
        help="validation metric: roc_auc (default), accuracy, f1, precision, recall, "
        "log_loss or brier (the last two: lower is better)",
    )
    promote.add_argument(
        "--min-improvement",
        type=float,
        default=0.001,
        help="required gain over the champion, in metric units (default 0.001)",
    )
    promote.add_argument(
        "--allow-different-validation",
        action="store_true",
        help="compare even if the two versions were validated on different data or splits",
    )
    from imdb_sentiment.feedback.evidence import add_arguments

    add_arguments(promote)  # --fail-if-not-promoted and the production-evidence gates
    promote.set_defaults(handler=_promote)
    batch = commands.add_parser(
        "batch", help="score a CSV/Parquet file (local or s3://) with the Prefect batch flow"
    )
    batch.add_argument("--input", required=True, help="*.csv or *.parquet, a path or s3:// URL")
    batch.add_argument("--output", required=True, help="*.parquet file or folder (path or s3://)")
    batch.add_argument("--model", help="bundle path or URL (default: $IMDB_SENTIMENT_MODEL)")
    batch.add_argument("--csv", action="store_true", help="also write the predictions as CSV")
    batch.add_argument(
        "--chunk-rows", type=int, help="rows per chunk (default: $IMDB_SENTIMENT_BATCH_CHUNK_ROWS)"
    )
    batch.add_argument("--text-column", help="review text column (default: review or text)")
    batch.add_argument("--id-column", help="id column (default: id or review_id, if present)")
    batch.add_argument(
        "--label-column", help="true label column (default: sentiment or label, if present)"
    )
    batch.add_argument("--shadow", help="a service's /metrics URL or a JSON file of shadow figures")
    batch.set_defaults(handler=_batch)
    add_feedback_parser(commands)
    return parser


def _release_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", default="models/imdb-sentiment", help="bundle folder")
    parser.add_argument("--lock", default="dvc.lock", help="dvc.lock of the deployed commit")
    parser.add_argument("--model-name", default="imdb-sentiment", help="registered model")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from imdb_sentiment.bundle import BundleError

    try:
        return args.handler(args)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
