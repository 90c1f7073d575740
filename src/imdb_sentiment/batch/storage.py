"""Where the batch flow's bytes live: filesystems for local paths and s3:// URLs alike, the
staging folder of a run, and putting a finished file in place all or nothing.

Every read and write goes through pyarrow's filesystems: its S3 client takes the endpoint and
credentials from the usual AWS settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), so
tests against a moto server run the production path. It is ready at once in a fresh process and
moves bytes without holding the GIL, which the scoring threads need. Other fsspec protocols are
reached through fsspec, wrapped for pyarrow.

Output files are first written under a hidden staging folder beside the destination (one
subfolder per run) and only then put in place by :func:`commit` (a rename on disk, a server-side
copy on S3): a reader never sees a partial file where a complete one is expected. Writing straight
to the final key would not do: pyarrow completes an S3 upload when the stream is closed, even by
an error, so a failed write would publish a truncated object. On S3, pyarrow leaves an empty
marker object for the output's folder when it deletes the staging folder (as the S3 console's
"Create folder" does).
"""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# pyarrow's S3 stream (allow_delayed_open) buffers writes under its 10 MB part size and sends them
# in one PutObject when closed. From 10 MB on it uploads parts as it goes, and completes the upload
# when the stream is closed even by an error (apache/arrow#40502): a truncated object.
SINGLE_PUT_BYTES = 5 * 1024 * 1024


def filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and path for a local path, ``file://``, ``s3://`` or fsspec URL."""
    protocol, _, rest = url.partition("://")
    if not rest:
        return _local_fs(), str(Path(url).resolve())
    if protocol == "file":
        return _local_fs(), rest
    if protocol in ("s3", "s3a"):
        return _s3_fs(*_s3_settings(rest.split("/", 1)[0])), rest
    fs, path = fsspec.core.url_to_fs(url)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


@functools.cache
def _local_fs() -> pafs.LocalFileSystem:
    return pafs.LocalFileSystem()


def _s3_settings(bucket: str) -> tuple[str | None, str | None, int]:
    """(endpoint, region, attempts) from the usual AWS settings, read on every call so that a
    changed environment gets a new client. Without an endpoint the bucket's region is looked up."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if endpoint is None:
        region = _bucket_region(bucket)
    return endpoint, region, int(os.environ.get("AWS_MAX_ATTEMPTS", "3"))


@functools.cache
def _bucket_region(bucket: str) -> str:
    try:
        return pafs.resolve_s3_region(bucket)
    except OSError:  # no permission to ask: the configured region, or the SDK's default
        return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@functools.cache
def _s3_fs(endpoint: str | None, region: str | None, attempts: int) -> pafs.S3FileSystem:
    options: dict[str, Any] = {"region": region}
    if endpoint is not None:
        scheme, _, address = endpoint.partition("://")
        options.update(endpoint_override=address.rstrip("/"), scheme=scheme)
    # Delayed open: a small file goes up in one PutObject when it is closed, not a multipart
    # upload of three requests started when it is opened.
    return pafs.S3FileSystem(
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=attempts),
        allow_delayed_open=True,
        **options,
    )


@contextmanager
def s3_errors(url: str) -> Iterator[None]:
    """pyarrow reports S3's access denied as a plain OSError; a retry cannot fix it."""
    try:
        yield
    except OSError as error:
        if "ACCESS_DENIED" in str(error) or "AccessDenied" in str(error):
            raise PermissionError(f"{url}: {error}") from error
        raise


# --- reading ------------------------------------------------------------------------------------


def read_range(url: str, start: int, stop: int) -> bytes:
    """Bytes [start, stop) of the file at ``url``, in one ranged read."""
    fs, path = filesystem(url)
    with s3_errors(url), fs.open_input_file(path) as handle:
        return handle.read_at(stop - start, start)


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with s3_errors(url), fs.open_input_file(path) as handle:
        return handle.readall()


def parquet_metadata(url: str) -> pq.FileMetaData:
    fs, path = filesystem(url)
    with s3_errors(url), fs.open_input_file(path) as handle:
        return pq.read_metadata(handle)


# --- staging and putting in place ---------------------------------------------------------------


