"""Ingest: one byte-stable table from any copy of the archive; clear errors for broken ones."""

from __future__ import annotations

import http.server
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from helpers.support import ROOT, sample_members, write_archive

from imdb_sentiment.training.ingest import (
    COLUMNS,
    ArchiveError,
    download,
    ingest,
    read_archive,
    resolve_archive,
)


def test_table_schema_and_content(sample_archive: Path) -> None:
    table = read_archive(sample_archive)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 480 and table["review_id"].is_unique
    assert table.groupby(["split", "label"]).size().to_dict() == {
        ("test", 0): 120,
        ("test", 1): 120,
        ("train", 0): 120,
        ("train", 1): 120,
    }
    assert table["movie_id"].str.fullmatch(r"tt\d+").all()
    assert ((table["label"] == 1) == (table["rating"] >= 7)).all()
    assert ((table["label"] == 0) == (table["rating"] <= 4)).all()
    first = table.iloc[0]
    assert (
        first["review_id"] == "test_neg_0"
        and first["text"]
        == sample_members()[
            next(name for name in sample_members() if name.startswith("aclImdb/test/neg/0_"))
        ]
    )


def test_official_archive_and_mirror_give_identical_bytes(
    sample_archive: Path, tmp_path: Path
) -> None:
    members = dict(sample_members())
    # What the official archive has and the labeled mirror lacks; ingest must ignore all of it.
    members |= {
        "aclImdb/train/unsup/0_0.txt": "an unlabeled review",
        "aclImdb/train/urls_unsup.txt": "http://www.imdb.com/title/tt0000001/usercomments\n",
        "aclImdb/train/labeledBow.feat": "0 9:1\n",
        "aclImdb/imdb.vocab": "the\n",
        "aclImdb/README": "readme",
    }
    order = list(members)
    random.Random(7).shuffle(order)
    official = write_archive(tmp_path / "official.tar.gz", members, order)

    ingest(
        "https://example.invalid/unused",
        tmp_path / "a.parquet",
        tmp_path,
        env={"IMDB_ARCHIVE": str(sample_archive)},
    )
    ingest(
        "https://example.invalid/unused",
        tmp_path / "b.parquet",
        tmp_path,
        env={"IMDB_ARCHIVE": str(official)},
    )
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def _broken(tmp_path: Path, drop: str = "", **replace: str) -> Path:
    members = {
        name: text
        for name, text in sample_members().items()
        if not (drop and name.startswith(drop))
    }
    members.update({name.replace("__", "/"): text for name, text in replace.items()})
    return write_archive(tmp_path / "broken.tar.gz", members)


@pytest.mark.parametrize(
    ("make_archive", "message"),
    [
        (lambda tmp, good: tmp / "absent.tar.gz", "IMDB_ARCHIVE=.*absent.tar.gz: no such file"),
        (
            lambda tmp, good: _write(
                tmp / "half.tar.gz", good.read_bytes()[: good.stat().st_size // 2]
            ),
            "half.tar.gz is truncated or not a gzip tar archive",
        ),
        (
            lambda tmp, good: _write(tmp / "x.tar.gz", b"<html>not found</html>"),
            "is truncated or not a gzip tar archive",
        ),
        (
            lambda tmp, good: _broken(tmp, drop="aclImdb/test/neg/"),
            r"not laid out like the IMDB archive: no reviews under aclImdb/test/neg/",
        ),
        (
            lambda tmp, good: _broken(tmp, drop="aclImdb/train/urls_pos"),
            r"lacks aclImdb/train/urls_pos\.txt",
        ),
        (
            lambda tmp, good: _broken(
                tmp, **{"aclImdb__train__pos__0_2.txt": "rated 2 but filed as positive"}
            ),
            "rating that contradicts its label",
        ),
    ],
    ids=[
        "missing",
        "truncated",
        "not-gzip",
        "missing-folder",
        "missing-urls",
        "label-rating-mismatch",
    ],
)
def test_broken_archives_fail_clearly_and_write_nothing(
    tmp_path: Path, sample_archive: Path, make_archive, message: str
) -> None:
    archive = make_archive(tmp_path, sample_archive)
    output = tmp_path / "out" / "reviews.parquet"
    with pytest.raises(ArchiveError, match=message):
        ingest(
            "https://example.invalid/unused", output, tmp_path, env={"IMDB_ARCHIVE": str(archive)}
        )
    assert not output.parent.exists() or not any(output.parent.iterdir())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_stage_prints_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    truncated = _write(tmp_path / "cut.tar.gz", b"\x1f\x8b\x08\x00garbage")
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "ingest.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "IMDB_ARCHIVE": str(truncated)},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith(
        "is truncated or not a gzip tar archive (empty file)"
    )
    assert not (tmp_path / "data" / "raw" / "reviews.parquet").exists()


class _FlakyRangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file with HTTP Range support; the first full request is cut off halfway."""

    payload: ClassVar[bytes] = b""
    requests: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        if self.path != "/aclImdb_v1.tar.gz":
            self.send_error(404)
            return
        requested = self.headers.get("Range")
        type(self).requests.append(requested)
        start = int(requested.removeprefix("bytes=").rstrip("-")) if requested else 0
        body = self.payload[start:]
        self.send_response(206 if requested else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if len(type(self).requests) == 1:
            self.wfile.write(body[: len(body) // 2])  # then drop the connection
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_server(sample_archive: Path) -> Iterator[str]:
    _FlakyRangeHandler.payload = sample_archive.read_bytes()
    _FlakyRangeHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyRangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_resumes_after_a_dropped_connection(
    flaky_server: str, sample_archive: Path, tmp_path: Path
) -> None:
    target = tmp_path / "aclImdb_v1.tar.gz"
    download(f"{flaky_server}/aclImdb_v1.tar.gz", target, retry_wait=0)
    assert target.read_bytes() == sample_archive.read_bytes()
    half = len(sample_archive.read_bytes()) // 2
    assert _FlakyRangeHandler.requests == [None, f"bytes={half}-"]
    assert not (tmp_path / "aclImdb_v1.tar.gz.part").exists()


def test_downloaded_archive_is_reused(flaky_server: str, tmp_path: Path) -> None:
    url = f"{flaky_server}/aclImdb_v1.tar.gz"
    first = resolve_archive(url, tmp_path, env={})
    count = len(_FlakyRangeHandler.requests)
    assert resolve_archive(url, tmp_path, env={}) == first
    assert len(_FlakyRangeHandler.requests) == count
    assert len(read_archive(first)) == 480


def test_download_http_error_is_clear(flaky_server: str, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="HTTP 404"):
        download(f"{flaky_server}/wrong.tar.gz", tmp_path / "wrong.tar.gz", retry_wait=0)
    assert not (tmp_path / "wrong.tar.gz").exists()


def test_parquet_round_trip_keeps_types(sample_archive: Path, tmp_path: Path) -> None:
    table = ingest(
        "https://example.invalid/unused",
        tmp_path / "r.parquet",
        tmp_path,
        env={"IMDB_ARCHIVE": str(sample_archive)},
    )
    again = pd.read_parquet(tmp_path / "r.parquet")
    pd.testing.assert_frame_equal(table, again)
