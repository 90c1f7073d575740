"""Cutting the input into chunks before anything is scored.

A Parquet chunk is a run of whole row groups (so no row group is read twice), a CSV chunk a byte
range that starts and ends on record boundaries (found by a quote-aware scan, so reviews with
quoted newlines stay whole). Each :class:`ChunkSpec` says which rows it holds (``first_row``,
``rows``) and which bytes of the file hold them (``byte_range``), so any worker, local or on a Dask
cluster, reads its own chunk from the source in one request (see :mod:`.read`).
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from imdb_sentiment.batch.storage import filesystem, read_range, s3_errors

TEXT_COLUMNS = ("review", "text")
ID_COLUMNS = ("id", "review_id")
LABEL_COLUMNS = ("sentiment", "label")
FEEDBACK_COLUMNS = ("predicted_label", "model_version")  # as ``feedback export`` writes them
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# A chunk (one Prefect task, one read request) is decoded and scored this many rows at a time, so
# scoring starts after the first batch is decoded rather than the whole chunk.
BATCH_ROWS = 5_000


class InputError(ValueError):
    """The input cannot be scored as given (missing file, unknown format, missing column)."""


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the text, the optional id and the optional true label."""

    text: str
    id: str | None = None
    label: str | None = None
    # A feedback export's columns: the label users were shown and the version that gave it.
    shown: str | None = None
    version: str | None = None

    @property
    def names(self) -> list[str]:
        named = (self.text, self.id, self.label, self.shown, self.version)
        return [name for name in named if name is not None]


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk of the input: rows [first_row, first_row + rows), stored in ``byte_range``.

    Rows count records of the input (0 is the first after a CSV's header); ``byte_range`` is
    [start, stop) in bytes of the file: a CSV chunk's records, or a Parquet chunk's column data.
    """

    index: int
    url: str
    format: str
    columns: Columns
    first_row: int
    rows: int
    byte_range: tuple[int, int]
    # Rows decoded and scored at a time: a row group larger than a chunk is read in batches.
    batch_rows: int
    csv_header: bytes = b""
    # Parquet: the file's footer, so a chunk needs one ranged read of its own bytes.
    parquet_footer: bytes = field(default=b"", repr=False)
    row_groups: tuple[int, int] = (0, 0)  # [first, last)


@dataclass(frozen=True)
class InputPlan:
    url: str
    format: str
    columns: Columns
    rows: int
    bytes: int
    chunks: list[ChunkSpec] = field(default_factory=list)


def input_format(url: str) -> str:
    suffix = posixpath.splitext(url.split("?", 1)[0])[1].lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot tell the format of {url}: name it *.csv or *.parquet "
            f"(got {suffix or 'no extension'!r})"
        )
    return FORMATS[suffix]


def resolve_columns(
    available: Sequence[str],
    url: str,
    text: str | None = None,
    id: str | None = None,
    label: str | None = None,
) -> Columns:
    """Pick the text/id/label columns: the names given, else the first known name present."""
    present = set(available)

    def choose(role: str, given: str | None, candidates: tuple[str, ...], required: bool):
        if given is not None:
            if given not in present:
                raise InputError(
                    f"{url} has no {role} column {given!r}; its columns are {sorted(present)}"
                )
            return given
        found = next((name for name in candidates if name in present), None)
        if found is None and required:
            raise InputError(
                f"{url} has no review text column: expected one of {list(candidates)} "
                f"(or pass --text-column); its columns are {sorted(present)}"
            )
        return found

    chosen_label = choose("label", label, LABEL_COLUMNS, required=False)
    # Live feedback figures need both feedback columns and the users' label beside them.
    feedback = chosen_label is not None and set(FEEDBACK_COLUMNS) <= present
    return Columns(
        text=choose("text", text, TEXT_COLUMNS, required=True),
        id=choose("id", id, ID_COLUMNS, required=False),
        label=chosen_label,
        shown=FEEDBACK_COLUMNS[0] if feedback else None,
        version=FEEDBACK_COLUMNS[1] if feedback else None,
    )


def plan_input(url: str, chunk_rows: int, **column_names: str | None) -> InputPlan:
    """Check the input exists and has a text column, and cut it into chunks of ``chunk_rows``."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    fmt = input_format(url)
    with s3_errors(url), _open_input(url) as handle:
        if fmt == "parquet":
            return _plan_parquet(url, handle, chunk_rows, column_names)
        return _plan_csv(url, handle, chunk_rows, column_names)


def _open_input(url: str) -> pa.NativeFile:
    """The input file, opened; a clear InputError if there is no such file.

    No file info is asked for first: on S3 opening already learns the size, so that is one
    request less. Only a failed open asks why.
    """
    fs, path = filesystem(url)
    try:
        return fs.open_input_file(path)
    except OSError as error:
        if fs.get_file_info(path).type != pafs.FileType.File:
            raise InputError(f"input {url} does not exist (or is not a file)") from error
        raise


def _plan_parquet(
    url: str, handle: pa.NativeFile, chunk_rows: int, column_names: Mapping[str, str | None]
) -> InputPlan:
    try:
        metadata = pq.ParquetFile(handle).metadata
    except pa.ArrowInvalid as error:
        raise InputError(f"{url} is not a readable Parquet file: {error}") from error
    names = metadata.schema.to_arrow_schema().names
    columns = resolve_columns(names, url, **column_names)
    rows = metadata.num_rows
    footer_file = io.BytesIO()
    metadata.write_metadata_file(footer_file)
    footer = footer_file.getvalue()  # one copy, shared by every chunk
    group_rows = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]

    def byte_range(first: int, last: int) -> tuple[int, int]:
        """Bytes of the wanted columns in row groups [first, last)."""
        spans = [
            _column_chunk_span(metadata.row_group(g).column(c))
            for g in range(first, last)
            for c in range(metadata.num_columns)
            if metadata.row_group(g).column(c).path_in_schema.split(".")[0] in columns.names
        ]
        return min(s for s, _ in spans), max(e for _, e in spans)

    # A chunk is a run of whole row groups of at most chunk_rows rows, so no row group is read or
    # decoded twice; a larger row group is a chunk of its own, decoded chunk_rows at a time.
    groups: list[tuple[int, int]] = []  # [first, last) row group of each chunk
    first = held = 0
    for group, count in enumerate(group_rows):
        if group > first and held + count > chunk_rows:
            groups.append((first, group))
            first, held = group, 0
        held += count
    if group_rows:
        groups.append((first, len(group_rows)))
    chunks = []
    first_row = 0
    for first, last in groups:
        count = sum(group_rows[first:last])
        if count == 0:
            continue
        chunks.append(
            ChunkSpec(
                index=len(chunks),
                url=url,
                format="parquet",
                columns=columns,
                first_row=first_row,
                rows=count,
                byte_range=byte_range(first, last),
                batch_rows=min(chunk_rows, BATCH_ROWS),
                parquet_footer=footer,
                row_groups=(first, last),
            )
        )
        first_row += count
    return InputPlan(url, "parquet", columns, rows, handle.size(), chunks)


