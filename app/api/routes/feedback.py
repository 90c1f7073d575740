"""``POST /feedback`` (a user's verdict on an answer) and ``GET /shadow/disagreements``.

Feedback is validated with the store's rules (:meth:`Feedback.create`, the same limits as
``/predict``) and queued; a background thread writes it (:mod:`imdb_sentiment.feedback.store`).
The request never waits on the database: a full queue is a 503 with ``Retry-After``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from starlette.requests import Request

from app.api.deps import ServiceDep
from app.api.routes.predict import PREDICT_ERRORS
from app.errors import OverloadedError, ServiceUnavailableError, json_error
from app.schemas import ErrorMessage, FeedbackAccepted, ShadowSample, feedback_request_model
from imdb_sentiment.feedback.record import Feedback, FeedbackError
from imdb_sentiment.feedback.store import FeedbackStore


def build_router(max_text_chars: int) -> APIRouter:
    router = APIRouter(tags=["feedback"])
    feedback_request = feedback_request_model(max_text_chars)

    @router.post(
        "/feedback",
        status_code=202,
        response_model=FeedbackAccepted,
        responses={
            **PREDICT_ERRORS,
            503: {"model": ErrorMessage, "description": "The feedback queue is full; retry later"},
        },
    )
    async def feedback(
        body: Annotated[feedback_request, Body()],
        request: Request,
    ) -> Any:
        """Whether an answer was right: stored for monitoring (text, labels, version, time)."""
        store: FeedbackStore | None = getattr(request.app.state, "feedback_store", None)
        if store is None:
            raise ServiceUnavailableError("the feedback store is not started", 5)
        try:
            row = Feedback.create(
                body.text,
                body.label,
                max_text_chars=max_text_chars,
                predicted_label=body.predicted_label,
                probability_positive=body.probability_positive,
                model_version=body.model_version,
            )
        except FeedbackError as error:
            problem = {"loc": ["body", error.field], "msg": error.message, "type": "value_error"}
            return json_error(422, [problem])
        if not store.submit(row):
            raise OverloadedError("too much feedback is waiting to be stored; retry shortly", 5)
        return JSONResponse({"id": str(row.id)}, status_code=202)

    @router.get(
        "/shadow/disagreements",
        response_model=ShadowSample,
        responses={404: {"model": ErrorMessage, "description": "No challenger is configured"}},
    )
    async def disagreements(service: ServiceDep) -> Any:
        """The latest texts (as SHA-256) on which the challenger's label differed (this worker)."""
        shadow = service.shadow
        if shadow is None:
            return json_error(404, "no challenger is being shadow-scored")
        return {
            "champion_version": shadow.champion.version,
            "challenger_version": shadow.challenger.version,
            "disagreements": list(shadow.disagreements),
        }

    return router
