"""``imdb-sentiment feedback export|report|delete``: the feedback store from the command line.

Only argparse is imported here; each command imports SQLAlchemy/pyarrow when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DB_HELP = "SQLAlchemy URL of the store (default: $IMDB_SENTIMENT_FEEDBACK_DB, else {default})"


def configured_url() -> str:
    """The store the service writes to: settings ``feedback_db`` ($IMDB_SENTIMENT_FEEDBACK_DB)."""
    from imdb_sentiment.feedback import DEFAULT_URL
    from imdb_sentiment.settings import get_settings

    return getattr(get_settings(), "feedback_db", None) or DEFAULT_URL


def _engine(args: argparse.Namespace) -> Any:
    from imdb_sentiment.feedback.database import create_feedback_engine

    return create_feedback_engine(args.db or configured_url())


def _fail(error: BaseException) -> int:
    # First line only: a database error's later lines can quote the statement.
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    print(f"error: {message}", file=sys.stderr)
    return 1


def _errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, OSError, ValueError)


def _export(args: argparse.Namespace) -> int:
    from imdb_sentiment.feedback.database import safe_url

    try:
        from imdb_sentiment.feedback.export import export_feedback
    except ImportError as error:  # the serve-only image has no pyarrow
        print(f"error: export needs the batch extra (pyarrow, pandas): {error}", file=sys.stderr)
        return 1
    try:
        engine = _engine(args)
        rows = export_feedback(engine, args.output)
    except _errors() as error:
        return _fail(error)
    print(f"wrote {rows} feedback row(s) from {safe_url(str(engine.url))} to {args.output}")
    return 0


def _since(days: float | None) -> datetime | None:
    return None if days is None else datetime.now(UTC) - timedelta(days=days)


def _report(args: argparse.Namespace) -> int:
    from imdb_sentiment.feedback.report import build_report, render_text
    from imdb_sentiment.feedback.shadow_source import read_shadow

    try:
        shadow = read_shadow(args.shadow) if args.shadow else None
        report = build_report(_engine(args), since=_since(args.since_days), shadow=shadow)
    except _errors() as error:  # json.JSONDecodeError is a ValueError
        return _fail(error)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report), end="")
    return 0


def _delete(args: argparse.Namespace) -> int:
    import uuid

    from imdb_sentiment.feedback.database import delete_feedback

    if not args.id and args.older_than_days is None:
        print(
            "error: name the rows: --id ID (repeatable) and/or --older-than-days N", file=sys.stderr
        )
        return 2
    try:
        ids = [uuid.UUID(value) for value in args.id]
        deleted = delete_feedback(_engine(args), ids=ids, before=_since(args.older_than_days))
    except _errors() as error:
        return _fail(error)
    print(f"deleted {deleted} feedback row(s)")
    return 0


def _non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError("must be a number of days >= 0")
    return number


def add_feedback_parser(commands: Any) -> None:
    """Register ``feedback`` and its subcommands on the main parser's subparsers."""
    from imdb_sentiment.feedback import DEFAULT_URL

    feedback = commands.add_parser(
        "feedback",
        help="export, report on or delete the users' feedback (the /feedback store)",
        description="The store is a SQL database: SQLite locally, PostgreSQL in production.",
    )
    actions = feedback.add_subparsers(dest="feedback_command", required=True)
    db_help = DB_HELP.format(default=DEFAULT_URL)

    export = actions.add_parser(
        "export",
        help="write every stored row to one Parquet file (path or s3:// URL)",
        description="Columns: id, text, label, predicted_label, probability_positive, "
        "model_version, created_at; oldest first. `imdb-sentiment batch --input` reads it.",
    )
    export.add_argument("--output", required=True, help="*.parquet path or s3:// URL")
    export.add_argument("--db", help=db_help)
    export.set_defaults(handler=_export)

    report = actions.add_parser(
        "report", help="live accuracy by model version (text table, or JSON with --json)"
    )
    report.add_argument("--db", help=db_help)
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    report.add_argument("--output", help="also write the JSON report to this file")
    report.add_argument(
        "--since-days", type=_non_negative, help="only feedback from the last N days"
    )
    report.add_argument(
        "--shadow",
        metavar="URL_OR_FILE",
        help="the shadow's agreement: a running service's http(s)://.../metrics (live counts "
        'since its start), or a JSON file {"agree": n, "disagree": m, '
        '"champion_version": ..., "challenger_version": ...}',
    )
    report.set_defaults(handler=_report)

    delete = actions.add_parser(
        "delete", help="delete rows by id and/or every row older than N days (retention)"
    )
    delete.add_argument("--db", help=db_help)
    delete.add_argument("--id", action="append", default=[], help="row id (repeatable)")
    delete.add_argument("--older-than-days", type=_non_negative, help="delete rows older than this")
    delete.set_defaults(handler=_delete)
