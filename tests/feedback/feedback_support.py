"""Rows and comparisons the feedback tests share."""

from __future__ import annotations

from imdb_sentiment.feedback.record import Feedback

MAX_CHARS = 20_000


def sample_rows(count: int, *, model_version: str | None = "v1") -> list[Feedback]:
    """Varied valid rows: both labels, right and wrong predictions, optional fields missing,
    non-ASCII text and one text at the length limit."""
    rows = []
    for i in range(count):
        text = f"Review {i}: un film émouvant, 映画 😀 <br /> line\nbreak"
        if i == 3:
            text = ("x" * (MAX_CHARS - 10)) + f"end {i:06d}"  # exactly MAX_CHARS
        rows.append(
            Feedback.create(
                text,
                ("positive", "negative")[i % 2],
                max_text_chars=MAX_CHARS,
                predicted_label=None if i % 5 == 4 else ("positive", "negative")[i % 3 == 0],
                probability_positive=None if i % 5 == 4 else round(i / count, 6),
                model_version=None if i % 7 == 6 else model_version,
            )
        )
    return rows


def as_tuple(row: Feedback) -> tuple[object, ...]:
    return (
        row.id,
        row.text,
        row.label,
        row.predicted_label,
        row.probability_positive,
        row.model_version,
        row.created_at,
    )
