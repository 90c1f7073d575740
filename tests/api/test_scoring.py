"""The API's scoring processes: the same answers as in-process; they survive a crash, a hang
(deadline, then replaced) and a failing job, and leave no unretrieved exception behind."""

import asyncio
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from app.jobs import BATCH, EXPLAIN, Jobs, decode_answer, decode_texts, encode_texts
from app.schemas import request_models
from app.scoring import ScoringPool, ScoringProcessError, ScoringTimeoutError
from imdb_sentiment.bundle import SentimentModel, load_bundle

_, BatchRequest = request_models(max_text_chars=100, max_batch_size=4)


def _jobs(model: SentimentModel) -> Jobs:
    return Jobs(model, BatchRequest, top_k=3)


TEXTS = [
    "A wonderful film, superb acting.",
    "Dull, far too long, and the plot makes no sense.",
    "Caf\u00e9 au lait \u2013 \U0001f3ac and a lone surrogate \ud800 survive the trip",
    "x",
]


def test_texts_cross_the_socket_unchanged() -> None:
    for texts in (TEXTS, [], ["", "\x00\x00", "a" * 70_000]):
        assert decode_texts(encode_texts(texts)) == texts


def test_a_scoring_process_gives_in_process_probabilities(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(_jobs(model), 1)

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
    pool = ScoringPool(_jobs(model), 1, depth=2)
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
    pool = ScoringPool(_jobs(model), 1)
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


def _unretrieved(loop: asyncio.AbstractEventLoop, found: list[str]) -> None:
    def handler(_: asyncio.AbstractEventLoop, context: dict) -> None:
        found.append(context["message"])

    loop.set_exception_handler(handler)


def test_a_hung_scoring_process_misses_its_deadline_and_is_replaced(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(_jobs(model), 1, depth=2, timeout=1.0)
    pids: list[int | None] = []
    unretrieved: list[str] = []

    async def main() -> np.ndarray:
        _unretrieved(asyncio.get_running_loop(), unretrieved)
        await pool.start()
        await pool.ping(timeout=5)
        pids.append(pool.processes[0].pid)
        os.kill(pids[0], signal.SIGSTOP)  # alive but answering nothing
        with pytest.raises(ScoringTimeoutError, match="within 1 s"):
            await pool.predict_proba(TEXTS)
        await pool.ping(timeout=5)  # the replacement answers
        pids.append(pool.processes[0].pid)
        return await pool.predict_proba(TEXTS)

    try:
        answer = asyncio.run(main())
        import gc

        gc.collect()  # "Future exception was never retrieved" is reported on collection
    finally:
        pool.close()
    assert answer.tolist() == model.predict_proba(TEXTS).tolist()
    assert pids[1] not in (None, pids[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # the stopped process was killed, not left behind
    assert unretrieved == []


def test_a_killed_process_leaves_no_unretrieved_exception(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(_jobs(model), 1, depth=2)
    unretrieved: list[str] = []

    async def main() -> None:
        _unretrieved(asyncio.get_running_loop(), unretrieved)
        await pool.start()
        pid = pool.processes[0].pid
        calls = [asyncio.ensure_future(pool.predict_proba(TEXTS)) for _ in range(6)]
        await asyncio.sleep(0)
        os.kill(pid, signal.SIGKILL)
        await asyncio.gather(*calls)
        os.kill(pool.processes[0].pid, signal.SIGKILL)
        await asyncio.sleep(0.3)  # the server notices before the next request arrives
        await asyncio.gather(*(pool.predict_proba(TEXTS) for _ in range(3)))

    try:
        asyncio.run(main())
        import gc

        gc.collect()
    finally:
        pool.close()
    assert unretrieved == []


def test_batch_bodies_are_parsed_validated_and_scored_in_the_process(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    pool = ScoringPool(_jobs(model), 1, depth=1)

    async def main() -> list:
        await pool.start()
        bodies = [
            b"0" + json.dumps({"texts": TEXTS[:2]}).encode(),
            b"1" + json.dumps({"texts": TEXTS[:1]}).encode(),
            b"0" + b'{"texts": ["ok", 3]}',
            b"0" + b'{"texts": [{}, {}, {}, {}, {}]}',
            b"0" + b'{"texts": ["ok"',
        ]
        answers = [decode_answer(await pool.call(BATCH, body)) for body in bodies]
        answers.append(decode_answer(await pool.call(EXPLAIN, encode_texts(TEXTS[:1]))))
        return answers

    try:
        scored, explained, wrong_type, too_many, broken, single = asyncio.run(main())
    finally:
        pool.close()
    assert scored.status == 200 and scored.labels == {
        label: model.predict(TEXTS[:2]).count(label) for label in ("positive", "negative")
    }
    predictions = json.loads(scored.body)["predictions"]
    assert [item["probability_positive"] for item in predictions] == pytest.approx(
        model.predict_proba(TEXTS[:2]).tolist(), abs=1e-12
    )
    assert json.loads(explained.body)["predictions"][0]["explanation"]["positive"]
    assert wrong_type.status == 422
    assert json.loads(wrong_type.body)["detail"][0]["loc"] == ["body", "texts", 1]
    assert too_many.status == 422 and "at most 4" in too_many.body.decode()
    assert broken.status == 400 and "not valid JSON" in broken.body.decode()
    assert single.status == 200 and json.loads(single.body)["explanation"]["positive"]
