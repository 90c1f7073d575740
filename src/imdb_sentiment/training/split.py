"""Split: a validation set carved from the official train split, stratified and movie-disjoint.

The official train and test splits are meant to share no movie; validation keeps that honesty,
otherwise a model could score well on validation by recognising actor and film names it trained
on. (The official archive has one exception, tt0406816, with 2 train and 23 test reviews: train
reviews of any movie that is in the test split are left out, so no tuning sees a test movie.)
The official test split passes through untouched and is only ever used for final evaluation.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from imdb_sentiment.errors import ImdbSentimentError

log = logging.getLogger(__name__)


class SplitError(ImdbSentimentError, RuntimeError):
    """The reviews cannot be split as asked."""


def movie_disjoint_folds(
    reviews: pd.DataFrame, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The official train reviews of movies not in the test split, and the rows of each of
    ``round(1/val_fraction)`` stratified, movie-disjoint folds of them. Fold 0 is the validation
    split; ``bench/kfold.py`` holds out the others in turn."""
    test_movies = set(reviews.loc[reviews["split"] == "test", "movie_id"])
    official_train = reviews[reviews["split"] == "train"]
    in_test = official_train["movie_id"].isin(test_movies)
    if in_test.any():
        log.info("left out %d train reviews of movies in the test split", int(in_test.sum()))
    official_train = official_train[~in_test].reset_index(drop=True)
    folds = round(1 / val_fraction)
    movies = official_train["movie_id"].nunique()
    if movies < folds:
        raise SplitError(f"{movies} training movies cannot form {folds} movie-disjoint folds")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    held_out = [
        held
        for _, held in splitter.split(
            official_train, official_train["label"], groups=official_train["movie_id"]
        )
    ]
    return official_train, held_out


def split_reviews(reviews: pd.DataFrame, val_fraction: float, seed: int) -> dict[str, pd.DataFrame]:
    """Return train/val/test frames. Validation is one fold of ``round(1/val_fraction)``
    stratified folds grouped by movie, so its share is close to, not exactly, ``val_fraction``."""
    test = reviews[reviews["split"] == "test"].reset_index(drop=True)
    official_train, folds = movie_disjoint_folds(reviews, val_fraction, seed)
    val_rows = np.sort(folds[0])
    train_rows = np.setdiff1d(np.arange(len(official_train)), val_rows)
    parts = {
        "train": official_train.iloc[train_rows].reset_index(drop=True),
        "val": official_train.iloc[val_rows].reset_index(drop=True),
        "test": test,
    }
    train_movies = set(parts["train"]["movie_id"])
    shared = train_movies & set(parts["val"]["movie_id"]) or train_movies & set(test["movie_id"])
    if shared:  # guaranteed by construction; the check guards against future edits
        raise SplitError(f"training shares {len(shared)} movies with validation or test")
    return parts
