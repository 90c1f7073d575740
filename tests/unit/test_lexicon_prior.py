"""train.lexicon_prior: VADER valences as a prior on the unigram weights, folded into coef."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.support import params_with

from imdb_sentiment.ngrams import LENGTH_FEATURE_NAME, NAME_TOKEN, NgramVectorizer
from imdb_sentiment.training.lexicon import lexicon_prior, vader_valences
from imdb_sentiment.training.params import ParamsError, TrainParams, parse_section
from imdb_sentiment.training.train import LabelledRows, fit_models

POSITIVE = ["a good film", "good acting and a good story", "great fun, good cast", "it was good"]
NEGATIVE = ["a bad film", "not good at all", "bad acting, not good", "dull and bad story"]


def train_params(**overrides: object) -> TrainParams:
    values = params_with({f"train.{key}": value for key, value in overrides.items()})["train"]
    return parse_section("train", values, TrainParams)


@pytest.fixture(scope="module")
def vectorizer() -> NgramVectorizer:
    return NgramVectorizer(
        max_n=2, min_df=1, length_feature=True, negation_scope=2, use_idf=False
    ).fit(POSITIVE + NEGATIVE)


def rows(vectorizer: NgramVectorizer, positive: list[str], negative: list[str]) -> LabelledRows:
    texts = positive + negative
    labels = np.array([1] * len(positive) + [0] * len(negative))
    short = [text.split(",")[0] for text in texts]
    return LabelledRows(
        vectorizer.transform(texts), labels, vectorizer.transform(short), labels.copy()
    )


def test_the_shipped_lexicon_is_read_with_its_valences() -> None:
    valences = vader_valences()
    assert len(valences) > 7000
    assert valences["good"] == 1.9
    assert valences["bad"] == -2.5
    assert NAME_TOKEN not in valences


def test_a_prior_of_zero_trains_exactly_the_model_without_it(vectorizer) -> None:
    names = vectorizer.get_feature_names_out()
    train = rows(vectorizer, POSITIVE[:3], NEGATIVE[:3])
    val = rows(vectorizer, POSITIVE[3:], NEGATIVE[3:])
    params = train_params()
    plain = fit_models(params, train, val, passthrough=1)
    zero = fit_models(
        params, train, val, 1, lexicon_prior(names, vader_valences(), 0.0, passthrough=1)
    )
    prior = fit_models(
        params, train, val, 1, lexicon_prior(names, vader_valences(), 1.0, passthrough=1)
    )
    for model in ("selection", "final"):
        assert np.array_equal(getattr(zero, model).coef_, getattr(plain, model).coef_)
        assert np.array_equal(getattr(zero, model).intercept_, getattr(plain, model).intercept_)
        assert not np.array_equal(getattr(prior, model).coef_, getattr(plain, model).coef_)


def test_a_positive_word_rises_and_its_negated_form_falls_by_the_documented_amounts(
    vectorizer,
) -> None:
    names = list(vectorizer.get_feature_names_out())
    valences = vader_valences()
    prior = lexicon_prior(names, valences, 2.0, passthrough=1)
    good, not_good = names.index("good"), names.index("NOT_good")
    assert prior[good] == pytest.approx(2.0 * 1.9 / 4)
    assert prior[not_good] == pytest.approx(-0.5 * 2.0 * 1.9 / 4)
    assert prior[names.index("bad")] == pytest.approx(2.0 * -2.5 / 4)
    # Bigrams, the length column and words outside the lexicon keep their learned weight.
    assert prior[names.index("good film")] == 0
    assert prior[names.index(LENGTH_FEATURE_NAME)] == 0
    assert prior[names.index("film")] == 0


def test_calibration_is_fitted_on_the_model_with_the_prior(vectorizer) -> None:
    """Platt scaling (with its intercept) makes the mean validation probability equal the
    validation positive rate; that holds for the exported model only if the prior was added
    before the sigmoid was fitted."""
    names = list(vectorizer.get_feature_names_out())
    train = rows(vectorizer, POSITIVE[:3], NEGATIVE[:3])
    val = rows(vectorizer, [*POSITIVE[1:], "good, bad"], [*NEGATIVE[1:], "not bad, good"])
    params = train_params(balance_short_reviews=False, refit=False)
    prior = lexicon_prior(names, vader_valences(), 4.0, passthrough=1)
    model = fit_models(params, train, val, 1, prior).final
    probabilities = model.predict_proba(val.features)[:, 1]
    assert probabilities.mean() == pytest.approx(val.labels.mean(), abs=1e-3)
    assert model.coef_.ravel()[names.index("good")] > 0


def test_a_negated_word_never_matches_a_name_or_a_masked_token() -> None:
    names = [NAME_TOKEN, "NOT_" + NAME_TOKEN, "NOT_", "great"]
    prior = lexicon_prior(names, vader_valences(), 1.0)
    assert prior.tolist() == [0.0, 0.0, 0.0, pytest.approx(3.1 / 4)]


@pytest.mark.parametrize("value", [-0.5, 1000.0, "strong"])
def test_a_bad_lexicon_prior_is_named(value: object) -> None:
    values = params_with({"train.lexicon_prior": value})["train"]
    with pytest.raises(ParamsError, match=r"train\.lexicon_prior: "):
        parse_section("train", values, TrainParams)
