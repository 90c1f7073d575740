"""The feedback table and the engine for it (SQLAlchemy 2): SQLite by default, PostgreSQL in
production. Reading and deleting rows live here too; writing is :class:`FeedbackStore`'s job.

Engines hide statement parameters, so no database error or SQL log ever carries a user's text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from imdb_sentiment.feedback.record import MAX_MODEL_VERSION_CHARS, Feedback

metadata = MetaData()
feedback_table = Table(
    "feedback",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("text", Text, nullable=False),
    Column("label", String(8), nullable=False),
    Column("predicted_label", String(8)),
    Column("probability_positive", Double),
    Column("model_version", String(MAX_MODEL_VERSION_CHARS)),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    CheckConstraint("label IN ('negative', 'positive')", name="feedback_label"),
    CheckConstraint(
        "predicted_label IS NULL OR predicted_label IN ('negative', 'positive')",
        name="feedback_predicted_label",
    ),
)


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(connection, _record) -> None:
    # WAL lets readers (export, report) and the writer of each API worker work side by side;
    # synchronous stays FULL, so a committed row survives a crash.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_feedback_engine(url: str, *, timeout: float | None = None) -> Engine:
    """An engine for ``url`` that never puts statement parameters (user text) into errors.

    ``timeout``: seconds a statement may wait for a lock or run before it fails (SQLite's busy
    timeout, PostgreSQL's ``statement_timeout``); None waits 30 s on SQLite and without limit on
    PostgreSQL. For a SQLite file the folder is created. PostgreSQL needs
    ``postgresql+psycopg2://`` (a bare ``postgresql://`` means psycopg 3 in SQLAlchemy 2.1,
    which is not installed).
    """
    parsed = make_url(url)
    options: dict[str, object] = {"hide_parameters": True, "pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": 30.0 if timeout is None else timeout}
    elif parsed.get_driver_name() == "psycopg2":
        connect_args: dict[str, object] = {"connect_timeout": 10}
        if timeout is not None:
            connect_args["options"] = f"-c statement_timeout={max(1, round(timeout * 1000))}"
        options["connect_args"] = connect_args
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def ensure_schema(engine: Engine) -> None:
    """Create the feedback table and its index if missing (safe when several workers race)."""
    try:
        metadata.create_all(engine, checkfirst=True)
    except DBAPIError:
        # Another process created it between our check and our CREATE.
        if not inspect(engine).has_table(feedback_table.name):
            raise


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _row(mapping) -> Feedback:
    return Feedback(
        text=mapping["text"],
        label=mapping["label"],
        predicted_label=mapping["predicted_label"],
        probability_positive=mapping["probability_positive"],
        model_version=mapping["model_version"],
        id=mapping["id"],
        created_at=as_utc(mapping["created_at"]),
    )


def iter_feedback(engine: Engine, *, batch_rows: int = 1_000) -> Iterator[list[Feedback]]:
    """Every stored row, oldest first (then by id), in lists of at most ``batch_rows``;
    streamed, so memory holds one list at a time."""
    ensure_schema(engine)
    query = select(feedback_table).order_by(feedback_table.c.created_at, feedback_table.c.id)
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=batch_rows).execute(query)
        for part in result.mappings().partitions():
            yield [_row(mapping) for mapping in part]


def count_feedback(engine: Engine) -> int:
    ensure_schema(engine)
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(feedback_table)).scalar())


def delete_feedback(
    engine: Engine, *, ids: Iterable[uuid.UUID] = (), before: datetime | None = None
) -> int:
    """Delete rows by id and/or every row created before ``before``; returns how many went."""
    ids = list(ids)
    if not ids and before is None:
        raise ValueError("name the rows to delete: ids and/or before")
    ensure_schema(engine)
    deleted = 0
    with engine.begin() as connection:
        if ids:
            query = delete(feedback_table).where(feedback_table.c.id.in_(ids))
            deleted += connection.execute(query).rowcount
        if before is not None:
            query = delete(feedback_table).where(feedback_table.c.created_at < as_utc(before))
            deleted += connection.execute(query).rowcount
    return deleted
