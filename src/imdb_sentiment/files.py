"""Writing files so readers never see half of one, and zips that are the same bytes every time.

The one implementation of write-to-a-temporary-then-rename and of deterministic zips: stages,
the registry cache and the Beanstalk source bundle all use these.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# zip's epoch: any fixed date keeps archives byte-stable.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        Path(temporary).chmod(0o644)  # mkstemp makes 0600; outputs are ordinary files
        Path(temporary).replace(target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` into ``target`` with renames, so readers never see a half-written folder."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_dir(directory: str | Path, files: Mapping[str, bytes]) -> None:
    """Write a folder of files so that it appears whole or not at all."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        staging.chmod(0o755)  # mkdtemp makes 0700
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def deterministic_zip(members: Mapping[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of ``members`` (name -> bytes) in name order, with fixed dates and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = compression
            archive.writestr(info, members[name])
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """One array as .npy bytes (no pickle), the format of every array the stages write."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()
