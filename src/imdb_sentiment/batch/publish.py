"""Publishing a run: join the chunks' part files in staging, then put every file in place.

When the JSON report is there, the rest of the run's files are too: it is put in place last.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pyarrow as pa
import pyarrow.parquet as pq

from imdb_sentiment.batch import storage
from imdb_sentiment.batch.score import PREDICTION_SCHEMA, REJECT_SCHEMA


class RowAccountingError(RuntimeError):
    """The rows scored, rejected and written do not add up: the run publishes nothing."""


def publish_outputs(
    parts: dict[str, list[str]],
    part_rows: dict[str, list[int]],
    reports: dict[str, bytes],
    scored: int,
    outputs: storage.OutputPaths,
    write_csv: bool,
) -> list[str]:
    """Join the parts in staging, then put every file in place, the JSON report last.

    ``parts`` are the chunks' part files of each kind (predictions, rejects) in input order, with
    the rows each holds in ``part_rows``; ``reports`` the rendered report files by final URL.
    Joining, then putting in place, happen for all files at once (on S3 each is a request or
    more). A retry starts again from the parts, which stay in staging. Returns the final URLs.
    """
    with ThreadPoolExecutor(4, thread_name_prefix="publish") as pool:
        joining = {
            outputs.predictions: pool.submit(
                concatenate_parts,
                parts["predictions"],
                PREDICTION_SCHEMA,
                outputs.staged(outputs.predictions),
                outputs.staged(outputs.csv) if write_csv else None,
                part_rows=part_rows["predictions"],
            ),
            outputs.rejects: pool.submit(
                concatenate_parts,
                parts["rejects"],
                REJECT_SCHEMA,
                outputs.staged(outputs.rejects),
                part_rows=part_rows["rejects"],
            ),
        }
        sources = {final: future.result()[1] for final, future in joining.items()}
        written = joining[outputs.predictions].result()[0]
        if written != scored:
            raise RowAccountingError(
                f"row accounting failed: {scored} rows scored but {written} written; "
                "nothing was published"
            )
        if write_csv:
            sources[outputs.csv] = outputs.staged(outputs.csv)
        putting = [
            pool.submit(storage.commit, staged, final) for final, staged in sources.items()
        ] + [
            pool.submit(storage.put_in_place, data, outputs.staged(final), final)
            for final, data in reports.items()
            if final != outputs.report_json
        ]
        for future in putting:
            future.result()
    final_report = outputs.report_json
    storage.put_in_place(reports[final_report], outputs.staged(final_report), final_report)
    storage.remove_tree(outputs.staging)  # this run's subfolder, and any an interrupted run left
    return [*sources, *reports]


def concatenate_parts(
    part_urls: Sequence[str],
    schema: pa.Schema,
    parquet_url: str,
    csv_url: str | None = None,
    part_rows: Sequence[int] | None = None,
) -> tuple[int, str]:
    """Stream part files, in order, into one Parquet file (one row group per part) and maybe CSV.

    Returns the rows and where the Parquet file is to be committed from. A lone part already is
    that file: it is not decoded and written again but committed from where it is (on disk, a
    copy at ``parquet_url``, since committing renames it). Parts stay in place either way, so a
    retried call finds them all.

    ``part_rows``: the rows each part's footer holds, as :func:`storage.write_table` reported
    them, for parts written with ``schema``. A lone part is then not read back (on S3 two
    requests less on the run's last step); otherwise its footer is read for its rows and schema.
    """
    import pyarrow.csv as pacsv

    if len(part_urls) == 1 and csv_url is None:
        if part_rows is not None:
            rows = part_rows[0]
        else:
            metadata = storage.parquet_metadata(part_urls[0])
            rows = metadata.num_rows if metadata.schema.to_arrow_schema() == schema else None
        if rows is not None:
            if not storage.commits_by_copy(storage.filesystem(part_urls[0])[0]):
                storage.copy(part_urls[0], parquet_url)
                return rows, parquet_url
            return rows, part_urls[0]
    rows = 0
    with ExitStack() as outputs:
        writer = outputs.enter_context(
            pq.ParquetWriter(outputs.enter_context(storage.writing(parquet_url)), schema)
        )
        csv_writer = None
        if csv_url is not None:
            csv_writer = outputs.enter_context(
                pacsv.CSVWriter(outputs.enter_context(storage.writing(csv_url)), schema)
            )
        for url in part_urls:
            table = pq.read_table(pa.BufferReader(storage.read_bytes(url))).cast(schema)
            writer.write_table(table)
            if csv_writer is not None:
                csv_writer.write_table(table)
            rows += table.num_rows
    return rows, parquet_url
