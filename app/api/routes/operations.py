"""Operations: liveness, readiness (the scoring processes answer), the model card, metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from starlette.requests import Request

from app.api.deps import ModelDep, ServiceDep
from app.api.routes.predict import NOT_LOADED
from app.errors import ServiceUnavailableError
from app.metrics import ServiceMetrics
from app.schemas import Health, ModelCard, Readiness
from app.scoring import ScoringProcessError
from app.service import Service


def build_router(metrics: ServiceMetrics, metrics_enabled: bool) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=Health)
    async def health() -> Any:
        """The process is alive and answering HTTP (it does not ask the model: see /ready)."""
        return {"status": "ok"}

    @router.get(
        "/ready",
        response_model=Readiness,
        response_model_exclude_none=True,
        responses={503: {"model": Readiness, "description": "Not loaded, or the model is stuck"}},
    )
    async def ready(service: ServiceDep) -> Any:
        """The bundle is loaded and every scoring process answers a ping within its deadline."""
        if service.model is None:
            return _not_ready("loading", None, "the model is not loaded yet")
        try:
            await service.check_ready()
        except (ScoringProcessError, ConnectionError, ServiceUnavailableError) as error:
            detail = f"the scoring process does not answer: {error}"
            return _not_ready("unresponsive", service.model.version, detail)
        return {"status": "ready", "model_version": service.model.version}

    @router.get("/model", response_model=ModelCard, responses=NOT_LOADED)
    async def model_card(model: ModelDep, service: ServiceDep, request: Request) -> Any:
        """The served bundle's manifest: version, params, metrics and data hash."""
        # The registry version and DVC hash the deploy pinned into the image (None when unpinned).
        release = {
            "model_registry_version": service.settings.model_registry_version,
            "bundle_dvc_md5": service.settings.expected_bundle_hash,
        }
        return {
            **model.manifest,
            "source": model.source,
            "release": release,
            "challenger": _challenger(
                service, getattr(request.app.state, "challenger_error", None)
            ),
        }

    if metrics_enabled:

        @router.get(
            "/metrics",
            response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
        )
        async def prometheus_metrics() -> Response:
            """Request counts, latency histograms and predicted labels, in Prometheus format."""
            content, media_type = metrics.exposition()
            return Response(content, media_type=media_type)

    return router


def _challenger(service: Service, error: str | None) -> dict[str, Any] | None:
    """The shadow-scored bundle (None without one), or why it could not be loaded."""
    if error is not None:
        return {"status": "unavailable", "detail": error}
    shadow = service.shadow
    if shadow is None:
        return None
    challenger = shadow.challenger
    return {
        "status": "shadow",
        "name": challenger.name,
        "version": challenger.version,
        "source": challenger.source,
        "threshold": challenger.threshold,
        "metrics": challenger.manifest.get("metrics", {}),
        "shadow_fraction": service.settings.shadow_fraction,
    }


def _not_ready(status: str, version: str | None, detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "status": status, "model_version": version},
        status_code=503,
        headers={"Retry-After": "5"},
    )
