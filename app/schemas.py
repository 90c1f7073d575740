"""Bodies of the prediction API (pydantic v2). Their examples are what /docs shows.

The request models are built per app from the settings, so the limits a deployment enforces
are also the limits its OpenAPI schema advertises (``maxLength``, ``maxItems``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

EXAMPLE_REVIEW = (
    "A wonderful film: the acting is superb and the story kept me gripped until the very end."
)
EXAMPLE_NEGATIVE_REVIEW = "Dull and far too long. The plot makes no sense and the acting is awful."
EXAMPLE_VERSION = "61ebc7b073d4"
# A text needs one character that is not whitespace. `\S` means different things in Python and in
# JSON Schema's ECMA-262 regexes (U+0085, U+FEFF...), so the class lists the union of both
# whitespace sets: the service and any schema-driven client then agree on every text.
WHITESPACE = r"\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_VISIBLE = re.compile(f"[^{WHITESPACE}]")

Label = Literal["negative", "positive"]


def _reject_blank(text: str) -> str:
    if not _VISIBLE.search(text):
        raise PydanticCustomError("blank_text", "text is empty or only whitespace")
    return text


def review_text_type(max_text_chars: int) -> Any:
    return Annotated[
        str,
        Field(
            min_length=1,
            max_length=max_text_chars,
            description=f"Review text, 1 to {max_text_chars} characters, not only whitespace",
            json_schema_extra={"pattern": _VISIBLE.pattern},
        ),
        AfterValidator(_reject_blank),
    ]


def request_models(max_text_chars: int, max_batch_size: int) -> tuple[type[BaseModel], ...]:
    """(PredictRequest, BatchPredictRequest) enforcing these limits."""
    review_text = review_text_type(max_text_chars)

    class PredictRequest(BaseModel):
        model_config = ConfigDict(
            strict=True,
            extra="forbid",
            json_schema_extra={"examples": [{"text": EXAMPLE_REVIEW}]},
        )
        text: review_text  # type: ignore[valid-type]

    class BatchPredictRequest(BaseModel):
        model_config = ConfigDict(
            strict=True,
            extra="forbid",
            json_schema_extra={"examples": [{"texts": [EXAMPLE_REVIEW, EXAMPLE_NEGATIVE_REVIEW]}]},
        )
        texts: Annotated[
            list[review_text],  # type: ignore[valid-type]
            Field(
                min_length=1,
                max_length=max_batch_size,
                description=f"1 to {max_batch_size} review texts, scored in order",
            ),
        ]

    return PredictRequest, BatchPredictRequest


class Contribution(BaseModel):
    feature: str = Field(description="A word or word pair, as the model sees it (lowercased)")
    weight: float = Field(description="Its contribution to the log-odds of positive")


class Explanation(BaseModel):
    positive: list[Contribution] = Field(description="Strongest pushes towards positive first")
    negative: list[Contribution] = Field(description="Strongest pushes towards negative first")


class Prediction(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "positive",
                    "probability_positive": 0.973,
                    "model_version": EXAMPLE_VERSION,
                    "explanation": None,
                }
            ]
        }
    )
    label: Label
    probability_positive: float = Field(ge=0.0, le=1.0)
    model_version: str = Field(description="Content hash of the bundle (manifest `version`)")
    explanation: Explanation | None = Field(
        default=None, description="Present when the request asked for `explain=true`"
    )


class BatchPrediction(BaseModel):
    model_version: str
    predictions: list[Prediction] = Field(description="One per input text, in input order")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "loading", "unresponsive"]
    model_version: str | None = None
    detail: str | None = Field(default=None, description="Why the service is not ready (503)")


class ModelCard(BaseModel):
    """The bundle's manifest: what was trained, on which data, and how well it did."""

    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    format_version: int
    labels: list[str]
    threshold: float
    params: dict[str, Any]
    metrics: dict[str, Any]
    data: dict[str, Any]
    source: str = Field(description="Where the service loaded the bundle from")


class ErrorMessage(BaseModel):
    detail: str = Field(description="What is wrong with the request")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where in the request the problem is")
    msg: str
    type: str


class ValidationErrors(BaseModel):
    detail: list[FieldError]
