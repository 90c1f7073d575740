"""The prediction service: FastAPI over the exported bundle, and a page for people at ``/``.

It loads the bundle once at start-up through :func:`imdb_sentiment.bundle.load_bundle` (which
verifies every file's hash first); a missing or tampered bundle stops start-up with the loader's
message. It never imports training code.

A plain ``POST /predict`` is answered by :mod:`app.fast_path` in front of the FastAPI route; single
reviews are micro-batched (:mod:`app.batching`) and scored in a forked process (:mod:`app.scoring`)
while the event loop keeps serving HTTP.

Run it with ``imdb-sentiment serve`` (or ``make serve``); ``app`` below is what uvicorn imports.
"""

import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Body, FastAPI, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.batching import MicroBatcher, Scorer
from app.fast_path import PredictFastPath
from app.metrics import MetricsMiddleware, ServiceMetrics
from app.schemas import (
    BatchPrediction,
    ErrorMessage,
    Health,
    ModelCard,
    Prediction,
    Readiness,
    ValidationErrors,
    request_models,
)
from app.scoring import ScoringPool
from imdb_sentiment.bundle import BundleError, SentimentModel, load_bundle
from imdb_sentiment.settings import Settings, get_settings

# A child of uvicorn's logger, so its log configuration prints these lines too.
logger = logging.getLogger("uvicorn.error.imdb_sentiment")

STATIC = Path(__file__).parent / "static"
# JSON escapes such as \u00e9 take up to 6 bytes per character of text.
BYTES_PER_CHAR = 6
# The page loads nothing from elsewhere; the browser enforces it.
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

_NOT_LOADED: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorMessage, "description": "The model is not loaded yet"}
}
_PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body is empty or not valid JSON"},
    413: {"model": ErrorMessage, "description": "The body is larger than any valid request"},
    415: {"model": ErrorMessage, "description": "The body is not sent as application/json"},
    422: {"model": ValidationErrors, "description": "The JSON does not match the request schema"},
    **_NOT_LOADED,
}


@dataclass
class ServiceState:
    model: SentimentModel | None = None
    batcher: MicroBatcher | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = ServiceState()
    metrics = ServiceMetrics()
    predict_request, batch_request = request_models(
        settings.max_text_chars, settings.max_batch_size
    )
    top_k = settings.explain_top_k

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            model = load_bundle(settings.model)
        except BundleError as error:
            logger.error("cannot start: the model bundle is unusable: %s", error)
            raise
        model.feature_names()  # built once here, so the first explain request is not slow
        # The model holds about a million long-lived Python objects (n-gram names, the token
        # table); leaving them out of garbage collection removes ~100 ms pauses from the tail.
        gc.freeze()
        state.model = model
        scoring_pool = None
        if settings.api_scoring_processes:
            scoring_pool = ScoringPool(model, settings.api_scoring_processes)
            await scoring_pool.start()
        state.batcher = MicroBatcher(
            scoring_pool.predict_proba if scoring_pool else _score_on_the_loop(model),
            max_in_flight=scoring_pool.capacity if scoring_pool else 1,
            on_batch=metrics.batch_sizes.observe,
        )
        metrics.model_info.labels(model.name, model.version).set(1)
        logger.info("serving %s version %s from %s", model.name, model.version, model.source)
        yield
        state.model = state.batcher = None
        if scoring_pool is not None:
            scoring_pool.close()

    app = FastAPI(
        title="imdb-sentiment",
        summary="Positive/negative sentiment of movie reviews",
        description=(
            "Scores English movie reviews with the model bundle exported by the DVC pipeline. "
            f"Texts hold 1 to {settings.max_text_chars} characters (not only whitespace); a "
            f"batch holds 1 to {settings.max_batch_size} texts. `explain=true` adds the "
            "n-grams that pushed the score most each way."
        ),
        version="1",
        lifespan=lifespan,
    )

    def loaded_model() -> SentimentModel:
        if state.model is None:
            raise HTTPException(503, "the model is not loaded yet")
        return state.model

    def score(model: SentimentModel, texts: Sequence[str], explain: bool) -> list[dict[str, Any]]:
        if explain:
            explanations = [model.explain(text, top_k=top_k) for text in texts]
            probabilities = [item.probability for item in explanations]
        else:
            explanations = [None] * len(texts)
            probabilities = model.predict_proba(texts).tolist()
        labels = model.labels_for(probabilities)
        metrics.count_labels(labels)
        return [
            {
                "label": label,
                "probability_positive": probability,
                "model_version": model.version,
                "explanation": None
                if explanation is None
                else {
                    "positive": [vars(item) for item in explanation.positive],
                    "negative": [vars(item) for item in explanation.negative],
                },
            }
            for label, probability, explanation in zip(
                labels, probabilities, explanations, strict=True
            )
        ]

    explain_query = Query(description="Also return the most influential n-grams each way")

    @app.post("/predict", response_model=Prediction, responses=_PREDICT_ERRORS, tags=["predict"])
    async def predict(
        request: Annotated[predict_request, Body()],  # type: ignore[valid-type]
        explain: Annotated[bool, explain_query] = False,
    ) -> Any:
        """Sentiment of one review."""
        model = loaded_model()
        if explain:
            return score(model, [request.text], explain=True)[0]  # type: ignore[attr-defined]
        # A ready response skips FastAPI's re-validation of these four fields against Prediction;
        # the schema in /openapi.json stays the same.
        return JSONResponse(await predict_one(request.text))  # type: ignore[attr-defined]

    async def predict_one(text: str) -> dict[str, Any]:
        """One review through the micro-batcher: the route's answer and the fast path's."""
        model = loaded_model()
        probability = await state.batcher.probability(text)  # type: ignore[union-attr]
        label = model.labels_for([probability])[0]
        metrics.predictions.labels(label).inc()
        return {
            "label": label,
            "probability_positive": probability,
            "model_version": model.version,
            "explanation": None,
        }

    @app.post(
        "/predict/batch",
        response_model=BatchPrediction,
        responses=_PREDICT_ERRORS,
        tags=["predict"],
    )
    async def predict_batch(
        request: Annotated[batch_request, Body()],  # type: ignore[valid-type]
        explain: Annotated[bool, explain_query] = False,
    ) -> Any:
        """Sentiment of each review in a list, in the same order."""
        model = loaded_model()
        # Up to a few hundred milliseconds: off the event loop so /health stays responsive.
        predictions = await run_in_threadpool(score, model, request.texts, explain)  # type: ignore[attr-defined]
        return {"model_version": model.version, "predictions": predictions}

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health() -> Any:
        """The process is alive and answering."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "The model is not loaded"}},
        tags=["operations"],
    )
    async def ready() -> Any:
        """The bundle is loaded and verified: the service can score."""
        if state.model is None:
            return JSONResponse({"status": "loading", "model_version": None}, status_code=503)
        return {"status": "ready", "model_version": state.model.version}

    @app.get("/model", response_model=ModelCard, responses=_NOT_LOADED, tags=["operations"])
    async def model_card() -> Any:
        """The served bundle's manifest: version, params, metrics and data hash."""
        model = loaded_model()
        # The registry version and DVC hash the deploy pinned into the image (None when unpinned).
        release = {
            "model_registry_version": settings.model_registry_version,
            "bundle_dvc_md5": settings.expected_bundle_hash,
        }
        return {**model.manifest, "source": model.source, "release": release}

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
        tags=["operations"],
    )
    async def prometheus_metrics() -> Response:
        """Request counts, latency histograms and predicted labels, in Prometheus format."""
        content, media_type = metrics.exposition()
        return Response(content, media_type=media_type)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(RequestValidationError, _explain_bad_request)  # type: ignore[arg-type]
    max_body = settings.max_batch_size * settings.max_text_chars * BYTES_PER_CHAR + 65_536
    app.add_middleware(BodySizeLimit, max_bytes=max_body)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost of ours: the plain valid /predict requests it answers skip every layer it wraps.
    app.add_middleware(
        PredictFastPath,
        request_model=predict_request,
        predict=predict_one,
        ready=lambda: state.batcher is not None,
        metrics=metrics,
        max_bytes=max_body,
    )
    app.state.service = state
    return app


