"""The service's feedback writer: bounded, in the background, never in the request's way.

:class:`FeedbackStore` is what the service holds. ``submit`` only puts a validated row on a bounded
in-memory queue and says at once whether it was taken: it never touches the database, never waits,
and answers False when the queue is full (the route answers 503), so a slow or dead database
costs requests nothing but refusals. One background thread creates the schema on first use and
writes queued rows in batches, one transaction each; a failed batch is retried with backoff while
new rows queue up to the bound. A row is durable once its transaction commits; ``close`` flushes
what is queued.

Logs name a row by id, text hash and length only (:meth:`Feedback.describe`); the engine hides
statement parameters, so database errors never echo the text either. The table, the engine and
the reading helpers are in :mod:`imdb_sentiment.feedback.database`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from imdb_sentiment.feedback.database import (
    create_feedback_engine,
    ensure_schema,
    feedback_table,
    safe_url,
)
from imdb_sentiment.feedback.record import Feedback

logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE = 10_000
DEFAULT_BATCH_ROWS = 500


def _values(row: Feedback) -> dict[str, object]:
    return {
        "id": row.id,
        "text": row.text,
        "label": row.label,
        "predicted_label": row.predicted_label,
        "probability_positive": row.probability_positive,
        "model_version": row.model_version,
        "created_at": row.created_at,
    }


def _error_summary(error: BaseException) -> str:
    """Error class and the first line of its message. Parameters are hidden by the engine, and
    PostgreSQL's DETAIL line (which can quote a failing row) is on a later line."""
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first_line}"


def _transient(error: BaseException) -> bool:
    """Database down or locked (retry later) rather than a row it will never take."""
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


@dataclass(frozen=True)
class FeedbackStats:
    """Counts since the store started. ``correct``/``incorrect`` count written rows whose
    predicted label was known: the ``imdb_sentiment_feedback_total{correct}`` figures."""

    accepted: int
    refused: int
    written: int
    dropped: int
    correct: int
    incorrect: int
    queued: int


