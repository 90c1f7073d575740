"""Feedback input is validated like /predict input, before anything is queued or stored."""

from __future__ import annotations

import pytest

from imdb_sentiment.feedback.database import count_feedback, create_feedback_engine
from imdb_sentiment.feedback.record import Feedback, FeedbackError, text_digest
from imdb_sentiment.feedback.store import FeedbackStore
from imdb_sentiment.settings import Settings

LIMIT = 50
GOOD = {"text": "A fine film.", "label": "positive"}

BAD_INPUTS = {
    "empty text": ({"text": ""}, "text"),
    "only whitespace": ({"text": " \t\n\u3000"}, "text"),
    # Whitespace to JSON Schema though not to Python's str.isspace: /predict refuses it too.
    "only a byte-order mark": ({"text": "\ufeff\ufeff"}, "text"),
    "text over the limit": ({"text": "x" * (LIMIT + 1)}, "text"),
    "text not a string": ({"text": 42}, "text"),
    "text is a list": ({"text": ["a review"]}, "text"),
    "NUL in the text": ({"text": "good\x00film"}, "text"),
    "lone surrogate": ({"text": "good \ud800 film"}, "text"),
    "unknown label": ({"label": "neutral"}, "label"),
    "missing label": ({"label": None}, "label"),
    "label in capitals": ({"label": "Positive"}, "label"),
    "label as a number": ({"label": 1}, "label"),
    "unknown predicted label": ({"predicted_label": "meh"}, "predicted_label"),
    "probability above 1": ({"probability_positive": 1.5}, "probability_positive"),
    "probability below 0": ({"probability_positive": -0.1}, "probability_positive"),
    "probability NaN": ({"probability_positive": float("nan")}, "probability_positive"),
    "probability as text": ({"probability_positive": "0.9"}, "probability_positive"),
    "probability as a bool": ({"probability_positive": True}, "probability_positive"),
    "empty model version": ({"model_version": " "}, "model_version"),
    "model version too long": ({"model_version": "v" * 129}, "model_version"),
    "model version with a newline": ({"model_version": "abc\ndef"}, "model_version"),
    "model version not a string": ({"model_version": 7}, "model_version"),
}


def _create(**changes: object) -> Feedback:
    values = {**GOOD, **changes}
    return Feedback.create(values.pop("text"), values.pop("label"), max_text_chars=LIMIT, **values)


@pytest.mark.parametrize("changes,field", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_rejected_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(FeedbackError) as raised:
        _create(**changes)
    assert raised.value.field == field


def test_bad_input_is_rejected_with_nothing_stored(db_url: str) -> None:
    with FeedbackStore(db_url) as store:
        for changes, _ in BAD_INPUTS.values():
            with pytest.raises(FeedbackError):
                store.submit(_create(**changes))
        assert store.submit(_create())  # and the store still takes good input
        assert store.flush(60)
        assert store.stats().accepted == 1
    engine = create_feedback_engine(db_url)
    assert count_feedback(engine) == 1
    engine.dispose()


def test_the_limits_are_the_predict_limits() -> None:
    at_limit = _create(text="y" * LIMIT)
    assert len(at_limit.text) == LIMIT
    # The service passes settings.max_text_chars, the number /predict enforces.
    limit = Settings().max_text_chars
    assert Feedback.create("z" * limit, "negative", max_text_chars=limit).label == "negative"
    with pytest.raises(FeedbackError):
        Feedback.create("z" * (limit + 1), "negative", max_text_chars=limit)


def test_whitespace_rule_is_the_one_the_api_advertises() -> None:
    """/predict and /feedback refuse the same blank texts: one whitespace class for both."""
    from imdb_sentiment.text import WHITESPACE

    schemas = pytest.importorskip("app.schemas")
    assert schemas.WHITESPACE == WHITESPACE


def test_optional_fields_and_correctness() -> None:
    plain = _create()
    assert (plain.predicted_label, plain.probability_positive, plain.model_version) == (
        None,
        None,
        None,
    )
    assert plain.correct is None and plain.correct_label is None
    right = _create(predicted_label="positive", probability_positive=1, model_version="61ebc7b0")
    assert right.correct is True and right.correct_label == "true"
    assert right.probability_positive == 1.0 and isinstance(right.probability_positive, float)
    wrong = _create(label="negative", predicted_label="positive", probability_positive=0.8)
    assert wrong.correct is False and wrong.correct_label == "false"
    assert right.created_at.utcoffset().total_seconds() == 0
    assert right.id != wrong.id


def test_text_stays_out_of_reprs_and_descriptions() -> None:
    row = _create(text="my very private review")
    assert "private" not in repr(row)
    assert "private" not in row.describe()
    assert text_digest(row.text) in row.describe() and "chars=22" in row.describe()
