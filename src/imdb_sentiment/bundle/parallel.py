"""Scoring large batches in worker processes, and the glibc allocator tuning those workers use.

Only speed lives here: each review's score depends on that review alone, so the result is the
same as in-process scoring (``tests/unit/test_bundle.py`` checks it).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from imdb_sentiment.bundle.scoring import score

# With scoring_workers > 1, batches of at least this many texts are split over worker processes;
# smaller ones (single reviews from the API) are scored in-process with no hand-off cost.
PARALLEL_MIN_BATCH = 2_000
_WORKER_PIPELINE: Any = None  # the model inside a scoring worker process
# A scoring worker serves arrays up to this size from its heap and keeps this much freed heap for
# the next piece, instead of mapping and unmapping memory for every piece.
WORKER_HEAP_KEEP_BYTES = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameters (malloc.h)


class ScoringPool:
    """Worker processes, started on first use, that score chunks of one large batch each."""

    def __init__(self, pipeline: Any, workers: int) -> None:
        self.pipeline = pipeline
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def wanted(self, count: int) -> bool:
        """Whether a batch of ``count`` texts is worth handing to the workers."""
        return self.workers > 1 and count >= PARALLEL_MIN_BATCH

    def start(
        self, texts: list[str], with_oov: bool
    ) -> Callable[[], tuple[np.ndarray, np.ndarray | None]]:
        """Start scoring a large batch in chunks over a pool of processes started once per model;
        returns the call that waits for the result.

        The tokenizer holds the GIL, so threads would not help. Workers are forked and inherit
        the loaded model (nothing is pickled but the texts); they run only numpy and regex code
        (no logging, no imports, no BLAS), so forking from a process with other threads, such as
        the batch flow's, is safe. Each review's score depends on that review alone, so the
        result is identical to in-process scoring.
        """
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_adopt_pipeline,
                    initargs=(self.pipeline,),
                )
        # Eight pieces per worker: when the last batch ends, one worker waits at most for the
        # other's last piece (~0.06 s for 5,000 texts on two workers).
        size = -(-len(texts) // (self.workers * 8))
        futures = [
            self._pool.submit(_score_chunk, texts[start : start + size], with_oov)
            for start in range(0, len(texts), size)
        ]

        def result() -> tuple[np.ndarray, np.ndarray | None]:
            parts = [future.result() for future in futures]
            probabilities = np.concatenate([part[0] for part in parts])
            return probabilities, np.concatenate([part[1] for part in parts]) if with_oov else None

        return result

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _adopt_pipeline(pipeline: Any) -> None:
    global _WORKER_PIPELINE
    _WORKER_PIPELINE = pipeline
    keep_freed_memory()


def keep_freed_memory() -> None:
    """Let this (worker) process reuse freed memory instead of returning it to the OS (glibc only).

    By default glibc hands the memory of each piece's arrays back to the OS when they are freed,
    and the next piece page-faults it all in again. Measured in the batch flow (25k reviews, two
    workers forked from the flow process): ~180k page faults and 0.35-0.45 s of system time per
    worker, 15 % of its CPU; with these thresholds, ~10k and 0.02 s.
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_TRIM_THRESHOLD, WORKER_HEAP_KEEP_BYTES)
        libc.mallopt(_M_MMAP_THRESHOLD, WORKER_HEAP_KEEP_BYTES)
    except (AttributeError, OSError, ValueError):  # not glibc: its defaults stay
        return


def _score_chunk(texts: list[str], with_oov: bool) -> tuple[np.ndarray, np.ndarray | None]:
    return score(_WORKER_PIPELINE, texts, with_oov)
