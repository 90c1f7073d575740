"""The loaded model and the two lanes its work goes through.

- **Single reviews** (``POST /predict``): micro-batched (:mod:`app.batching`) into the light
  scoring process(es), with a bounded queue and a deadline per batch.
- **Heavy work** (``/predict/batch``, ``explain=true``): a separate, bounded lane. Its scoring
  process runs at a lower CPU priority (``nice``), parses and validates batch bodies itself, and
  admits at most ``heavy_queue_limit`` requests beyond those being scored; the rest get a 503
  with ``Retry-After`` at once. So a few clients sending batches or explanations cannot starve
  single predictions of the CPU, the event loop or memory.

- **The shadow** (when a challenger bundle is set): texts the champion has answered, scored
  again by the challenger in its own process at the lowest priority (:mod:`app.shadow`);
  nothing a client waits for depends on it.

With ``IMDB_SENTIMENT_API_SCORING_PROCESSES=0`` both lanes run in the server process itself (for
debugging; the event loop then scores too).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from app.batching import MicroBatcher
from app.errors import OverloadedError, ServiceUnavailableError
from app.jobs import BATCH, EXPLAIN, JobAnswer, Jobs, decode_answer, encode_texts
from app.metrics import ServiceMetrics
from app.scoring import ScoringPool, ScoringProcessError, ScoringTimeoutError
from app.shadow import ShadowLane
from imdb_sentiment.bundle import SentimentModel
from imdb_sentiment.settings import Settings

logger = logging.getLogger("uvicorn.error.imdb_sentiment")

Run = Callable[[bytes, bytes], Awaitable[bytes]]


class HeavyLane:
    """Admission for heavy jobs: those being scored plus at most ``max_waiting`` more."""

    def __init__(self, run: Run, capacity: int, max_waiting: int) -> None:
        self._run = run
        self._bound = capacity + max_waiting
        self._admitted = 0

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, kind: bytes, payload: bytes) -> bytes:
        if self._admitted >= self._bound:
            raise OverloadedError(
                f"{self._admitted} batch or explain requests are already in progress; retry shortly"
            )
        self._admitted += 1
        try:
            return await self._run(kind, payload)
        finally:
            self._admitted -= 1


class Service:
    """The loaded model and its lanes, for the routes and the fast path; started by the app's
    lifespan once the bundle is loaded."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics, batch_request: type) -> None:
        self.settings = settings
        self.metrics = metrics
        self.batch_request: type[BaseModel] = batch_request
        self.model: SentimentModel | None = None
        self.batcher: MicroBatcher | None = None
        self.heavy: HeavyLane | None = None
        self.shadow: ShadowLane | None = None
        self._pools: list[ScoringPool] = []
        self._shadow_pool: ScoringPool | None = None

    def ready(self) -> bool:
        """Started: the fast path may answer (``/ready`` also pings the scoring processes)."""
        return self.batcher is not None

    async def start(self, model: SentimentModel, challenger: SentimentModel | None = None) -> None:
        settings = self.settings
        model.feature_names()  # built once here, so the first explain request is not slow
        # The model holds about a million long-lived Python objects (n-gram names, the token
        # table); leaving them out of garbage collection removes ~100 ms pauses from the tail,
        # and the forked scoring processes share their memory pages.
        gc.freeze()
        self.model = model
        jobs = Jobs(model, self.batch_request, settings.explain_top_k)
        if settings.api_scoring_processes:
            light = ScoringPool(
                jobs,
                settings.api_scoring_processes,
                timeout=settings.scoring_timeout_seconds,
            )
            heavy = ScoringPool(
                jobs,
                settings.heavy_scoring_processes,
                depth=1,
                timeout=settings.heavy_timeout_seconds,
                nice=settings.heavy_nice,
                name="imdb-sentiment-heavy",
            )
            self._pools = [light, heavy]
            for pool in self._pools:
                await pool.start()
            score, in_flight = light.predict_proba, light.capacity
            self.heavy = HeavyLane(heavy.call, heavy.capacity, settings.heavy_queue_limit)
        else:
            score, in_flight = _on_the_loop(jobs), 1
            self.heavy = HeavyLane(_answer_on_the_loop(jobs), 1, settings.heavy_queue_limit)
        self.batcher = MicroBatcher(
            score,
            max_in_flight=in_flight,
            on_batch=self.metrics.batch_sizes.observe,
            max_pending=settings.queue_limit,
        )
        self.metrics.model_info.labels(model.name, model.version).set(1)
        if challenger is not None:
            await self._start_shadow(model, challenger)

    async def _start_shadow(self, model: SentimentModel, challenger: SentimentModel) -> None:
        settings = self.settings
        jobs = Jobs(challenger, self.batch_request, settings.explain_top_k)
        if settings.api_scoring_processes:
            pool = ScoringPool(
                jobs,
                1,
                depth=1,
                timeout=settings.shadow_timeout_seconds,
                nice=settings.shadow_nice,
                name="imdb-sentiment-shadow",
            )
            await pool.start()
            self._shadow_pool = pool  # not in _pools: /ready never depends on the challenger
            score = pool.predict_proba
        else:
            score = _on_the_loop(jobs)
        self.metrics.challenger_info.labels(challenger.name, challenger.version).set(1)
        self.shadow = ShadowLane(
            model,
            challenger,
            score,
            self.metrics,
            fraction=settings.shadow_fraction,
            max_pending=settings.shadow_queue_limit,
        )

    def close(self) -> None:
        if self.shadow is not None:
            self.shadow.close()
        self.model = self.batcher = self.heavy = self.shadow = None
        for pool in [*self._pools, self._shadow_pool]:
            if pool is not None:
                pool.close()
        self._pools, self._shadow_pool = [], None

    async def predict_one(self, text: str) -> dict[str, Any]:
        """One review through the micro-batcher: the route's answer and the fast path's."""
        model, batcher = self._loaded()
        try:
            probability = await batcher.probability(text)
        except (ScoringTimeoutError, ConnectionError) as error:
            raise ServiceUnavailableError(f"the model is not answering: {error}", 2) from None
        label = model.labels_for([probability])[0]
        self.metrics.predictions.labels(label).inc()
        if self.shadow is not None:
            self.shadow.offer(text, probability)
        return {
            "label": label,
            "probability_positive": probability,
            "model_version": model.version,
            "explanation": None,
        }

    async def explain_one(self, text: str) -> JobAnswer:
        return await self._heavy(EXPLAIN, encode_texts([text]))

    async def batch(self, body: bytes, explain: bool) -> JobAnswer:
        return await self._heavy(BATCH, (b"1" if explain else b"0") + body)

    async def check_ready(self) -> None:
        """Raise unless every idle scoring process answers a ping within the ready deadline."""
        self._loaded()
        for pool in self._pools:
            await pool.ping(self.settings.ready_timeout_seconds)

    async def _heavy(self, kind: bytes, payload: bytes) -> JobAnswer:
        self._loaded()
        try:
            answer = decode_answer(await self.heavy.run(kind, payload))
        except (ScoringTimeoutError, ConnectionError) as error:
            raise ServiceUnavailableError(f"the model is not answering: {error}", 2) from None
        except RuntimeError as error:  # the job itself failed: a bug, answered as a 500
            raise ScoringProcessError(str(error)) from None
        assert isinstance(answer, JobAnswer)
        for label, count in answer.labels.items():
            if count:
                self.metrics.predictions.labels(label).inc(count)
        return answer

    def _loaded(self) -> tuple[SentimentModel, MicroBatcher]:
        if self.model is None or self.batcher is None:
            raise ServiceUnavailableError("the model is not loaded yet", 5)
        return self.model, self.batcher


def _on_the_loop(jobs: Jobs) -> Callable[[Sequence[str]], Awaitable[np.ndarray]]:
    async def score(texts: Sequence[str]) -> np.ndarray:
        return jobs.model.predict_proba(texts)

    return score


def _answer_on_the_loop(jobs: Jobs) -> Run:
    async def run(kind: bytes, payload: bytes) -> bytes:
        return jobs.answer(kind, payload)

    return run
