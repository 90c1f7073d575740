"""The prediction service: FastAPI over the exported bundle, and a page for people at ``/``.

It loads the bundle once at start-up through :func:`imdb_sentiment.registry.load_bundle` (which
verifies every file's hash first); a missing or tampered bundle stops start-up with the loader's
message. It never imports training code.

The layers, outermost first: :class:`app.fast_path.ServiceFront` (body limits, one error shape,
plain ``POST /predict`` answered without the framework), the metrics middleware, then FastAPI's
routes (:mod:`app.api.routes`). The model's work runs in scoring processes (:mod:`app.service`,
:mod:`app.scoring`) while the event loop keeps serving HTTP.

Run it with ``imdb-sentiment serve`` (or ``make serve``); ``app`` below is what uvicorn imports.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.api.routes import feedback, operations, predict
from app.errors import install_handlers
from app.fast_path import ServiceFront, body_limits
from app.metrics import MetricsMiddleware, ServiceMetrics
from app.schemas import request_models
from app.service import Service
from imdb_sentiment.bundle import BundleError, SentimentModel
from imdb_sentiment.feedback.record import Feedback
from imdb_sentiment.feedback.store import FeedbackStore
from imdb_sentiment.registry import load_bundle
from imdb_sentiment.settings import Settings, get_settings

# A child of uvicorn's logger, so its log configuration prints these lines too.
logger = logging.getLogger("uvicorn.error.imdb_sentiment")

STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere; the browser enforces it.
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = ServiceMetrics()
    predict_request, batch_request = request_models(
        settings.max_text_chars, settings.max_batch_size
    )
    service = Service(settings, metrics, batch_request)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            model = load_bundle(settings.model)
        except BundleError as error:
            logger.error("cannot start: the model bundle is unusable: %s", error)
            raise
        challenger = _load_challenger(settings, app)
        await service.start(model, challenger)
        logger.info("serving %s version %s from %s", model.name, model.version, model.source)
        if challenger is not None:
            logger.info(
                "shadow-scoring %.0f%% of /predict with challenger %s from %s",
                100 * settings.shadow_fraction,
                challenger.version,
                challenger.source,
            )
        store = FeedbackStore(
            settings.feedback_db,
            max_queue=settings.feedback_queue_limit,
            on_written=_count_feedback(metrics),
        )
        app.state.feedback_store = store.start()  # a database that is down only delays writes
        yield
        app.state.feedback_store = None
        await asyncio.to_thread(store.close)  # flushes the queue without blocking the loop
        service.close()

    docs = settings.docs_enabled
    app = FastAPI(
        title="imdb-sentiment",
        summary="Positive/negative sentiment of movie reviews",
        description=(
            "Scores English movie reviews with the model bundle exported by the DVC pipeline. "
            f"Texts hold 1 to {settings.max_text_chars} characters (not only whitespace); a "
            f"batch holds 1 to {settings.max_batch_size} texts. `explain=true` adds the "
            "n-grams that pushed the score most each way. Every error is JSON "
            '`{"detail": ...}`; a 503 carries `Retry-After`.'
        ),
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.include_router(predict.build_router(predict_request))
    app.include_router(feedback.build_router(settings.max_text_chars))
    app.include_router(operations.build_router(metrics, settings.metrics_enabled))
    _document_batch_body(app, batch_request)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    limits, default_limit = body_limits(settings)
    # Outermost: limits apply before anything reads a body, and the plain valid /predict
    # requests it answers skip every layer it wraps.
    app.add_middleware(
        ServiceFront,
        request_model=predict_request,
        predict=service.predict_one,
        ready=service.ready,
        metrics=metrics,
        body_limits=limits,
        default_body_limit=default_limit,
    )
    app.state.service = service
    return app


def _load_challenger(settings: Settings, app: FastAPI) -> SentimentModel | None:
    """The challenger through the same verified loader; one that fails to load is reported by
    /model and the log, and the service runs without a shadow rather than not at all."""
    app.state.challenger_error = None
    if settings.challenger_model is None:
        return None
    try:
        return load_bundle(settings.challenger_model)
    except BundleError as error:
        logger.error("no shadow scoring: the challenger bundle is unusable: %s", error)
        app.state.challenger_error = str(error)
        return None


def _count_feedback(metrics: ServiceMetrics) -> Any:
    def count(rows: list[Feedback]) -> None:  # called by the store's writer thread
        for row in rows:
            if row.correct_label is not None:
                metrics.feedback_correct[row.correct_label].inc()

    return count


def _document_batch_body(app: FastAPI, batch_request: type) -> None:
    """The batch route reads raw bytes (the scoring process parses them): publish their schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            predict.BATCH_SCHEMA,
            batch_request.model_json_schema(ref_template="#/components/schemas/{model}"),
        )
        return schema

    app.openapi = openapi


app = create_app()
