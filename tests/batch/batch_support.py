"""Inputs and readers the batch tests share."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def reviews_frame(split_file: Path, rows: int | None = None) -> pd.DataFrame:
    """A Kaggle-style table (id, review, sentiment) from a split of the sample pipeline."""
    split = pd.read_parquet(split_file)
    frame = pd.DataFrame(
        {
            "id": split["review_id"],
            "review": split["text"],
            "sentiment": split["label"].map({0: "negative", 1: "positive"}),
        }
    )
    if rows is not None:
        frame = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).head(rows)
        frame["id"] = [f"r{i}" for i in range(rows)]
    return frame


def read_outputs(folder: Path, stem: str = "predictions") -> dict[str, object]:
    import json

    return {
        "predictions": pd.read_parquet(folder / f"{stem}.parquet"),
        "rejects": pd.read_parquet(folder / f"{stem}.rejects.parquet"),
        "report": json.loads((folder / f"{stem}.report.json").read_text()),
    }
