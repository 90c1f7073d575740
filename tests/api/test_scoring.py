"""The API's scoring processes: the same probabilities as in-process, and they survive a crash."""

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from app.scoring import ScoringPool, ScoringProcessError, _decode, _encode
from imdb_sentiment.bundle import load_bundle

TEXTS = [
    "A wonderful film, superb acting.",
    "Dull, far too long, and the plot makes no sense.",
    "Caf\u00e9 au lait \u2013 \U0001f3ac and a lone surrogate \ud800 survive the trip",
    "x",
]


def test_texts_cross_the_socket_unchanged() -> None:
    for texts in (TEXTS, [], ["", "\x00\x00", "a" * 70_000]):
        assert _decode(_encode(texts)) == texts


def test_a_scoring_process_gives_in_process_probabilities(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(model, 1)
    pool.start()
    try:
        child = pool.processes[0].pid
        assert child is not None and child != os.getpid()

        async def main() -> list[np.ndarray]:
            return [await pool.predict_proba(TEXTS), await pool.predict_proba(TEXTS[:1])]

        both, one = asyncio.run(main())
    finally:
        pool.close()
    assert both.tolist() == model.predict_proba(TEXTS).tolist()
    assert one.tolist() == model.predict_proba(TEXTS[:1]).tolist()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # close() stopped it


def test_a_killed_scoring_process_is_replaced_and_the_batch_still_scored(
    small_bundle: Path,
) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(model, 1)
    pool.start()
    try:
        first = pool.processes[0].pid
        assert first is not None

        async def main() -> np.ndarray:
            await pool.predict_proba(TEXTS)  # connected and working
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.2)
            return await pool.predict_proba(TEXTS)

        after = asyncio.run(main())
        assert after.tolist() == model.predict_proba(TEXTS).tolist()
        assert pool.processes[0].pid not in (None, first)
    finally:
        pool.close()


def test_a_scoring_failure_reaches_the_caller_and_the_process_keeps_serving(
    small_bundle: Path,
) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(model, 1)
    original = model.pipeline
    model.pipeline = None  # the child inherits a model that cannot score
    pool.start()
    model.pipeline = original
    try:

        async def main() -> None:
            with pytest.raises(ScoringProcessError, match="TypeError"):
                await pool.predict_proba(TEXTS)
            with pytest.raises(ScoringProcessError, match="TypeError"):
                await pool.predict_proba(TEXTS)  # same process, still answering

        asyncio.run(main())
    finally:
        pool.close()
