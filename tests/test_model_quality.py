"""The model of issue 3: fast n-gram features, NB weighting and Platt scaling folded into a
plain linear model, short-review behaviour, calibration, and the full-data quality floor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from support import sample_members

from imdb_sentiment.bundle import PARALLEL_MIN_BATCH, load_bundle
from imdb_sentiment.model_format import dump_model, load_model
from imdb_sentiment.ngrams import NgramVectorizer
from imdb_sentiment.pipeline.evaluate import expected_calibration_error, short_reviews
from imdb_sentiment.pipeline.export import compose
from imdb_sentiment.pipeline.params import (
    FeaturizeParams,
    ParamsError,
    TrainParams,
    parse_section,
)
from imdb_sentiment.pipeline.train import fit_classifier, nb_ratios
from imdb_sentiment.text import strip_tags

# Full-data floor for the default params (measured: see README "Model quality and speed").
TEST_ACCURACY_FLOOR = 0.915
# Predicted-positive rate on one-sentence reviews may differ from the truth by at most this.
SHORT_REVIEW_BIAS_LIMIT = 0.05


@pytest.fixture(scope="module")
def sample_texts() -> tuple[list[str], np.ndarray]:
    members = sample_members()
    names = sorted(
        name for name in members if name.endswith(".txt") and ("/pos/" in name or "/neg/" in name)
    )
    return [members[n] for n in names], np.array([int("/pos/" in n) for n in names])


def test_ngram_features_match_scikit_learn(sample_texts: tuple[list[str], np.ndarray]) -> None:
    texts, _ = sample_texts
    ours = NgramVectorizer(max_n=3, min_df=2, tf="binary")
    reference = TfidfVectorizer(
        preprocessor=strip_tags,
        token_pattern=r"\w+|[!?]",
        ngram_range=(1, 3),
        min_df=2,
        binary=True,
        dtype=np.float64,
    )
    x_ours, x_ref = ours.fit_transform(texts), reference.fit_transform(texts)
    names_ours = ours.get_feature_names_out()
    assert sorted(names_ours) == sorted(reference.get_feature_names_out())
    order = [reference.vocabulary_[name] for name in names_ours]
    np.testing.assert_allclose(x_ours.toarray(), x_ref[:, order].toarray(), atol=1e-12)
    # Unseen text goes through the same path at inference.
    unseen = ["A wonderful film!", "zzzz qqqq", ""]
    np.testing.assert_allclose(
        ours.transform(unseen).toarray(),
        reference.transform(unseen)[:, order].toarray(),
        atol=1e-12,
    )


def test_nb_weighting_and_platt_fold_into_a_plain_linear_model(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    vectorizer = NgramVectorizer(max_n=2, min_df=1)
    features = vectorizer.fit_transform(texts)
    params = TrainParams(
        model="logistic_regression",
        C=4.0,
        max_iter=1000,
        seed=0,
        nb_weighting=True,
        calibration="platt",
    )
    folded = fit_classifier(params, features, labels, features, labels)
    # The same model computed the long way: scale by the NB ratios, fit, then fit the sigmoid.
    ratios = nb_ratios(features, labels, 1.0)
    scaled = features @ sp.diags(ratios)
    inner = LogisticRegression(C=4.0, solver="liblinear", max_iter=1000, random_state=0)
    inner.fit(scaled, labels)
    sigmoid = LogisticRegression(C=1e6).fit(inner.decision_function(scaled).reshape(-1, 1), labels)
    expected = sigmoid.predict_proba(inner.decision_function(scaled).reshape(-1, 1))[:, 1]
    np.testing.assert_allclose(folded.predict_proba(features)[:, 1], expected, atol=1e-9)
    # And it serialises as the plain logistic model serving already knows.
    files = dump_model(compose(vectorizer, folded))
    assert json.loads(files["model.json"])["classifier"]["kind"] == "logistic"
    assert files == dump_model(compose(vectorizer, folded)), "export must be byte-deterministic"
    reloaded = load_model(files)
    np.testing.assert_allclose(reloaded.predict_proba(texts)[:, 1], expected, atol=1e-9)


def test_ngram_vectorizer_params_are_checked() -> None:
    base = {"ngram_range": [1, 3], "min_df": 2, "max_df": 1.0}
    assert parse_section("featurize", base, FeaturizeParams).vectorizer == "ngram"
    with pytest.raises(ParamsError, match=r"featurize.*at most 3"):
        parse_section("featurize", {**base, "ngram_range": [1, 4]}, FeaturizeParams)
    with pytest.raises(ParamsError, match="max_features is only supported"):
        parse_section("featurize", {**base, "max_features": 1000}, FeaturizeParams)
    with pytest.raises(ParamsError, match="calibration"):
        parse_section(
            "train",
            {"model": "sgd", "C": 1, "max_iter": 5, "seed": 0, "calibration": "isotonic"},
            TrainParams,
        )


def test_short_reviews_are_first_and_last_sentences() -> None:
    frame = pd.DataFrame(
        {
            "review_id": ["r1", "r2"],
            "label": [1, 0],
            "text": [
                "Loved it from start to end. Middle part. The cast is superb!<br />",
                "Dull and far too long.",
            ],
        }
    )
    short = short_reviews(frame, min_words=3)
    assert short["text"].tolist() == [
        "loved it from start to end.",
        "the cast is superb!",
        "dull and far too long.",
    ]
    assert short["label"].tolist() == [1, 1, 0]


def test_expected_calibration_error() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=20_000)
    calibrated = (rng.uniform(size=20_000) < probabilities).astype(int)
    assert expected_calibration_error(calibrated, probabilities, 10) < 0.02
    overconfident = np.where(probabilities > 0.5, 0.99, 0.01)
    assert expected_calibration_error(calibrated, overconfident, 10) > 0.2


@pytest.mark.full_data
def test_full_model_meets_the_quality_floor(full_bundle, full_reviews) -> None:
    model = load_bundle(full_bundle)
    reviews = pd.read_parquet(full_reviews, columns=["review_id", "split", "label", "text"])
    test = reviews[reviews["split"] == "test"]
    probabilities = model.predict_proba(test["text"].tolist())
    accuracy = float(((probabilities >= model.threshold) == test["label"].to_numpy()).mean())
    assert accuracy >= TEST_ACCURACY_FLOOR
    assert accuracy == pytest.approx(model.manifest["metrics"]["test"]["accuracy"], abs=1e-6)
    short = short_reviews(test, min_words=3)
    predicted = model.predict_proba(short["text"].tolist()) >= model.threshold
    assert abs(predicted.mean() - short["label"].mean()) <= SHORT_REVIEW_BIAS_LIMIT
    assert float((predicted == short["label"].to_numpy()).mean()) >= 0.74


def test_large_batches_score_identically_in_worker_processes(small_bundle) -> None:
    texts = [text for _, text in sorted(sample_members().items()) if text.strip()]
    batch = (texts * (PARALLEL_MIN_BATCH // len(texts) + 1))[: PARALLEL_MIN_BATCH + 7]
    serial = load_bundle(small_bundle).predict_proba(batch)
    parallel_model = load_bundle(small_bundle, scoring_workers=2)
    try:
        parallel = parallel_model.predict_proba(batch)
        assert parallel_model._pool is not None, "a batch this large goes to the workers"
        np.testing.assert_array_equal(parallel, serial)
        # Small batches stay in-process and agree too.
        np.testing.assert_array_equal(parallel_model.predict_proba(batch[:3]), serial[:3])
    finally:
        parallel_model.close()
    with pytest.raises(ValueError, match="scoring_workers must be a positive integer"):
        load_bundle(small_bundle, scoring_workers=0)
