"""What routes receive: the service and its loaded model, as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from app.errors import ServiceUnavailableError
from app.service import Service
from imdb_sentiment.bundle import SentimentModel


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def loaded_model(service: ServiceDep) -> SentimentModel:
    if service.model is None:
        raise ServiceUnavailableError("the model is not loaded yet", retry_after=5)
    return service.model


ModelDep = Annotated[SentimentModel, Depends(loaded_model)]
