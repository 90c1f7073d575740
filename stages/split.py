"""Stage split: reviews -> movie-disjoint train/val and the untouched official test split."""

from pathlib import Path

from imdb_sentiment.training import stage
from imdb_sentiment.training.io import read_parquet, write_parquet
from imdb_sentiment.training.params import SplitParams, load_section
from imdb_sentiment.training.split import split_reviews

REVIEWS = Path("data/raw/reviews.parquet")
OUTPUT = Path("data/split")


def main() -> None:
    params = load_section("split", SplitParams)
    parts = split_reviews(read_parquet(REVIEWS), params.val_fraction, params.seed)
    for name, frame in parts.items():
        write_parquet(frame, OUTPUT / f"{name}.parquet")
        print(f"{name}: {len(frame)} reviews, {frame['movie_id'].nunique()} movies")


if __name__ == "__main__":
    stage.run(main)
