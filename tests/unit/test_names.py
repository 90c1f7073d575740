"""Name masking: proper nouns found from the training text's capitals become one shared token."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imdb_sentiment.files import npy_bytes
from imdb_sentiment.model_format import (
    ModelFormatError,
    dump_model,
    load_model,
    logistic_classifier,
)
from imdb_sentiment.names import count_capitals, name_tokens
from imdb_sentiment.ngrams import NAME_TOKEN, NgramVectorizer
from imdb_sentiment.training.export import compose
from imdb_sentiment.training.ingest import read_archive

PATTERN = r"\w+(?:'\w+)?|[!?]+"
# "Seagal" is Title-case wherever it stands inside a sentence; "good" never is; "Great" and
# "Sadly" are capitalized only where a sentence (or a paragraph, after a tag) starts; "I" is
# Title-case everywhere; "DVD" is all capitals.
CORPUS = [
    "Great film. I think Seagal was good and I'm sure the DVD is good.",
    "Sadly, the plot is thin. We saw Seagal and it was good!",
    "Great fun<br /><br />Great cast, and Seagal, as always, is good. I've seen it twice.",
    "Seagal again? Great. I liked the DVD extras, good ones.",
]


def fitted(texts: list[str], **settings: object) -> NgramVectorizer:
    vectorizer = NgramVectorizer(
        max_n=3, min_df=1, token_pattern=PATTERN, negation_scope=2, length_feature=True, **settings
    )
    vectorizer.fit(texts)
    return vectorizer


def test_words_title_case_inside_sentences_are_names_and_others_are_not() -> None:
    inside, title = count_capitals(CORPUS, PATTERN)
    assert (inside["seagal"], title["seagal"]) == (3, 3)
    assert inside["good"] == 5 and title["good"] == 0
    # Only capitals at a sentence's, a text's or a paragraph's start: never counted.
    assert inside["great"] == 0 and inside["sadly"] == 0
    assert title["dvd"] == 0  # all capitals is not Title-case
    assert name_tokens(CORPUS, PATTERN, min_count=2, threshold=0.9) == {"seagal"}


def test_the_pronoun_i_and_its_contractions_are_never_names() -> None:
    texts = ["Then I said I'm in, and I've seen what I'd do and I'll do it."] * 3
    inside, title = count_capitals(texts, PATTERN)
    # "I'm", "I've"... are Title-case wherever they stand ("I" alone reads as all capitals).
    assert all(title[word] == inside[word] == 3 for word in ("i'm", "i've", "i'd", "i'll"))
    assert name_tokens(texts, PATTERN, min_count=1, threshold=0.9) == set()


def test_min_count_and_threshold_decide_which_words_are_names() -> None:
    texts = ["We saw Boll there.", "We saw Boll again.", "We saw Wood there.", "We saw wood."]
    assert name_tokens(texts, PATTERN, min_count=2, threshold=0.9) == {"boll"}
    assert name_tokens(texts, PATTERN, min_count=3, threshold=0.9) == set()
    assert name_tokens(texts, PATTERN, min_count=2, threshold=0.5) == {"boll", "wood"}


def test_swapping_one_known_name_for_another_changes_no_feature() -> None:
    corpus = [
        *CORPUS,
        "A film where Tom Hanks shines.",
        "We liked it, Tom Hanks and all.",
        "And then Steven Seagal came.",
        "Even Steven Seagal cannot save it, Tom Hanks could.",
    ]
    vectorizer = fitted(corpus, name_min_count=2, name_threshold=0.9)
    masked = {vectorizer.tokens_[i - 1] for i in vectorizer.name_ids_}
    assert {"seagal", "steven", "tom", "hanks"} <= masked and "good" not in masked
    rows = vectorizer.transform(
        [
            "Steven Seagal gives a good performance.",
            "Tom Hanks gives a good performance.",
            "steven seagal gives a good performance.",  # the model itself never sees case
        ]
    ).toarray()
    np.testing.assert_array_equal(rows[0], rows[1])
    np.testing.assert_array_equal(rows[0], rows[2])
    names = set(vectorizer.get_feature_names_out())
    assert {NAME_TOKEN, f"{NAME_TOKEN} {NAME_TOKEN}", f"{NAME_TOKEN} was good"} <= names
    assert not any("seagal" in name or "hanks" in name for name in names)
    # Without masking the two names are features of their own.
    plain = fitted(corpus)
    assert len(plain.name_ids_) == 0 and {"seagal", "hanks"} <= set(plain.get_feature_names_out())


def test_the_names_round_trip_through_the_bundle_format() -> None:
    vectorizer = fitted(CORPUS, name_min_count=2, name_threshold=0.9)
    coef = np.random.default_rng(0).normal(size=vectorizer.n_features_)
    files = dump_model(compose(vectorizer, logistic_classifier(coef, 0.0)))
    assert "word.names.npy" in files
    restored = load_model(files)[0]
    np.testing.assert_array_equal(restored.name_ids_, vectorizer.name_ids_)
    texts = ["Seagal is good.", "Not Seagal again, and not good!", "A DVD I liked."]
    np.testing.assert_array_equal(
        restored.transform(texts).toarray(), vectorizer.transform(texts).toarray()
    )


def test_a_bundle_without_names_loads_and_scores_as_before() -> None:
    plain = fitted(CORPUS)
    files = dump_model(compose(plain, logistic_classifier(np.ones(plain.n_features_), 0.0)))
    assert not any(name.endswith(".names.npy") for name in files)
    assert b'"names"' not in files["model.json"]
    restored = load_model(files)[0]
    assert len(restored.name_ids_) == 0
    texts = ["Seagal is good.", "Seagal was not good."]
    np.testing.assert_array_equal(
        restored.transform(texts).toarray(), plain.transform(texts).toarray()
    )


@pytest.mark.parametrize(
    ("ids", "problem"),
    [
        (np.array([1.0, 2.0]), "int64 token ids"),
        (np.array([[1, 2]], dtype=np.int64), "int64 token ids"),
        (np.array([0, 2], dtype=np.int64), "distinct token ids in 1.."),
        (np.array([3, 2], dtype=np.int64), "distinct token ids in 1.."),
        (np.array([1, 10**6], dtype=np.int64), "distinct token ids in 1.."),
    ],
)
def test_a_bad_names_file_is_refused(ids: np.ndarray, problem: str) -> None:
    vectorizer = fitted(CORPUS, name_min_count=2, name_threshold=0.9)
    classifier = logistic_classifier(np.ones(vectorizer.n_features_), 0.0)
    files = dump_model(compose(vectorizer, classifier))
    files["word.names.npy"] = npy_bytes(ids)
    with pytest.raises(ModelFormatError, match=problem):
        load_model(files)


def test_serving_gives_the_features_training_gave(sample_archive: Path) -> None:
    """Training rows (fit_transform), the sparse transform, and the serving fast path (token ids
    from the vectorized tokenizer, scores without a matrix) agree with names masked."""
    texts = read_archive(sample_archive)["text"].tolist()
    vectorizer = NgramVectorizer(
        max_n=3, min_df=2, token_pattern=PATTERN, negation_scope=2, length_feature=True
    )
    vectorizer.set_params(name_min_count=2, name_threshold=0.9)
    training = vectorizer.fit_transform(texts)
    assert len(vectorizer.name_ids_) > 10
    assert vectorizer._token_encoder() is not None  # serving uses the vectorized tokenizer
    assert (vectorizer.transform(texts) != training).nnz == 0
    coef = np.random.default_rng(1).normal(size=vectorizer.n_features_)
    restored = load_model(dump_model(compose(vectorizer, logistic_classifier(coef, 0.0))))[0]
    np.testing.assert_allclose(restored.linear_scores(texts, coef), training @ coef, atol=1e-12)