@dataclass(frozen=True)
class OutputPaths:
    """Where one run's files go. ``output`` is a ``*.parquet`` file or a folder/prefix.

    ``staging`` holds a subfolder per run (``run``), so a run never has to clear what an
    interrupted one left before it starts writing; it removes the whole folder when it is done.
    """

    predictions: str
    csv: str
    rejects: str
    report_json: str
    report_html: str
    staging: str
    run: str = "run"

    @classmethod
    def for_output(cls, output: str, run: str = "run") -> OutputPaths:
        output = output.rstrip("/")
        if output.lower().endswith(".parquet"):
            folder, name = posixpath.split(output)
            stem = name[: -len(".parquet")]
        else:
            folder, stem = output, "predictions"
        join = (lambda name: f"{folder}/{name}") if folder else (lambda name: name)
        return cls(
            predictions=join(f"{stem}.parquet"),
            csv=join(f"{stem}.csv"),
            rejects=join(f"{stem}.rejects.parquet"),
            report_json=join(f"{stem}.report.json"),
            report_html=join(f"{stem}.report.html"),
            staging=join(f".{stem}.staging"),
            run=run,
        )

    def staged(self, final: str) -> str:
        return f"{self.staging}/{self.run}/{posixpath.basename(final)}"

    def part(self, kind: str, index: int) -> str:
        return f"{self.staging}/{self.run}/{kind}/part-{index:06d}.parquet"


def remove_tree(url: str) -> None:
    fs, path = filesystem(url)
    # No existence check first: on S3 that is two more requests on the run's last step.
    with s3_errors(url), suppress(FileNotFoundError):
        fs.delete_dir(path)


@contextmanager
def writing(url: str) -> Iterator[pa.NativeFile]:
    """An output stream at ``url``, its parent folders made first on disk."""
    fs, path = filesystem(url)
    with s3_errors(url):
        if not isinstance(fs, pafs.S3FileSystem):  # S3 has no folders; pyarrow would add markers
            fs.create_dir(posixpath.dirname(path), recursive=True)
        with fs.open_output_stream(path) as handle:
            yield handle


def write_table(table: pa.Table, url: str) -> int:
    """Write ``table`` as one Parquet file; returns the rows its footer records."""
    written: list[pq.FileMetaData] = []
    with writing(url) as handle:
        pq.write_table(table, handle, metadata_collector=written)
    return written[0].num_rows


def write_bytes(data: bytes, url: str) -> None:
    with writing(url) as handle:
        handle.write(data)


def copy(source_url: str, target_url: str) -> None:
    fs, source = filesystem(source_url)
    _, target = filesystem(target_url)
    with s3_errors(target_url):
        if not isinstance(fs, pafs.S3FileSystem):
            fs.create_dir(posixpath.dirname(target), recursive=True)
        fs.copy_file(source, target)


def commits_by_copy(fs: pafs.FileSystem) -> bool:
    """Whether ``commit`` copies on ``fs`` (an object store) rather than renaming (disk)."""
    return isinstance(fs, pafs.S3FileSystem)


def commit(staged_url: str, final_url: str) -> None:
    """Put a finished file in place: a rename on local disk, a server-side copy on S3.

    The batch flow's one way to put a file in place. On S3 a move would be that copy and a
    delete: the staged object is left for the staging folder's removal, one request for all.
    """
    fs, staged = filesystem(staged_url)
    _, final = filesystem(final_url)
    with s3_errors(final_url):
        if commits_by_copy(fs):
            fs.copy_file(staged, final)
        else:
            fs.move(staged, final)


def put_in_place(data: bytes, staged_url: str, final_url: str) -> None:
    """Write ``data`` at ``final_url`` so that nobody ever sees it half written.

    On S3, data under :data:`SINGLE_PUT_BYTES` goes straight to ``final_url``: one PutObject,
    which S3 applies whole or not at all. Anything else is written at ``staged_url`` first, then
    committed (renamed on disk, copied on S3).
    """
    if len(data) < SINGLE_PUT_BYTES and commits_by_copy(filesystem(final_url)[0]):
        write_bytes(data, final_url)
    else:
        write_bytes(data, staged_url)
        commit(staged_url, final_url)