def _score_on_the_loop(model: SentimentModel) -> Scorer:
    """With IMDB_SENTIMENT_API_SCORING_PROCESSES=0: score in the server process itself."""

    async def score(texts: Sequence[str]) -> np.ndarray:
        return model.predict_proba(texts)

    return score


async def _explain_bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """Turn FastAPI's validation errors into the 4xx that says what is actually wrong."""
    problems = error.errors()
    for problem in problems:
        if problem.get("type") == "json_invalid":
            position = problem["loc"][-1]
            reason = problem.get("ctx", {}).get("error", "malformed")
            return JSONResponse(
                {"detail": f"the body is not valid JSON: {reason} at character {position}"},
                status_code=400,
            )
    if request.method == "POST" and any(problem["loc"][:1] == ("body",) for problem in problems):
        # FastAPI hands over the raw bytes when the Content-Type is not JSON.
        if isinstance(error.body, bytes) and error.body:
            content_type = request.headers.get("content-type") or "no Content-Type"
            return JSONResponse(
                {
                    "detail": "send the body as JSON with Content-Type: application/json "
                    f"(got {content_type})"
                },
                status_code=415,
            )
        if any(
            problem["loc"] == ("body",) and problem["type"] == "missing" for problem in problems
        ):
            return JSONResponse(
                {"detail": 'the body is empty: send a JSON object such as {"text": "..."}'},
                status_code=400,
            )
    return JSONResponse(
        {
            "detail": [
                {"loc": list(problem["loc"]), "msg": problem["msg"], "type": problem["type"]}
                for problem in problems
            ]
        },
        status_code=422,
    )


class BodySizeLimit:
    """Refuse bodies longer than the largest valid request, before reading them into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        refusal = f"the body is larger than {self.max_bytes} bytes, more than any valid request"
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await JSONResponse({"detail": refusal}, status_code=413)(scope, receive, send)
                return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # Raised inside the route's body read, so FastAPI answers it as a 413.
                raise HTTPException(413, refusal)
            return message

        await self.app(scope, counted_receive, send)


app = create_app()
