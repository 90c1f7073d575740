"""Behaviour of the exported full-data model: what a user typing a review relies on.

Minimum functionality (clear cases), negation, invariance (names of actors must not decide the
label) and direction (adding praise raises the score, adding criticism lowers it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imdb_sentiment.bundle import SentimentModel, load_bundle

pytestmark = pytest.mark.full_data

CLEAR_POSITIVE = [
    "This movie was wonderful, the acting was superb and the story moved me.",
    "An excellent film. I loved every minute of it.",
    "One of the best films I have ever seen.",
]
CLEAR_NEGATIVE = [
    "This was a terrible movie: boring, badly acted and far too long.",
    "Awful. A complete waste of time and money.",
    "The worst film I have seen in years.",
]
NEGATED = ["The film was not good at all.", "It was not good at all.", "not good at all"]
ACTORS = ["Tom Hanks", "Nicolas Cage", "Meryl Streep", "Steven Seagal", "Denzel Washington"]
TEMPLATES = [
    pytest.param(
        "{} gives a brilliant performance in this moving drama.",
        marks=pytest.mark.xfail(
            strict=True,
            reason="known bias of the default model (README, Known limitations): 'Steven Seagal' "
            "alone pulls this praise down to p=0.69 (the other names 0.99)",
        ),
    ),
    "{} was dull and the plot made no sense.",
    "I expected more from {}, but the script lets everyone down and the ending is a mess.",
]
# How far a probability may move when only an actor's name changes.
NAME_TOLERANCE = 0.2


@pytest.fixture(scope="module")
def model(full_bundle: Path) -> SentimentModel:
    return load_bundle(full_bundle)


def test_clear_reviews(model: SentimentModel) -> None:
    assert model.predict(CLEAR_POSITIVE) == ["positive"] * len(CLEAR_POSITIVE)
    assert model.predict(CLEAR_NEGATIVE) == ["negative"] * len(CLEAR_NEGATIVE)
    assert min(model.predict_proba(CLEAR_POSITIVE)) > 0.8
    assert max(model.predict_proba(CLEAR_NEGATIVE)) < 0.2


def test_negation_turns_praise_negative(model: SentimentModel) -> None:
    assert model.predict(NEGATED) == ["negative"] * len(NEGATED)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        pytest.param(
            "The film was good.",
            "positive",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known weakness of the default model (README, Known limitations): in IMDB "
                "reviews a bare 'good' is weak evidence (p=0.40)",
            ),
        ),
        ("I did not like this movie.", "negative"),
    ],
)
def test_plain_one_clause_reviews(model: SentimentModel, text: str, label: str) -> None:
    assert model.predict([text]) == [label]


@pytest.mark.parametrize("template", TEMPLATES)
def test_actor_names_do_not_decide_the_label(model: SentimentModel, template: str) -> None:
    texts = [template.format(actor) for actor in ACTORS]
    probabilities = model.predict_proba(texts)
    assert len(set(model.labels_for(probabilities))) == 1, dict(
        zip(ACTORS, probabilities, strict=True)
    )
    assert probabilities.max() - probabilities.min() < NAME_TOLERANCE


def test_direction_of_added_praise_and_criticism(model: SentimentModel) -> None:
    base = "The story follows a family moving to a new town."
    neutral, praised, criticised = model.predict_proba(
        [
            base,
            base + " The acting is superb and the ending is beautiful.",
            base + " The acting is wooden and the ending is awful.",
        ]
    )
    assert praised > neutral > criticised
