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

    async def main() -> list[np.ndarray]:
        await pool.start()
        # Several batches out at once come back in order, each to its own caller.
        return await asyncio.gather(
            pool.predict_proba(TEXTS), pool.predict_proba(TEXTS[:1]), pool.predict_proba(TEXTS[2:])
        )

    try:
        both, one, last = asyncio.run(main())
        child = pool.processes[0].pid
        assert child is not None and child != os.getpid()
        # Nothing of the parent's stays open in the child but stdio and its socket.
        assert len(list(Path(f"/proc/{child}/fd").iterdir())) == 4
    finally:
        pool.close()
    assert both.tolist() == model.predict_proba(TEXTS).tolist()
    assert one.tolist() == model.predict_proba(TEXTS[:1]).tolist()
    assert last.tolist() == model.predict_proba(TEXTS[2:]).tolist()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # close() stopped it


def test_a_killed_scoring_process_is_replaced_and_the_batch_still_scored(
    small_bundle: Path,
) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(model, 1, depth=2)
    pids: list[int | None] = []

    async def main() -> list[np.ndarray]:
        await pool.start()
        await pool.predict_proba(TEXTS)  # connected and working
        pids.append(pool.processes[0].pid)
        os.kill(pids[0], signal.SIGKILL)
        await asyncio.sleep(0.2)
        # Two batches meet the dead process: one restart, both scored by the new one.
        answers = await asyncio.gather(pool.predict_proba(TEXTS), pool.predict_proba(TEXTS[1:]))
        pids.append(pool.processes[0].pid)
        return answers

    try:
        first, second = asyncio.run(main())
    finally:
        pool.close()
    assert first.tolist() == model.predict_proba(TEXTS).tolist()
    assert second.tolist() == model.predict_proba(TEXTS[1:]).tolist()
    assert pids[1] not in (None, pids[0])


def test_a_scoring_failure_reaches_the_caller_and_the_process_keeps_serving(
    small_bundle: Path,
) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(model, 1)
    original = model.pipeline
    model.pipeline = None  # the child inherits a model that cannot score

    async def main() -> None:
        await pool.start()
        model.pipeline = original
        with pytest.raises(ScoringProcessError, match="TypeError"):
            await pool.predict_proba(TEXTS)
        with pytest.raises(ScoringProcessError, match="TypeError"):
            await pool.predict_proba(TEXTS)  # same process, still answering

    try:
        asyncio.run(main())
    finally:
        pool.close()
