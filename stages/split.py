"""Stage split: reviews -> movie-disjoint train/val and the untouched official test split."""

from imdb_sentiment.paths import RAW_REVIEWS, SPLITS
from imdb_sentiment.training import stage
from imdb_sentiment.training.io import read_parquet, write_parquet
from imdb_sentiment.training.params import SplitParams, load_section
from imdb_sentiment.training.split import split_reviews


def main() -> None:
    params = load_section("split", SplitParams)
    parts = split_reviews(read_parquet(RAW_REVIEWS), params.val_fraction, params.seed)
    for name, frame in parts.items():
        write_parquet(frame, SPLITS / f"{name}.parquet")
        print(f"{name}: {len(frame)} reviews, {frame['movie_id'].nunique()} movies")


if __name__ == "__main__":
    stage.run(main)
