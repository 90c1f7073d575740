"""Stage ingest: IMDB archive -> data/raw/reviews.parquet."""

from imdb_sentiment.paths import DOWNLOADS, RAW_REVIEWS
from imdb_sentiment.training import ingest, stage
from imdb_sentiment.training.params import DataParams, load_section


def main() -> None:
    params = load_section("data", DataParams)
    ingest.ingest(params.url, RAW_REVIEWS, DOWNLOADS)


if __name__ == "__main__":
    stage.run(main)
