"""Behaviour of the exported full-data model: what a user typing a review relies on.

Minimum functionality (clear cases), negation, invariance (names of actors must not decide the
label) and direction (adding praise raises the score, adding criticism lowers it). The
behavioural suite (tests/behaviour/cases.jsonl) is scored by the evaluate stage into
metrics/behaviour.json; here it is checked to be well formed and to match the bundle.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers.support import ROOT

from imdb_sentiment.bundle import SentimentModel, load_bundle
from imdb_sentiment.training.behaviour import SuiteError, check_case, read_suite, score_suite

SUITE = ROOT / "tests" / "behaviour" / "cases.jsonl"
BEHAVIOUR_METRICS = ROOT / "metrics" / "behaviour.json"
BEHAVIOUR_CASES = ROOT / "metrics" / "behaviour_cases.json"
# What the suite must cover, each with at least MIN_CASES_PER_CAPABILITY cases.
CAPABILITIES = {
    "praise",
    "pan",
    "negation",
    "contrast",
    "intensifiers_hedges",
    "invariance_names",
    "invariance_places_numbers",
    "typos",
    "neutral_sentence",
    "directional",
}
MIN_CASES_PER_CAPABILITY = 10

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
# Names the training reviews tie to bad films ("Steven Seagal") are masked like any other name:
# featurize.name_masking, docs/model.md.
TEMPLATES = [
    "{} gives a brilliant performance in this moving drama.",
    "{} was dull and the plot made no sense.",
    "I expected more from {}, but the script lets everyone down and the ending is a mess.",
]
# How far a probability may move when only an actor's name changes.
NAME_TOLERANCE = 0.2


def test_behaviour_suite_is_well_formed_and_covers_every_capability() -> None:
    cases = read_suite(SUITE)
    assert len(cases) >= 200
    counts = Counter(case["capability"] for case in cases)
    assert set(counts) == CAPABILITIES
    assert min(counts.values()) >= MIN_CASES_PER_CAPABILITY, counts
    # Every case states what it expects: a label, an invariance bound or a direction.
    for case in cases:
        assert "expect" in case or case["test"] == "invariance", case["id"]


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ({"id": "x", "capability": "praise", "test": "label", "text": "Good."}, "'expect'"),
        (
            {"id": "x", "capability": "pan", "test": "label", "text": "Bad.", "expect": "bad"},
            "expect must be one of",
        ),
        (
            {"id": "x", "capability": "names", "test": "invariance", "texts": ["a"]},
            "'max_change'",
        ),
        (
            {
                "id": "x",
                "capability": "names",
                "test": "invariance",
                "texts": ["a"],
                "max_change": 0.1,
            },
            "at least two",
        ),
        (
            {"id": "x", "capability": "d", "test": "direction", "text": "a", "changed": "b"},
            "'expect'",
        ),
        ({"id": "x", "capability": "d", "test": "guess", "text": "a"}, "test must be one of"),
    ],
)
def test_malformed_behaviour_cases_are_rejected(case: dict, problem: str) -> None:
    with pytest.raises(SuiteError, match=problem):
        check_case(case)


@pytest.fixture(scope="module")
def model(full_bundle: Path) -> SentimentModel:
    return load_bundle(full_bundle)


@pytest.mark.full_data
def test_behaviour_metric_is_what_the_exported_bundle_does(model: SentimentModel) -> None:
    """metrics/behaviour.json (from the evaluate stage) is what the bundle really does."""
    metrics, results = score_suite(read_suite(SUITE), model.predict_proba, model.threshold)
    recorded = json.loads(BEHAVIOUR_METRICS.read_text())
    assert metrics == recorded
    recorded_cases = {
        case["id"]: case["passed"] for case in json.loads(BEHAVIOUR_CASES.read_text())
    }
    assert {r["id"]: r["passed"] for r in results} == recorded_cases


@pytest.mark.full_data
def test_clear_reviews(model: SentimentModel) -> None:
    assert model.predict(CLEAR_POSITIVE) == ["positive"] * len(CLEAR_POSITIVE)
    assert model.predict(CLEAR_NEGATIVE) == ["negative"] * len(CLEAR_NEGATIVE)
    assert min(model.predict_proba(CLEAR_POSITIVE)) > 0.8
    assert max(model.predict_proba(CLEAR_NEGATIVE)) < 0.2


@pytest.mark.full_data
def test_negation_turns_praise_negative(model: SentimentModel) -> None:
    assert model.predict(NEGATED) == ["negative"] * len(NEGATED)


@pytest.mark.full_data
@pytest.mark.parametrize(
    ("text", "label"),
    [
        pytest.param(
            "The film was good.",
            "positive",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known weakness of the default model (docs/model-design.md): in IMDB "
                "reviews a bare 'good' is weak evidence (p=0.41; docs/model.md)",
            ),
        ),
        ("I did not like this movie.", "negative"),
    ],
)
def test_plain_one_clause_reviews(model: SentimentModel, text: str, label: str) -> None:
    assert model.predict([text]) == [label]


@pytest.mark.full_data
@pytest.mark.parametrize("template", TEMPLATES)
def test_actor_names_do_not_decide_the_label(model: SentimentModel, template: str) -> None:
    texts = [template.format(actor) for actor in ACTORS]
    probabilities = model.predict_proba(texts)
    assert len(set(model.labels_for(probabilities))) == 1, dict(
        zip(ACTORS, probabilities, strict=True)
    )
    assert probabilities.max() - probabilities.min() < NAME_TOLERANCE


@pytest.mark.full_data
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
