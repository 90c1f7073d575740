"""Ingest: the IMDB archive (downloaded or local) -> one normalised, byte-stable review table.

The table is the same bytes whichever archive it came from (the official download or the offline
labeled mirror): rows are sorted, ``train/unsup`` and the bag-of-words files are ignored, and
nothing about the source is recorded in it.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from collections import defaultdict
from pathlib import Path

import pandas as pd

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.training.io import write_parquet

log = logging.getLogger(__name__)

ARCHIVE_ENV = "IMDB_ARCHIVE"
SPLITS = ("train", "test")
LABEL_DIRS = ("neg", "pos")
REVIEW_MEMBER = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
URLS_MEMBER = re.compile(r"^aclImdb/(train|test)/urls_(pos|neg)\.txt$")
MOVIE_ID = re.compile(r"/title/(tt\d+)")
COLUMNS = ("review_id", "split", "label", "rating", "movie_id", "text")


class ArchiveError(ImdbSentimentError, RuntimeError):
    """The archive is missing, truncated or not laid out like the IMDB archive."""


def resolve_archive(url: str, download_dir: Path, env: dict[str, str] | None = None) -> Path:
    """The local archive to read: ``$IMDB_ARCHIVE`` if set, else a (cached) download of ``url``."""
    env = os.environ if env is None else env
    local = env.get(ARCHIVE_ENV, "").strip()
    if local:
        path = Path(local).expanduser()
        if not path.is_file():
            raise ArchiveError(f"{ARCHIVE_ENV}={local}: no such file")
        return path
    target = download_dir / Path(url.split("?")[0]).name
    if target.is_file():
        log.info("using the archive downloaded earlier: %s", target)
        return target
    download(url, target)
    return target


def download(
    url: str, target: Path, attempts: int = 4, retry_wait: float = 2.0, chunk_size: int = 1 << 20
) -> None:
    """Download to ``target`` with a progress bar, resuming a partial ``.part`` file on retry.

    The file only takes its final name once its size matches what the server announced.
    """
    from tqdm import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    for attempt in range(1, attempts + 1):
        have = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (params allow http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                resumed = response.status == 206
                if not resumed:
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                mode = "ab" if resumed else "wb"
                with (
                    partial.open(mode) as out,
                    tqdm(
                        total=total, initial=have, unit="B", unit_scale=True, desc=target.name
                    ) as bar,
                ):
                    while chunk := response.read(chunk_size):
                        out.write(chunk)
                        bar.update(len(chunk))
            size = partial.stat().st_size
            if total is not None and size != total:
                raise OSError(f"got {size} of {total} bytes")
            partial.replace(target)
            return
        except (OSError, http.client.HTTPException) as error:
            if isinstance(error, urllib.error.HTTPError) and 400 <= error.code < 500:
                if error.code == 416:  # our partial file is longer than the remote one: start over
                    partial.unlink(missing_ok=True)
                    continue
                raise ArchiveError(f"download of {url} failed: HTTP {error.code}") from error
            if attempt == attempts:
                raise ArchiveError(
                    f"download of {url} failed after {attempts} attempts: {error}"
                ) from error
            wait = retry_wait * attempt
            log.warning("download interrupted (%s); resuming in %ss", error, wait)
            time.sleep(wait)


def read_archive(path: Path) -> pd.DataFrame:
    """Parse the labeled reviews and their movie ids out of an aclImdb tar.gz, in one pass."""
    reviews: list[tuple[str, str, int, int, str]] = []
    urls: dict[tuple[str, str], list[str]] = {}
    try:
        with tarfile.open(path, mode="r|gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                if match := REVIEW_MEMBER.match(member.name):
                    split, label_dir, review_number, rating = match.groups()
                    text = _read_member(archive, member)
                    reviews.append((split, label_dir, int(review_number), int(rating), text))
                elif match := URLS_MEMBER.match(member.name):
                    urls[match.groups()] = _read_member(archive, member).splitlines()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ArchiveError(f"{path} is truncated or not a gzip tar archive ({error})") from error
    return _to_table(path, reviews, urls)


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = archive.extractfile(member)
    if handle is None:
        raise ArchiveError(f"cannot read {member.name}")
    return handle.read().decode("utf-8")


def _to_table(
    path: Path,
    reviews: list[tuple[str, str, int, int, str]],
    urls: dict[tuple[str, str], list[str]],
) -> pd.DataFrame:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for split, label_dir, *_ in reviews:
        counts[split, label_dir] += 1
    missing = [f"aclImdb/{s}/{d}/" for s in SPLITS for d in LABEL_DIRS if not counts[s, d]]
    if missing:
        raise ArchiveError(
            f"{path} is not laid out like the IMDB archive: no reviews under {', '.join(missing)}"
        )
    missing_urls = [
        f"aclImdb/{s}/urls_{d}.txt" for s in SPLITS for d in LABEL_DIRS if (s, d) not in urls
    ]
    if missing_urls:
        raise ArchiveError(f"{path} lacks {', '.join(missing_urls)} (needed for movie ids)")

    rows = []
    for split, label_dir, number, rating, text in sorted(reviews, key=lambda r: r[:3]):
        positive = label_dir == "pos"
        if (positive and rating < 7) or (not positive and rating > 4):
            raise ArchiveError(
                f"{path}: {split}/{label_dir}/{number}_{rating}.txt has a rating that contradicts its label"
            )
        lines = urls[split, label_dir]
        if number >= len(lines):
            raise ArchiveError(
                f"{path}: aclImdb/{split}/urls_{label_dir}.txt has no line for review {number}"
            )
        movie = MOVIE_ID.search(lines[number])
        if movie is None:
            raise ArchiveError(
                f"{path}: no IMDB title id in line {number + 1} of urls_{label_dir}.txt"
            )
        rows.append(
            (f"{split}_{label_dir}_{number}", split, int(positive), rating, movie.group(1), text)
        )

    table = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    return table.astype(
        {
            "review_id": "string",
            "split": "string",
            "label": "int8",
            "rating": "int8",
            "movie_id": "string",
            "text": "string",
        }
    )


def ingest(
    url: str, output: Path, download_dir: Path, env: dict[str, str] | None = None
) -> pd.DataFrame:
    archive = resolve_archive(url, download_dir, env)
    log.info("reading %s", archive)
    table = read_archive(archive)
    write_parquet(table, output)
    log.info("wrote %d reviews to %s", len(table), output)
    return table
