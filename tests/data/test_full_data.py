"""Data tests on the full ingested table (the accuracy floor is in test_model_quality.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imdb_sentiment.bundle import load_bundle, sha256_file
from imdb_sentiment.training.ingest import COLUMNS
from imdb_sentiment.training.io import read_parquet

pytestmark = pytest.mark.full_data


@pytest.fixture(scope="module")
def reviews(full_reviews: Path):
    return read_parquet(full_reviews)


def test_schema_and_size(reviews) -> None:
    assert list(reviews.columns) == list(COLUMNS)
    assert len(reviews) == 50_000
    assert reviews["review_id"].is_unique
    assert not reviews[list(COLUMNS)].isna().any().any()
    assert (reviews["text"].str.strip().str.len() > 0).all()


def test_official_splits_are_balanced(reviews) -> None:
    counts = reviews.groupby(["split", "label"]).size().to_dict()
    assert counts == {
        ("test", 0): 12_500,
        ("test", 1): 12_500,
        ("train", 0): 12_500,
        ("train", 1): 12_500,
    }
    assert reviews.loc[reviews["label"] == 1, "rating"].between(7, 10).all()
    assert reviews.loc[reviews["label"] == 0, "rating"].between(1, 4).all()


def test_no_movie_is_shared_between_train_val_and_test(reviews, full_reviews: Path) -> None:
    train_movies = set(reviews.loc[reviews["split"] == "train", "movie_id"])
    test_movies = set(reviews.loc[reviews["split"] == "test", "movie_id"])
    # The official archive's one exception (2 train, 23 test reviews); split leaves those 2 out.
    assert train_movies & test_movies == {"tt0406816"}
    split_dir = full_reviews.parents[1] / "split"
    train = read_parquet(split_dir / "train.parquet", columns=["movie_id"])
    val = read_parquet(split_dir / "val.parquet", columns=["movie_id", "label"])
    test = read_parquet(split_dir / "test.parquet", columns=["movie_id"])
    assert not set(train["movie_id"]) & set(val["movie_id"])
    assert not (set(train["movie_id"]) | set(val["movie_id"])) & set(test["movie_id"])
    assert len(train) + len(val) == 25_000 - 2 and len(test) == 25_000
    assert abs(val["label"].mean() - 0.5) < 0.02


def test_bundle_names_the_data_it_was_trained_on(full_bundle: Path, full_reviews: Path) -> None:
    manifest = load_bundle(full_bundle).manifest
    assert manifest["data"]["reviews_sha256"] == sha256_file(full_reviews)
    rows = manifest["data"]["rows"]
    assert rows["train"] + rows["val"] == 24_998 and rows["test"] == 25_000
