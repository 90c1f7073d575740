"""Every stored feedback row to one Parquet file, on disk or at an ``s3://`` URL.

The file is what the batch flow reads as input (``text``, ``id`` and ``label`` columns: it scores
the text and measures accuracy against the users' labels) and what a DVC stage can depend on:
one fixed schema, rows oldest first then by id, so the same rows give the same table.

It goes through the batch flow's I/O (pyarrow filesystems, the usual AWS settings and endpoint),
and is written beside the destination first and then put in place, so a reader never sees half
a file and a failed export leaves any earlier one untouched.
"""

from __future__ import annotations

import posixpath
import uuid
from contextlib import suppress

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlalchemy import Engine

from imdb_sentiment.batch.storage import commit, filesystem
from imdb_sentiment.feedback.database import iter_feedback
from imdb_sentiment.feedback.record import Feedback

EXPORT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("predicted_label", pa.string()),
        ("probability_positive", pa.float64()),
        ("model_version", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)
SUFFIXES = (".parquet", ".pq")


def _table(rows: list[Feedback]) -> pa.Table:
    return pa.table(
        {
            "id": [str(row.id) for row in rows],
            "text": [row.text for row in rows],
            "label": [row.label for row in rows],
            "predicted_label": [row.predicted_label for row in rows],
            "probability_positive": [row.probability_positive for row in rows],
            "model_version": [row.model_version for row in rows],
            "created_at": [row.created_at for row in rows],
        },
        schema=EXPORT_SCHEMA,
    )


def export_feedback(engine: Engine, output: str, *, batch_rows: int = 10_000) -> int:
    """Write every row of the store behind ``engine`` to ``output`` (a ``.parquet`` path or
    ``s3://`` URL), one row group per ``batch_rows`` rows; returns the rows written."""
    if not output.lower().endswith(SUFFIXES):
        raise ValueError(f"{output}: the export is a Parquet file, name it *.parquet")
    staged = posixpath.join(
        posixpath.dirname(output), f".feedback-export-{uuid.uuid4().hex}.parquet"
    )
    fs, staged_path = filesystem(staged)
    if not isinstance(fs, pafs.S3FileSystem):  # S3 has no folders; pyarrow would add markers
        fs.create_dir(posixpath.dirname(staged_path), recursive=True)
    rows = 0
    try:
        with (
            fs.open_output_stream(staged_path) as handle,
            pq.ParquetWriter(handle, EXPORT_SCHEMA) as writer,
        ):
            for part in iter_feedback(engine, batch_rows=batch_rows):
                writer.write_table(_table(part))
                rows += len(part)
        commit(staged, output)
    finally:
        # After a rename there is nothing left; after an S3 copy, or a failure, the staged file.
        with suppress(FileNotFoundError, OSError):
            fs.delete_file(staged_path)
    return rows


def read_export(url: str) -> pa.Table:
    """An exported file, as written (for checks and tests)."""
    fs, path = filesystem(url)
    with fs.open_input_file(path) as handle:
        return pq.read_table(handle)
