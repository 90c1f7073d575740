"""Concurrent single requests are scored together, each gets its own answer."""

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from app.batching import MicroBatcher


class RecordingScorer:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, texts: Sequence[str]) -> np.ndarray:
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
    async def failing(texts: Sequence[str]) -> np.ndarray:
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


class SlowScorer:
    """Scores in another task's time, like the scoring process: a batch is out until released."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release: list[asyncio.Event] = []

    async def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        done = asyncio.Event()
        self.release.append(done)
        await done.wait()
        return np.array([len(text) / 100 for text in texts])


def test_texts_that_arrive_while_a_batch_is_out_form_the_next_batch() -> None:
    scorer = SlowScorer()

    async def main() -> list[float]:
        batcher = MicroBatcher(scorer, max_in_flight=1)
        first = [asyncio.ensure_future(batcher.probability(t)) for t in ("a", "bb")]
        await asyncio.sleep(0.01)
        assert scorer.calls == [["a", "bb"]], "the first batch is out"
        later = [asyncio.ensure_future(batcher.probability(t)) for t in ("ccc", "dddd", "e")]
        await asyncio.sleep(0.01)
        assert len(scorer.calls) == 1, "no second batch while the only slot is busy"
        scorer.release[0].set()
        await asyncio.sleep(0.01)
        assert scorer.calls[1] == ["ccc", "dddd", "e"], "the waiting texts go out together"
        assert all(task.done() for task in first)
        scorer.release[1].set()
        return await asyncio.gather(*first, *later)

    assert asyncio.run(main()) == [0.01, 0.02, 0.03, 0.04, 0.01]


def test_the_next_batch_goes_out_before_the_finished_one_is_answered() -> None:
    """The scorer must not sit idle while the event loop writes the last batch's responses."""
    scorer = SlowScorer()
    seen_when_answered: list[int] = []

    async def main() -> None:
        batcher = MicroBatcher(scorer, max_in_flight=1)
        first = asyncio.ensure_future(batcher.probability("first"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(batcher.probability("second"))
        await asyncio.sleep(0.01)
        first.add_done_callback(lambda _: seen_when_answered.append(len(scorer.calls)))
        scorer.release[0].set()
        await first
        scorer.release[1].set()
        await second

    asyncio.run(main())
    assert seen_when_answered == [2]


def test_two_slots_keep_two_batches_out() -> None:
    scorer = SlowScorer()

    async def main() -> list[float]:
        batcher = MicroBatcher(scorer, max_in_flight=2)
        tasks = [asyncio.ensure_future(batcher.probability("x"))]
        await asyncio.sleep(0.01)
        tasks += [asyncio.ensure_future(batcher.probability("yy"))]
        await asyncio.sleep(0.01)
        tasks += [asyncio.ensure_future(batcher.probability("zzz"))]
        await asyncio.sleep(0.01)
        assert scorer.calls == [["x"], ["yy"]]
        for event in scorer.release[:2]:
            event.set()
        await asyncio.sleep(0.01)
        scorer.release[2].set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(main()) == [0.01, 0.02, 0.03]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MicroBatcher(RecordingScorer(), max_in_flight=0)