class FeedbackStore:
    """Bounded background writer of :class:`Feedback` rows to ``url``.

    ``max_queue`` rows may wait in memory; ``on_written`` (optional) is called from the writer
    thread with each batch of rows once committed, e.g. to count them in Prometheus.
    ``write_timeout``: seconds one write may wait for a lock or run before it fails and is
    retried, so that a stuck database cannot hold the writer (or ``close``) indefinitely.
    """

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        on_written: Callable[[Sequence[Feedback]], None] | None = None,
        retry_seconds: tuple[float, float] = (0.5, 30.0),
        write_timeout: float = 10.0,
    ) -> None:
        if max_queue < 1 or batch_rows < 1:
            raise ValueError("max_queue and batch_rows must be at least 1")
        self.url = url
        self.batch_rows = batch_rows
        self._on_written = on_written
        self._first_retry, self._max_retry = retry_seconds
        self.write_timeout = write_timeout
        self._queue: queue.Queue[Feedback] = queue.Queue(max_queue)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # accepted, neither written nor dropped yet
        self._counts = dict.fromkeys(
            ("accepted", "refused", "written", "dropped", "correct", "incorrect"), 0
        )
        self._stop = threading.Event()
        self._give_up_at = float("inf")  # set by close(): when retries stop
        self._engine: Engine | None = None
        self._thread: threading.Thread | None = None
        self._schema_ready = False

    # -- the service side -------------------------------------------------------------------
    def start(self) -> FeedbackStore:
        """Start the writer thread. It connects lazily: a database that is down at start-up
        only delays writes (and fills the queue), it does not stop the service."""
        if self._thread is None:
            self._engine = create_feedback_engine(self.url, timeout=self.write_timeout)
            self._thread = threading.Thread(target=self._run, name="feedback-writer", daemon=True)
            self._thread.start()
            logger.info("feedback store writing to %s", safe_url(self.url))
        return self

    def submit(self, row: Feedback) -> bool:
        """Queue ``row`` for writing; False at once if the queue is full or the store closed."""
        if self._thread is None:
            raise RuntimeError("FeedbackStore.start() was not called")
        with self._lock:
            if self._stop.is_set():
                self._counts["refused"] += 1
                return False
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                self._counts["refused"] += 1
                refused = self._counts["refused"]
            else:
                self._pending += 1
                self._counts["accepted"] += 1
                refused = 0
        if refused:
            if refused == 1 or refused % 1000 == 0:  # under a flood, log now and then
                logger.warning("feedback queue full: refused %d row(s) so far", refused)
            return False
        logger.debug("feedback queued: %s", row.describe())
        return True

    def stats(self) -> FeedbackStats:
        with self._lock:
            return FeedbackStats(**self._counts, queued=self._pending)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every accepted row is written (or dropped); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 10.0) -> FeedbackStats:
        """Refuse new rows, write what is queued (retrying for up to ``timeout`` seconds), stop.

        Rows still unwritten after that are dropped and counted (``stats().dropped``). It returns
        within about ``timeout + write_timeout`` seconds, whatever the database does.
        """
        with self._lock:
            self._give_up_at = time.monotonic() + timeout
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout + self.write_timeout + 5.0)  # returns as soon as it ends
        if self._engine is not None:
            self._engine.dispose()
        stats = self.stats()
        if stats.dropped or stats.queued:
            logger.error(
                "feedback store closed: %d row(s) were never written", stats.dropped + stats.queued
            )
        return stats

    def __enter__(self) -> FeedbackStore:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the writer thread --------------------------------------------------------------------
    def _take(self) -> list[Feedback]:
        """Up to batch_rows queued rows; waits a little for the first one."""
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_rows:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                if self._stop.is_set():
                    return
                continue
            delay = self._first_retry
            while batch:
                try:
                    batch = self._write(batch)
                except Exception as error:  # keep the one writer alive, whatever happens
                    logger.error("feedback writer: %s", _error_summary(error))
                if not batch:
                    break
                remaining = self._give_up_at - time.monotonic()
                if remaining <= 0:  # closing and the database still fails
                    self._drop(batch)
                    while rest := self._take():
                        self._drop(rest)
                    return
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, self._max_retry)

    def _write(self, batch: list[Feedback]) -> list[Feedback]:
        """Write ``batch``; returns the rows to retry later (empty when done)."""
        assert self._engine is not None
        if not self._schema_ready:
            try:
                ensure_schema(self._engine)
            except Exception as error:  # down, or not allowed yet: retry, never drop rows here
                logger.warning(
                    "feedback store: no schema yet, will retry: %s", _error_summary(error)
                )
                return batch
            self._schema_ready = True
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(feedback_table), [_values(row) for row in batch])
        except Exception as error:
            if _transient(error):
                logger.warning(
                    "feedback store: writing %d row(s) failed, will retry: %s",
                    len(batch),
                    _error_summary(error),
                )
                return batch
            # A row the database refuses (or a retried batch that had in fact committed):
            # go row by row so that one bad row cannot hold back the others.
            return self._write_each(batch)
        self._done(batch)
        return []

    def _write_each(self, batch: list[Feedback]) -> list[Feedback]:
        assert self._engine is not None
        for position, row in enumerate(batch):
            try:
                with self._engine.begin() as connection:
                    connection.execute(insert(feedback_table), [_values(row)])
            except IntegrityError as error:
                if self._stored(row.id):
                    self._done([row])  # an earlier attempt committed it
                else:
                    logger.error(
                        "feedback row refused: %s (%s)", row.describe(), _error_summary(error)
                    )
                    self._drop([row])
            except Exception as error:
                if _transient(error):
                    return batch[position:]
                logger.error("feedback row refused: %s (%s)", row.describe(), _error_summary(error))
                self._drop([row])
            else:
                self._done([row])
        return []

    def _stored(self, row_id: uuid.UUID) -> bool:
        assert self._engine is not None
        try:
            with self._engine.connect() as connection:
                query = select(feedback_table.c.id).where(feedback_table.c.id == row_id)
                return connection.execute(query).first() is not None
        except SQLAlchemyError:
            return False

    def _done(self, rows: list[Feedback]) -> None:
        correct = sum(row.correct is True for row in rows)
        incorrect = sum(row.correct is False for row in rows)
        if self._on_written is not None:
            try:
                self._on_written(rows)
            except Exception:
                logger.exception("feedback on_written callback failed")
        with self._idle:
            self._counts["written"] += len(rows)
            self._counts["correct"] += correct
            self._counts["incorrect"] += incorrect
            self._pending -= len(rows)
            self._idle.notify_all()
        logger.debug("feedback wrote %d row(s)", len(rows))

    def _drop(self, rows: list[Feedback]) -> None:
        with self._idle:
            self._counts["dropped"] += len(rows)
            self._pending -= len(rows)
            self._idle.notify_all()
