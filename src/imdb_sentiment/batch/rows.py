"""Checks on the rows of a batch: which texts can be scored, the true labels, the ids."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imdb_sentiment.labels import LABELS

REJECT_REASONS = ("missing_text", "empty_text", "not_text")
# What a label column may hold for each class: its name, a short name, or its number.
LABEL_VALUES = {
    alias: code for code, name in enumerate(LABELS) for alias in (name, name[:3], str(code))
}


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT: what CSV empties and Parquet nulls turn into."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and other containers are values, not missing
        return False


def reject_reasons(values: pd.Series) -> np.ndarray:
    """Why each value cannot be scored (None where it can)."""
    reasons = np.full(len(values), None, dtype=object)
    for position, value in enumerate(values.tolist()):
        if type(value) is str:  # nearly every row: skip the per-value pd.isna, which costs more
            if not value.strip():
                reasons[position] = "empty_text"
        elif is_missing(value):
            reasons[position] = "missing_text"
        elif not isinstance(value, str):
            reasons[position] = "not_text"
        elif not value.strip():
            reasons[position] = "empty_text"
    return reasons


def _label_code(value: Any) -> int | None:
    key = str(int(value)) if isinstance(value, (bool, int, np.integer)) else str(value)
    return LABEL_VALUES.get(key.strip().lower())


def true_labels(values: pd.Series) -> tuple[np.ndarray, int]:
    """0/1 per row (-1 where missing or unrecognised) and how many were present but unrecognised."""
    labels = np.full(len(values), -1, dtype=np.int64)
    unrecognized = 0
    codes: dict[tuple[type, Any], int | None] = {}  # a label column holds a handful of values
    for position, value in enumerate(values.tolist()):
        try:
            key = (type(value), value)
            code = codes[key] if key in codes else codes.setdefault(key, _label_code(value))
        except TypeError:  # unhashable, such as a list
            code = _label_code(value)
        if code is None:
            if not is_missing(value):
                unrecognized += 1
        else:
            labels[position] = code
    return labels, unrecognized


def row_ids(frame: pd.DataFrame, id_column: str | None) -> np.ndarray:
    """Each row's id as a string (None where missing); the input row number without an id column."""
    if id_column is None:
        return frame.index.astype(str).to_numpy(object)
    return np.array(
        [
            value if type(value) is str else None if is_missing(value) else str(value)
            for value in frame[id_column].tolist()
        ],
        dtype=object,
    )
