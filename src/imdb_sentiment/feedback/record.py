"""One piece of user feedback, validated with the same rules and limits as ``/predict`` input.

The text is user content: :meth:`Feedback.describe` is what logs may show (id, SHA-256 prefix and
length), never the text itself.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from imdb_sentiment.labels import LABELS
from imdb_sentiment.text import has_visible_text

Label = Literal["negative", "positive"]
MAX_MODEL_VERSION_CHARS = 128  # a bundle version is a 12-character hash; a registry name fits too


class FeedbackError(ValueError):
    """The feedback is not acceptable; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def text_digest(text: str) -> str:
    """A short SHA-256 prefix that identifies a text in logs without revealing it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _label(name: str, value: object, *, optional: bool) -> Label | None:
    if value is None and optional:
        return None
    if value not in LABELS:
        raise FeedbackError(name, f"must be one of {list(LABELS)}")
    return value


def _probability(value: object) -> float | None:
    if value is None:
        return None
    # bool is an int: refuse it as /predict's strict models do.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FeedbackError("probability_positive", "must be a number")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise FeedbackError("probability_positive", "must be between 0 and 1")
    return number


def _model_version(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FeedbackError("model_version", "must be a non-empty string")
    if len(value) > MAX_MODEL_VERSION_CHARS or not value.isprintable():
        raise FeedbackError(
            "model_version", f"must be at most {MAX_MODEL_VERSION_CHARS} printable characters"
        )
    return value


@dataclass(frozen=True)
class Feedback:
    """A user's verdict on one text: the true ``label`` and, if known, what they were shown."""

    text: str = field(repr=False)  # user content: kept out of reprs, tracebacks and logs
    label: Label
    predicted_label: Label | None = None
    probability_positive: float | None = None
    model_version: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def create(
        cls,
        text: object,
        label: object,
        *,
        max_text_chars: int,
        predicted_label: object = None,
        probability_positive: object = None,
        model_version: object = None,
    ) -> Feedback:
        """Validate raw input (as /predict does: a string of 1 to ``max_text_chars`` characters,
        not only whitespace) and stamp a new id and the current UTC time; raises FeedbackError."""
        if not isinstance(text, str):
            raise FeedbackError("text", "must be a string")
        if not text or not has_visible_text(text):
            raise FeedbackError("text", "is empty or only whitespace")
        if len(text) > max_text_chars:
            raise FeedbackError("text", f"is longer than {max_text_chars} characters")
        # PostgreSQL text cannot hold NUL, and no database takes lone surrogates: refuse them here
        # rather than let the background writer fail on them later.
        if "\x00" in text:
            raise FeedbackError("text", "must not contain NUL characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise FeedbackError("text", "is not valid Unicode (lone surrogate)") from None
        return cls(
            text=text,
            label=_label("label", label, optional=False),
            predicted_label=_label("predicted_label", predicted_label, optional=True),
            probability_positive=_probability(probability_positive),
            model_version=_model_version(model_version),
        )

    @property
    def correct(self) -> bool | None:
        """Whether the prediction the user saw was right; None when it is not known."""
        return None if self.predicted_label is None else self.predicted_label == self.label

    @property
    def correct_label(self) -> str | None:
        """``correct`` as the ``imdb_sentiment_feedback_total{correct=...}`` label value."""
        correct = self.correct
        return None if correct is None else str(correct).lower()

    def describe(self) -> str:
        """What a log line may say about this row: never the text, only its hash and length."""
        return f"id={self.id} sha256={text_digest(self.text)} chars={len(self.text)}"
