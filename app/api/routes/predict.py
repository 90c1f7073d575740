"""``POST /predict`` and ``POST /predict/batch``.

Plain valid ``/predict`` requests are answered before they reach this route (:mod:`app.fast_path`);
it answers the rest: ``explain=true`` and every error. Explanations and batches go through the
service's heavy lane (:mod:`app.service`); a batch body is parsed and validated in the scoring
process, so the route only checks its content type and hands the bytes on.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.requests import Request

from app.api.deps import ServiceDep
from app.errors import content_type_problem, json_error
from app.jobs import JobAnswer
from app.schemas import BatchPrediction, ErrorMessage, Prediction, ValidationErrors

NOT_LOADED: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorMessage, "description": "Not loaded yet, busy, or the model timed out"},
}
PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body is empty or not valid JSON"},
    413: {"model": ErrorMessage, "description": "The body is larger than any valid request"},
    415: {"model": ErrorMessage, "description": "The body is not sent as application/json"},
    422: {"model": ValidationErrors, "description": "The JSON does not match the request schema"},
    500: {"model": ErrorMessage, "description": "An unexpected error (logged by the server)"},
    **NOT_LOADED,
}
BATCH_SCHEMA = "BatchPredictRequest"
ExplainQuery = Annotated[
    bool, Query(description="Also return the most influential n-grams each way")
]


def build_router(predict_request: type[BaseModel]) -> APIRouter:
    router = APIRouter(tags=["predict"])

    @router.post("/predict", response_model=Prediction, responses=PREDICT_ERRORS)
    async def predict(
        request: Annotated[predict_request, Body()],
        service: ServiceDep,
        explain: ExplainQuery = False,
    ) -> Any:
        """Sentiment of one review."""
        if explain:
            return _job_response(await service.explain_one(request.text))
        # A ready response skips FastAPI's re-validation of these four fields against Prediction;
        # the schema in /openapi.json stays the same.
        return JSONResponse(await service.predict_one(request.text))

    @router.post(
        "/predict/batch",
        response_model=BatchPrediction,
        responses=PREDICT_ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{BATCH_SCHEMA}"}}
                },
            }
        },
    )
    async def predict_batch(
        request: Request, service: ServiceDep, explain: ExplainQuery = False
    ) -> Any:
        """Sentiment of each review in a list, in the same order."""
        body = await request.body()
        problem = content_type_problem(request.headers.get("content-type"), body)
        if problem is not None:
            return json_error(*problem)
        return _job_response(await service.batch(body, explain))

    return router


def _job_response(answer: JobAnswer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type="application/json")
