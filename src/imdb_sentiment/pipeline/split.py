"""Split: a validation set carved from the official train split, stratified and movie-disjoint.

The official train and test splits share no movie; validation keeps that honesty, otherwise a
model could score well on validation by recognising actor and film names it trained on. The
official test split passes through untouched and is only ever used for final evaluation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold


class SplitError(RuntimeError):
    """The reviews cannot be split as asked."""


def split_reviews(reviews: pd.DataFrame, val_fraction: float, seed: int) -> dict[str, pd.DataFrame]:
    """Return train/val/test frames. Validation is one fold of ``round(1/val_fraction)``
    stratified folds grouped by movie, so its share is close to, not exactly, ``val_fraction``."""
    official_train = reviews[reviews["split"] == "train"].reset_index(drop=True)
    test = reviews[reviews["split"] == "test"].reset_index(drop=True)
    folds = round(1 / val_fraction)
    movies = official_train["movie_id"].nunique()
    if movies < folds:
        raise SplitError(f"{movies} training movies cannot form {folds} movie-disjoint folds")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    train_rows, val_rows = next(
        splitter.split(official_train, official_train["label"], groups=official_train["movie_id"])
    )
    parts = {
        "train": official_train.iloc[np.sort(train_rows)].reset_index(drop=True),
        "val": official_train.iloc[np.sort(val_rows)].reset_index(drop=True),
        "test": test,
    }
    shared = set(parts["train"]["movie_id"]) & set(parts["val"]["movie_id"])
    if shared:  # StratifiedGroupKFold guarantees this; the check guards against future edits
        raise SplitError(f"train and validation share {len(shared)} movies")
    return parts
