"""Score concurrent single-review requests together.

Each call of the model carries a fixed cost (input checks, tokenizer and numpy set-up per call) that can be
larger than scoring one review. Requests that arrive together are handed to the model as one
list on the next turn of the event loop: no timer, so a lone request waits for nothing, and
under load the fixed cost is paid once per batch instead of once per request.

The scorer is a coroutine. When it scores in another process (the service's default), the event
loop parses and answers HTTP requests while a batch is being scored, and the texts that arrive
meanwhile form the next batch: at most ``max_in_flight`` batches are out at once (the scoring
processes' capacity), so batches grow with the load instead of queueing behind each other.
At most ``max_pending`` texts wait for a batch: past that, a request is refused at once
(:class:`app.errors.OverloadedError`, a 503) instead of queueing without bound.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from app.errors import OverloadedError

Scorer = Callable[[Sequence[str]], Awaitable[np.ndarray]]


class MicroBatcher:
    def __init__(
        self,
        score: Scorer,
        max_batch: int = 64,
        max_in_flight: int = 1,
        on_batch: Callable[[int], None] | None = None,
        max_pending: int = 1024,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1 or max_pending < 1:
            raise ValueError(
                "max_batch, max_in_flight and max_pending must be at least 1, got "
                f"{max_batch}, {max_in_flight}, {max_pending}"
            )
        self._max_pending = max_pending
        self._score = score
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._on_batch = on_batch
        self._pending: list[tuple[str, asyncio.Future[float]]] = []
        self._flush_scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()

    async def probability(self, text: str) -> float:
        if len(self._pending) >= self._max_pending:
            raise OverloadedError(f"{self._max_pending} reviews are already waiting to be scored")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        self._schedule_flush()
        return await future

    def _schedule_flush(self) -> None:
        idle = len(self._in_flight) < self._max_in_flight
        if self._pending and idle and not self._flush_scheduled:
            self._flush_scheduled = True
            # Runs after every request already in this turn of the loop has queued its text.
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._pending and len(self._in_flight) < self._max_in_flight:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            if self._on_batch is not None:
                self._on_batch(len(batch))
            task = asyncio.ensure_future(self._run(batch))
            self._in_flight.add(task)  # also keeps a reference, so the task is not collected

    async def _run(self, batch: list[tuple[str, "asyncio.Future[float]"]]) -> None:
        try:
            probabilities = (await self._score([text for text, _ in batch])).tolist()
        except Exception as error:  # every waiting request gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            # Hand the scorer its next batch before answering this one: it scores while the
            # loop writes these responses.
            self._in_flight.discard(asyncio.current_task())
            self._flush()
        for (_, future), probability in zip(batch, probabilities, strict=True):
            if not future.done():  # a client that went away cancelled its future
                future.set_result(probability)
