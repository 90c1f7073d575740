"""Score concurrent single-review requests together.

Each call of the model carries a fixed cost (input checks, tokenizer and numpy set-up per call) that can be
larger than scoring one review. Requests that arrive together are handed to the model as one
list on the next turn of the event loop: no timer, so a lone request waits for nothing, and
under load the fixed cost is paid once per batch instead of once per request.
"""

import asyncio
from collections.abc import Callable, Sequence

import numpy as np

Scorer = Callable[[Sequence[str]], np.ndarray]


class MicroBatcher:
    def __init__(
        self,
        score: Scorer,
        max_batch: int = 64,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._score = score
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._pending: list[tuple[str, asyncio.Future[float]]] = []
        self._flush_scheduled = False

    async def probability(self, text: str) -> float:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._pending.append((text, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Runs after every request already in this turn of the loop has queued its text.
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch = self._pending[: self._max_batch]
        self._pending = self._pending[self._max_batch :]
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._flush_scheduled = False
        if self._on_batch is not None:
            self._on_batch(len(batch))
        try:
            probabilities = self._score([text for text, _ in batch]).tolist()
        except Exception as error:  # every waiting request gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), probability in zip(batch, probabilities, strict=True):
            if not future.done():  # a client that went away cancelled its future
                future.set_result(probability)
