"""Deterministic, atomic file output for the stages.

DVC hashes every output into dvc.lock, so a stage must write the same bytes for the same inputs:
no timestamps, no memory addresses, no run-dependent ordering. Every writer here goes through a
temporary file and a rename, so a crash never leaves a half-written output behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from imdb_sentiment.files import (
    atomic_path,
    atomic_write,
    atomic_write_dir,
    deterministic_zip,
    npy_bytes,
)


def write_json(path: str | Path, payload: Any) -> None:
    atomic_write(path, (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode())


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd", row_group_size=16_384)


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pq.read_table(path, columns=columns).to_pandas()


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
    atomic_write(path, deterministic_zip({f"{k}.npy": npy_bytes(v) for k, v in arrays.items()}))


def load_features(path: str | Path) -> tuple[sp.csr_matrix, np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        matrix = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"])
        )
        return matrix, arrays["labels"].astype(np.int64)


def write_files(directory: str | Path, files: dict[str, bytes]) -> None:
    """Write a folder of files so that it appears whole or not at all."""
    atomic_write_dir(directory, files)


def read_files(directory: str | Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes() for path in sorted(Path(directory).iterdir()) if path.is_file()
    }
