"""Bodies of the prediction API (pydantic v2). Their examples are what /docs shows.

The request models are built per app from the settings, so the limits a deployment enforces
are also the limits its OpenAPI schema advertises (``maxLength``, ``maxItems``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from imdb_sentiment.text import VISIBLE, WHITESPACE

EXAMPLE_REVIEW = (
    "A wonderful film: the acting is superb and the story kept me gripped until the very end."
)
EXAMPLE_NEGATIVE_REVIEW = "Dull and far too long. The plot makes no sense and the acting is awful."
EXAMPLE_VERSION = "61ebc7b073d4"
# One whitespace class for the service, its JSON Schema and the feedback store.
_VISIBLE = VISIBLE

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
        text: review_text

    class BatchPredictRequest(BaseModel):
        model_config = ConfigDict(
            strict=True,
            extra="forbid",
            json_schema_extra={"examples": [{"texts": [EXAMPLE_REVIEW, EXAMPLE_NEGATIVE_REVIEW]}]},
        )
        texts: Annotated[
            list[review_text],
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
    challenger: dict[str, Any] | None = Field(
        default=None,
        description="The bundle shadow-scored beside this one (name, version, source, "
        "shadow_fraction), its load error (status unavailable), or null without one",
    )


# A version as the schema advertises it: printable ASCII, one visible character (bundle versions
# are hex hashes); the store itself accepts any printable text of at most 128 characters.
_MODEL_VERSION = r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$"


def feedback_request_model(max_text_chars: int) -> type[BaseModel]:
    """FeedbackRequest with /predict's text limits; Feedback.create re-checks everything."""
    # No NUL either (no database column holds it), so the schema's pattern excludes it too.
    visible_no_nul = f"^[^\\x00]*[^{WHITESPACE}\\x00][^\\x00]*$"
    text_field = Field(
        min_length=1,
        max_length=max_text_chars,
        description=f"The review text as sent to /predict: 1 to {max_text_chars} characters, "
        "not only whitespace, no NUL",
        json_schema_extra={"pattern": visible_no_nul},
    )

    class FeedbackRequest(BaseModel):
        """A user's verdict on one text, and optionally what they were shown."""

        model_config = ConfigDict(
            strict=True,
            extra="forbid",
            json_schema_extra={
                "examples": [
                    {
                        "text": EXAMPLE_REVIEW,
                        "label": "positive",
                        "predicted_label": "positive",
                        "probability_positive": 0.973,
                        "model_version": EXAMPLE_VERSION,
                    }
                ]
            },
        )
        text: Annotated[str, text_field]
        label: Label = Field(description="The right label, in the user's view")
        predicted_label: Label | None = Field(
            default=None, description="The label the user was shown"
        )
        probability_positive: float | None = Field(
            default=None, ge=0.0, le=1.0, description="The probability the user was shown"
        )
        model_version: str | None = Field(
            default=None,
            max_length=128,
            pattern=_MODEL_VERSION,
            description="The model_version the user was shown",
        )

    return FeedbackRequest


class FeedbackAccepted(BaseModel):
    id: str = Field(description="The row's id: the handle for deleting it later")


class Disagreement(BaseModel):
    text_sha256: str
    champion_probability: float
    challenger_probability: float
    champion_label: Label
    challenger_label: Label
    time: str


class ShadowSample(BaseModel):
    champion_version: str
    challenger_version: str
    disagreements: list[Disagreement] = Field(description="The most recent ones, oldest first")


class ErrorMessage(BaseModel):
    detail: str = Field(description="What is wrong with the request")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where in the request the problem is")
    msg: str
    type: str


class ValidationErrors(BaseModel):
    detail: list[FieldError]
