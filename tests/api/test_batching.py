"""Concurrent single requests are scored together, each gets its own answer."""

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from app.batching import MicroBatcher


class RecordingScorer:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([len(text) / 100 for text in texts])


def test_concurrent_texts_share_calls_and_get_their_own_answers() -> None:
    scorer = RecordingScorer()
    texts = [f"review number {'x' * n}" for n in range(50)]

    sizes: list[int] = []

    async def main() -> list[float]:
        batcher = MicroBatcher(scorer, max_batch=16, on_batch=sizes.append)
        return await asyncio.gather(*(batcher.probability(text) for text in texts))

    answers = asyncio.run(main())
    assert answers == [len(text) / 100 for text in texts]
    assert [len(call) for call in scorer.calls] == sizes == [16, 16, 16, 2]
    assert [text for call in scorer.calls for text in call] == texts


def test_a_lone_request_is_scored_alone_and_later_ones_in_new_calls() -> None:
    scorer = RecordingScorer()

    async def main() -> list[float]:
        batcher = MicroBatcher(scorer)
        return [await batcher.probability("first"), await batcher.probability("second")]

    assert asyncio.run(main()) == [0.05, 0.06]
    assert scorer.calls == [["first"], ["second"]]


def test_errors_reach_every_waiting_request_and_the_batcher_recovers() -> None:
    def failing(texts: Sequence[str]) -> np.ndarray:
        if "bad" in texts:
            raise TypeError("cannot score")
        return np.full(len(texts), 0.5)

    async def main() -> tuple[list[object], float]:
        batcher = MicroBatcher(failing)
        results = await asyncio.gather(
            batcher.probability("bad"), batcher.probability("good"), return_exceptions=True
        )
        return results, await batcher.probability("good")

    results, after = asyncio.run(main())
    assert all(isinstance(result, TypeError) for result in results)
    assert after == 0.5


def test_a_cancelled_request_does_not_disturb_the_others() -> None:
    scorer = RecordingScorer()

    async def main() -> float:
        batcher = MicroBatcher(scorer)
        gone = asyncio.ensure_future(batcher.probability("gone"))
        kept = asyncio.ensure_future(batcher.probability("kept"))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert asyncio.run(main()) == 0.04
