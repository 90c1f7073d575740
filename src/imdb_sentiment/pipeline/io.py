"""Deterministic, atomic file output for the stages.

DVC hashes every output into dvc.lock, so a stage must write the same bytes for the same inputs:
no timestamps, no memory addresses, no run-dependent ordering. Every writer here goes through a
temporary file and a rename, so a crash never leaves a half-written output behind.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from imdb_sentiment.model_format import npy_bytes

# zip's epoch: any fixed date keeps archives byte-stable.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


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


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_json(path: str | Path, payload: Any) -> None:
    write_bytes(path, (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode())


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd", row_group_size=16_384)


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pq.read_table(path, columns=columns).to_pandas()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name])
    return buffer.getvalue()


def save_features(path: str | Path, matrix: sp.spmatrix, labels: np.ndarray) -> None:
    """A CSR matrix and its labels in one byte-stable .npz (loadable by ``load_features``)."""
    csr = sp.csr_matrix(matrix)
    csr.sort_indices()
    arrays = {
        "data": csr.data.astype(np.float64),
        "indices": csr.indices.astype(np.int32),
        "indptr": csr.indptr.astype(np.int64),
        "shape": np.asarray(csr.shape, dtype=np.int64),
        "labels": np.asarray(labels, dtype=np.int8),
    }
    write_bytes(path, _zip_bytes({f"{k}.npy": npy_bytes(v) for k, v in arrays.items()}))


def load_features(path: str | Path) -> tuple[sp.csr_matrix, np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        matrix = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"])
        )
        return matrix, arrays["labels"].astype(np.int64)


def write_files(directory: str | Path, files: dict[str, bytes]) -> None:
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


def replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` into ``target`` with renames, so readers never see a half-written folder."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def read_files(directory: str | Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes() for path in sorted(Path(directory).iterdir()) if path.is_file()
    }
