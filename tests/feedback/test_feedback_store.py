"""The service's feedback store on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from feedback_support import as_tuple, sample_rows
from sqlalchemy.engine import make_url

from imdb_sentiment.feedback.database import (
    count_feedback,
    create_feedback_engine,
    ensure_schema,
    iter_feedback,
)
from imdb_sentiment.feedback.record import Feedback
from imdb_sentiment.feedback.store import FeedbackStore

pytestmark = pytest.mark.timeout(180)


def stored_rows(url: str) -> dict[uuid.UUID, tuple[object, ...]]:
    engine = create_feedback_engine(url)
    try:
        return {row.id: as_tuple(row) for part in iter_feedback(engine) for row in part}
    finally:
        engine.dispose()


def test_rows_survive_a_store_restart(db_url: str) -> None:
    first, second = sample_rows(12), sample_rows(5, model_version="v2")
    with FeedbackStore(db_url) as store:
        assert all(store.submit(row) for row in first)
    # A new store on the same database (the service restarted) finds them and adds to them.
    with FeedbackStore(db_url) as store:
        assert all(store.submit(row) for row in second)
    assert stored_rows(db_url) == {row.id: as_tuple(row) for row in first + second}


def test_written_rows_survive_a_killed_process(db_url: str) -> None:
    """Once flush() says written, the rows are committed: SIGKILL cannot take them back."""
    script = (
        "import sys\n"
        "from imdb_sentiment.feedback.record import Feedback\n"
        "from imdb_sentiment.feedback.store import FeedbackStore\n"
        f"store = FeedbackStore({db_url!r}).start()\n"
        "rows = [Feedback.create(f'review {i}', 'negative', max_text_chars=100) for i in range(20)]\n"
        "assert all(store.submit(row) for row in rows)\n"
        "assert store.flush(120)\n"
        "print(' '.join(str(row.id) for row in rows), flush=True)\n"
        "sys.stdin.read()\n"  # wait here to be killed: no close(), no clean exit
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
    finally:
        process.kill()
        _, errors = process.communicate(timeout=60)
    assert line, errors
    written = {uuid.UUID(value) for value in line.split()}
    assert len(written) == 20
    assert set(stored_rows(db_url)) == written


def test_counts_say_whether_the_shown_prediction_was_right(db_url: str) -> None:
    rows = sample_rows(30)
    seen: list[Feedback] = []

    def on_written(batch: Sequence[Feedback]) -> None:
        seen.extend(batch)

    with FeedbackStore(db_url, batch_rows=7, on_written=on_written) as store:
        assert all(store.submit(row) for row in rows)
        assert store.flush(60)
        stats = store.stats()
    expected = Counter(
        row.predicted_label == row.label for row in rows if row.predicted_label is not None
    )
    assert (stats.correct, stats.incorrect) == (expected[True], expected[False])
    assert 0 < stats.correct < len(rows) and stats.incorrect > 0  # the sample has both
    assert (stats.accepted, stats.written, stats.refused, stats.dropped) == (30, 30, 0, 0)
    # What a Prometheus counter fed by on_written would show.
    assert Counter(row.correct_label for row in seen if row.correct_label) == {
        "true": expected[True],
        "false": expected[False],
    }
    assert sorted(row.id for row in seen) == sorted(row.id for row in rows)


@contextmanager
def database_locked(url: str) -> Iterator[None]:
    """Another client holds the feedback table's write lock: every insert waits."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
    else:
        import psycopg2

        connection = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
        connection.cursor().execute("LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        connection.rollback()  # ends the transaction and its lock (sqlite3 and psycopg2 alike)
        connection.close()


def test_a_full_queue_refuses_at_once_instead_of_blocking(db_url: str) -> None:
    max_queue, batch_rows = 5, 2
    engine = create_feedback_engine(db_url)
    ensure_schema(engine)
    rows = [
        Feedback.create(f"review {i}", "positive", max_text_chars=100)
        for i in range(2 * (max_queue + batch_rows))
    ]
    with FeedbackStore(db_url, max_queue=max_queue, batch_rows=batch_rows) as store:
        with database_locked(db_url):
            # A submit that blocked would hang here until the test's timeout.
            answers = [store.submit(row) for row in rows]
        # While the database was stuck, the queue held max_queue rows and the writer at most
        # the one batch it was trying to insert; every other row was refused.
        accepted = [row for row, taken in zip(rows, answers, strict=True) if taken]
        assert max_queue <= len(accepted) <= max_queue + batch_rows
        assert store.stats().refused == len(rows) - len(accepted)
        # The lock is gone: everything accepted gets written, nothing refused does.
        assert store.flush(120)
        stats = store.stats()
    assert (stats.written, stats.dropped) == (len(accepted), 0)
    assert count_feedback(engine) == len(accepted)
    assert set(stored_rows(db_url)) == {row.id for row in accepted}
    engine.dispose()


def test_close_gives_up_on_a_stuck_database_and_counts_the_lost_rows(db_url: str) -> None:
    engine = create_feedback_engine(db_url)
    ensure_schema(engine)
    rows = [Feedback.create(f"review {i}", "positive", max_text_chars=100) for i in range(3)]
    store = FeedbackStore(db_url, write_timeout=0.5, retry_seconds=(0.1, 0.2)).start()
    with database_locked(db_url):
        assert all(store.submit(row) for row in rows)
        # Every write times out on the lock; close() stops retrying after its own timeout.
        stats = store.close(timeout=1.0)
        assert (stats.written, stats.dropped, stats.queued) == (0, 3, 0)
    assert count_feedback(engine) == 0  # and nothing trickles in once the lock is gone
    engine.dispose()


def test_a_row_the_database_refuses_does_not_hold_back_the_others(db_url: str) -> None:
    good = sample_rows(6)
    # Built without Feedback.create: only the table's CHECK constraint stands in the way.
    bad = Feedback(text="a review", label="maybe")  # type: ignore[arg-type]
    with FeedbackStore(db_url, batch_rows=10) as store:
        assert all(store.submit(row) for row in [*good[:3], bad, *good[3:]])
        assert store.flush(60)
        stats = store.stats()
    assert (stats.written, stats.dropped) == (6, 1)
    assert set(stored_rows(db_url)) == {row.id for row in good}


def test_feedback_text_never_reaches_the_logs(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Even with every logger at DEBUG and SQLAlchemy logging its statements, and when the
    database refuses a row (PostgreSQL's error then quotes the failing row)."""
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    caplog.set_level(logging.DEBUG)  # last: it also sets caplog's handler level
    marker = f"private-opinion-{uuid.uuid4().hex}"
    text = f"I told nobody this: {marker}. " * 20
    good = Feedback.create(text, "positive", max_text_chars=20_000, predicted_label="positive")
    bad = Feedback(text=text, label="unsure")  # type: ignore[arg-type]
    with FeedbackStore(db_url) as store:
        assert store.submit(good) and store.submit(bad)
        assert store.flush(60)
    logged = "\n".join(
        [caplog.text]
        + [str(record.args) for record in caplog.records]
        + [record.exc_text or "" for record in caplog.records]
    )
    assert marker not in logged and "told nobody" not in logged
    # The logs do identify both rows: by id, text hash and length.
    assert good.describe() in logged
    assert f"feedback row refused: {bad.describe()}" in logged
    assert "INSERT INTO feedback" in logged  # SQLAlchemy did log its statements


def test_submit_needs_a_started_store_and_refuses_once_closed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    row = Feedback.create("a fine film", "positive", max_text_chars=100)
    with pytest.raises(RuntimeError):
        store.submit(row)
    store.start()
    store.close()
    assert not store.submit(row)
    assert store.stats().refused == 1