def _column_chunk_span(column: Any) -> tuple[int, int]:
    start = column.data_page_offset
    if column.has_dictionary_page and column.dictionary_page_offset:
        start = min(start, column.dictionary_page_offset)
    return start, start + column.total_compressed_size


def csv_records(handle: Any) -> Iterator[tuple[int, int]]:
    """(start offset, end offset) of each CSV record; a newline inside quotes does not end one.

    RFC 4180 escapes a quote by doubling it, so a record is complete exactly when the number of
    quote characters seen since its start is even. Blank lines are skipped, as pandas does.
    """
    offset = 0
    start = 0
    quotes = 0
    for line in handle:
        if quotes == 0 and line.strip(b"\r\n") == b"":
            offset += len(line)
            start = offset
            continue
        quotes += line.count(b'"')
        offset += len(line)
        if quotes % 2 == 0:
            yield start, offset
            start = offset
            quotes = 0
    if offset > start:
        yield start, offset


def _plan_csv(
    url: str, handle: pa.NativeFile, chunk_rows: int, column_names: Mapping[str, str | None]
) -> InputPlan:
    spans: list[tuple[int, int, int]] = []  # (first byte, end byte, records) of each chunk
    records = csv_records(io.BufferedReader(_RawReader(handle), buffer_size=8 << 20))
    header_span = next(records, None)
    if header_span is None:
        raise InputError(f"{url} is empty: expected a header row naming the columns")
    # A read of its own: arrow refuses a positional read on a file that is being streamed.
    header = read_range(url, *header_span).removeprefix(b"\xef\xbb\xbf")
    names = list(pd.read_csv(io.BytesIO(header), nrows=0).columns)
    columns = resolve_columns(names, url, **column_names)
    count = start = stop = 0
    for record_start, record_stop in records:
        if count == 0:
            start = record_start
        count, stop = count + 1, record_stop
        if count == chunk_rows:
            spans.append((start, stop, count))
            count = 0
    if count:
        spans.append((start, stop, count))
    if not header.endswith(b"\n"):
        header += b"\n"
    chunks = []
    first_row = 0
    for index, (start, stop, count) in enumerate(spans):
        chunks.append(
            ChunkSpec(
                index=index,
                url=url,
                format="csv",
                columns=columns,
                first_row=first_row,
                rows=count,
                byte_range=(start, stop),
                batch_rows=min(chunk_rows, BATCH_ROWS),
                csv_header=header,
            )
        )
        first_row += count
    return InputPlan(url, "csv", columns, first_row, handle.size(), chunks)


class _RawReader(io.RawIOBase):
    """A pyarrow input stream as a Python raw stream, so that io.BufferedReader can split lines."""

    def __init__(self, stream: pa.NativeFile) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._stream.readinto(buffer)
