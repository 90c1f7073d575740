"""Distinct values of a non-negative int64 array, in order: the step that puts a batch's (row,
column) cells in row-major order and merges repeated n-grams (:mod:`imdb_sentiment.ngrams`)."""

from __future__ import annotations

import numpy as np

# Sorts of at least this many values below 2**32 are radix sorts (np.sort is faster below).
RADIX_SORT_FROM = 1024


def sorted_unique(
    values: np.ndarray, with_counts: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Distinct non-negative values in order, with their counts (None unless ``with_counts``).

    NumPy 2.4's ``np.unique`` without return flags takes a hash-based path that was measured
    ~50x slower than a sort on 2.5M int64 keys here. From 1,024 values below 2**32 (a scoring
    chunk's (row, column) cells) a radix sort is faster: ~2.5x on 60k of them.
    """
    if len(values) == 0:
        return values, np.zeros(0, dtype=np.int64) if with_counts else None
    if len(values) >= RADIX_SORT_FROM and int(values.max()) < 1 << 32:
        ordered = values[_radix_order(values)]
    else:
        ordered = np.sort(values)
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = first.nonzero()[0]
    if not with_counts:
        return ordered[starts], None
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def _radix_order(values: np.ndarray) -> np.ndarray:
    """The permutation that sorts ``values`` (non-negative, < 2**32): the low 16 bits first, then
    the high ones, each a stable argsort of uint16 (which numpy does as a radix sort)."""
    order = np.argsort((values & 0xFFFF).astype(np.uint16), kind="stable")
    high = (values[order] >> 16).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]
