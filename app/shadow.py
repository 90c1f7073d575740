"""Shadow scoring: a challenger bundle sees live ``/predict`` traffic without answering it.

After the champion has answered a request (the answer is already on its way), a sampled share
of the texts (``shadow_fraction``) is put on a bounded queue. One drain task hands them to the
challenger in batches of up to ``max_batch``, one batch at a time, in its own scoring process
at a lower CPU priority than every lane that answers clients. So the shadow can fall behind,
never the champion: when the queue is full a text is skipped (and counted), and a challenger
that fails or misses its deadline is counted and logged, never seen by a client.

Agreement compares the labels each bundle gives with its own threshold. Disagreements are kept
for review, newest last, in a bounded sample: the text's SHA-256 (never the text), both
probabilities and labels, and the time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from app.metrics import ServiceMetrics
from imdb_sentiment.bundle import SentimentModel

logger = logging.getLogger("uvicorn.error.imdb_sentiment")

Scorer = Callable[[Sequence[str]], Awaitable[np.ndarray]]
# One failure line per this many seconds at most: a broken challenger must not flood the log.
LOG_EVERY_SECONDS = 60.0


class ShadowLane:
    def __init__(
        self,
        champion: SentimentModel,
        challenger: SentimentModel,
        score: Scorer,
        metrics: ServiceMetrics,
        *,
        fraction: float,
        max_pending: int,
        max_batch: int = 64,
        sample_size: int = 100,
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self._score = score
        self._metrics = metrics
        self._fraction = fraction
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._pending: deque[tuple[str, float]] = deque()
        self._drain: asyncio.Task[None] | None = None
        self._last_logged = 0.0
        self.disagreements: deque[dict[str, Any]] = deque(maxlen=sample_size)

    def offer(self, text: str, champion_probability: float) -> None:
        """Queue a text the champion has answered, if sampled and there is room. Never waits."""
        if self._fraction < 1.0 and random.random() >= self._fraction:  # noqa: S311 (sampling)
            return
        if len(self._pending) >= self._max_pending:
            self._metrics.shadow_skipped.inc()
            return
        self._pending.append((text, champion_probability))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._pending:
            batch = [
                self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))
            ]
            try:
                scores = await self._score([text for text, _ in batch])
            except Exception as error:  # the challenger's problem, never a client's
                self._metrics.shadow_failures.inc(len(batch))
                self._log_failure(error)
                continue
            self._record(batch, np.asarray(scores, dtype=np.float64))

    def _record(self, batch: list[tuple[str, float]], challenger: np.ndarray) -> None:
        champion = np.fromiter((p for _, p in batch), np.float64, len(batch))
        champion_labels = self.champion.labels_for(champion)
        challenger_labels = self.challenger.labels_for(challenger)
        metrics = self._metrics
        for index, (text, _) in enumerate(batch):
            metrics.shadow_difference.observe(abs(champion[index] - challenger[index]))
            if champion_labels[index] == challenger_labels[index]:
                metrics.shadow_agree.inc()
                continue
            metrics.shadow_disagree.inc()
            self.disagreements.append(
                {
                    "text_sha256": hashlib.sha256(
                        text.encode("utf-8", "surrogatepass")
                    ).hexdigest(),
                    "champion_probability": float(champion[index]),
                    "challenger_probability": float(challenger[index]),
                    "champion_label": champion_labels[index],
                    "challenger_label": challenger_labels[index],
                    "time": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )

    def _log_failure(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_logged >= LOG_EVERY_SECONDS:
            self._last_logged = now
            logger.warning("the challenger could not score a shadow batch: %s", error)

    def close(self) -> None:
        self._pending.clear()
        if self._drain is not None:
            self._drain.cancel()
