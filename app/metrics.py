"""Prometheus metrics for operators: request counts, latencies and predicted labels.

With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``imdb-sentiment serve --workers N``
does it) so ``/metrics`` adds up every worker's numbers instead of showing one worker's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scoring one review takes about a millisecond: resolve that, and the slow tail of batches.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Paths that match no route share one label, so random URLs cannot blow up the label set.
UNMATCHED = "unmatched"
# The *_created series double the output and dashboards rarely use them.
disable_created_metrics()


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "imdb_sentiment_http_requests",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "imdb_sentiment_http_request_duration_seconds",
            "Time from receiving a request to sending its last byte",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "imdb_sentiment_predictions",
            "Texts scored, by predicted label",
            ["label"],
            registry=self.registry,
        )
        self.batch_sizes = Histogram(
            "imdb_sentiment_microbatch_size",
            "Single-review requests scored together in one model call",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.model_info = Gauge(
            "imdb_sentiment_model_info",
            "The served bundle (value 1)",
            ["name", "version"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.challenger_info = Gauge(
            "imdb_sentiment_challenger_info",
            "The bundle shadow-scored beside the served one (value 1)",
            ["name", "version"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        shadow = Counter(
            "imdb_sentiment_shadow_predictions",
            "Texts the challenger also scored, by whether its label agrees with the champion's",
            ["agreement"],
            registry=self.registry,
        )
        self.shadow_agree = shadow.labels("agree")
        self.shadow_disagree = shadow.labels("disagree")
        self.shadow_difference = Histogram(
            "imdb_sentiment_shadow_probability_difference",
            "|p_champion - p_challenger| of each shadow-scored text",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0),
            registry=self.registry,
        )
        self.shadow_skipped = Counter(
            "imdb_sentiment_shadow_skipped",
            "Sampled texts not shadow-scored because the challenger's queue was full",
            registry=self.registry,
        )
        self.shadow_failures = Counter(
            "imdb_sentiment_shadow_failures",
            "Sampled texts the challenger failed to score (error or missed deadline)",
            registry=self.registry,
        )
        feedback = Counter(
            "imdb_sentiment_feedback",
            "Feedback rows written, by whether the label shown to the user was right",
            ["correct"],
            registry=self.registry,
        )
        self.feedback_correct = {"true": feedback.labels("true"), "false": feedback.labels("false")}
        # labels() validates and locks on every call (3.7 % of the event loop's py-spy samples
        # under load); the children are fixed per label set, so look each up once.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._label_counters: dict[str, Any] = {}

    def _request_children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = (self.latency.labels(method, route), self.requests.labels(*key))
            self._children[key] = children
        return children

    def count_labels(self, labels: Iterable[str]) -> None:
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        for label, count in counts.items():
            counter = self._label_counters.get(label)
            if counter is None:
                counter = self._label_counters[label] = self.predictions.labels(label)
            counter.inc(count)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        latency, requests = self._request_children(method, route, status)
        latency.observe(seconds)
        requests.inc()

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            # The router stores the matched route in the scope it shares with us.
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(scope["method"], template, status, elapsed)
