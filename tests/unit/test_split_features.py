"""Split, featurize and the deterministic file formats the stages exchange."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from imdb_sentiment.files import atomic_path
from imdb_sentiment.ngrams import DEFAULT_TOKEN_PATTERN
from imdb_sentiment.training.features import (
    build_vectorizer,
    fit_transform,
    load_vectorizer,
    save_vectorizer,
)
from imdb_sentiment.training.ingest import read_archive
from imdb_sentiment.training.io import load_features, save_features
from imdb_sentiment.training.params import FeaturizeParams, NameMaskingParams
from imdb_sentiment.training.split import SplitError, split_reviews


def ngram_params(ngram_range: tuple[int, int]) -> FeaturizeParams:
    """Word n-grams with every n-gram kept and no extras (every field spelled out)."""
    return FeaturizeParams(
        vectorizer="ngram",
        ngram_range=ngram_range,
        min_df=1,
        max_df=1.0,
        max_features=None,
        short_min_words=3,
        token_pattern=DEFAULT_TOKEN_PATTERN,
        length_feature=False,
        negation_scope=0,
        name_masking=NameMaskingParams(min_count=0, threshold=0.9),
        sublinear_tf=True,
        binary=False,
    )


@pytest.fixture(scope="module")
def reviews(sample_archive: Path):
    return read_archive(sample_archive)


def test_validation_is_movie_disjoint_stratified_and_seeded(reviews) -> None:
    parts = split_reviews(reviews, val_fraction=0.2, seed=1)
    train, val, test = parts["train"], parts["val"], parts["test"]
    assert not set(train["movie_id"]) & set(val["movie_id"])
    assert len(train) + len(val) == (reviews["split"] == "train").sum()  # the sample has no leak
    assert 0.1 < len(val) / (len(train) + len(val)) < 0.3
    assert abs(val["label"].mean() - train["label"].mean()) < 0.15
    # The official test split passes through untouched.
    assert (
        test["review_id"].tolist() == reviews.loc[reviews["split"] == "test", "review_id"].tolist()
    )
    again = split_reviews(reviews, val_fraction=0.2, seed=1)
    assert again["val"]["review_id"].tolist() == val["review_id"].tolist()
    other = split_reviews(reviews, val_fraction=0.2, seed=2)
    assert other["val"]["review_id"].tolist() != val["review_id"].tolist()


def test_train_reviews_of_test_movies_are_left_out(reviews) -> None:
    leaked = reviews.copy()
    first_test_movie = leaked.loc[leaked["split"] == "test", "movie_id"].iloc[0]
    leaked.loc[leaked.index[leaked["split"] == "train"][:3], "movie_id"] = first_test_movie
    parts = split_reviews(leaked, val_fraction=0.2, seed=1)
    assert len(parts["train"]) + len(parts["val"]) == (leaked["split"] == "train").sum() - 3
    assert first_test_movie not in set(parts["train"]["movie_id"]) | set(parts["val"]["movie_id"])
    assert len(parts["test"]) == (leaked["split"] == "test").sum()


def test_too_few_movies_is_a_clear_error(reviews) -> None:
    one_movie = reviews.copy()
    one_movie.loc[one_movie["split"] == "train", "movie_id"] = "tt0000001"
    with pytest.raises(SplitError, match="1 training movies cannot form 5 movie-disjoint folds"):
        split_reviews(one_movie, val_fraction=0.2, seed=0)


def test_vectorizer_round_trips_through_the_bundle_format(reviews, tmp_path: Path) -> None:
    params = ngram_params(ngram_range=(1, 2))
    vectorizer = build_vectorizer(params)
    texts = reviews["text"].tolist()
    matrix = fit_transform(vectorizer, texts[:200])
    save_vectorizer(vectorizer, tmp_path / "vectorizer")
    restored = load_vectorizer(tmp_path / "vectorizer")
    assert (restored.transform(texts[200:]) != vectorizer.transform(texts[200:])).nnz == 0
    assert matrix.shape[1] == len(restored.get_feature_names_out())
    # Preprocessing lives inside the model: HTML breaks and case never reach the vocabulary.
    assert "br" not in vectorizer.vocabulary_ and "The" not in vectorizer.vocabulary_


def test_outputs_are_byte_stable(reviews, tmp_path: Path) -> None:
    params = ngram_params(ngram_range=(1, 1))
    for attempt in ("a", "b"):
        vectorizer = build_vectorizer(params)
        matrix = fit_transform(vectorizer, reviews["text"].tolist())
        save_features(tmp_path / f"{attempt}.npz", matrix, reviews["label"].to_numpy())
        save_vectorizer(vectorizer, tmp_path / f"vec-{attempt}")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    for name in sorted(p.name for p in (tmp_path / "vec-a").iterdir()):
        assert (tmp_path / "vec-a" / name).read_bytes() == (tmp_path / "vec-b" / name).read_bytes()
    loaded, labels = load_features(tmp_path / "a.npz")
    assert (loaded != sp.csr_matrix(matrix)).nnz == 0
    np.testing.assert_array_equal(labels, reviews["label"].to_numpy())


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
