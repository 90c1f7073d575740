"""Reading one planned chunk: one ranged read of its bytes, decoded a batch of rows at a time.

So neither the flow nor a worker ever holds more than a chunk's bytes and a batch of text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from imdb_sentiment.batch.plan import ChunkSpec, InputError
from imdb_sentiment.batch.storage import read_range


def iter_chunk(spec: ChunkSpec) -> Iterator[pd.DataFrame]:
    """The chunk's text/id/label columns, as objects, in input order (index = input row number),
    in frames of at most ``spec.batch_rows`` rows."""
    wanted = spec.columns.names
    frames: Iterator[pd.DataFrame]
    data = read_range(spec.url, *spec.byte_range)
    if spec.format == "parquet":
        # One ranged read of the chunk's bytes; the footer came with the plan. (Reading the first
        # row group alone, then the rest, started no scores earlier on two busy cores, and cost a
        # request more per chunk.)
        frames = _parquet_frames(spec, data, wanted)
    else:
        whole = pd.read_csv(
            io.BytesIO(spec.csv_header + data),
            usecols=wanted,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
        )
        step = spec.batch_rows or max(len(whole), 1)
        frames = (whole.iloc[start : start + step] for start in range(0, max(len(whole), 1), step))
    row = spec.first_row
    for frame in frames:
        frame.index = pd.RangeIndex(row, row + len(frame))
        row += len(frame)
        if row - spec.first_row > spec.rows:
            break
        yield frame
    if row - spec.first_row != spec.rows:
        raise InputError(
            f"{spec.url}: chunk {spec.index} should hold {spec.rows} rows but "
            f"{row - spec.first_row} were read; the file changed while it was being scored"
        )


def _parquet_frames(spec: ChunkSpec, data: bytes, columns: list[str]) -> Iterator[pd.DataFrame]:
    start = spec.byte_range[0]
    try:
        metadata = pq.read_metadata(pa.BufferReader(spec.parquet_footer))
        parquet = pq.ParquetFile(_FileWindow(data, start), metadata=metadata)
        batches = parquet.iter_batches(
            batch_size=max(spec.batch_rows, 1),
            row_groups=range(*spec.row_groups),
            columns=columns,
        )
        for batch in batches:
            yield batch.to_pandas().astype(object)
    except (pa.ArrowException, OSError) as error:
        raise InputError(
            f"{spec.url}: chunk {spec.index} cannot be decoded from the bytes planned for it "
            f"({error}); the file changed while it was being scored"
        ) from error


class _FileWindow(io.RawIOBase):
    """Bytes [offset, offset + len(data)) of a file, readable at their positions in that file."""

    def __init__(self, data: bytes, offset: int) -> None:
        self._data, self._offset, self._position = memoryview(data), offset, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = 0) -> int:
        end = self._offset + len(self._data)
        self._position = (position, self._position + position, end + position)[whence]
        return self._position

    def read(self, size: int = -1) -> memoryview:
        # pyarrow reads through read() and takes any buffer: a view of the bytes costs no copy.
        start = self._position - self._offset
        if start < 0 or start > len(self._data):
            raise OSError(f"read at byte {self._position} is outside the chunk's byte range")
        view = self._data[start:] if size < 0 else self._data[start : start + size]
        self._position += len(view)
        return view

    def readinto(self, buffer: Any) -> int:
        view = self.read(len(buffer))
        buffer[: len(view)] = view
        return len(view)
