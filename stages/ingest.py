"""Stage ingest: IMDB archive -> data/raw/reviews.parquet."""

from pathlib import Path

from imdb_sentiment.training import ingest, stage
from imdb_sentiment.training.params import DataParams, load_section

OUTPUT = Path("data/raw/reviews.parquet")
DOWNLOADS = Path("data/download")


def main() -> None:
    params = load_section("data", DataParams)
    ingest.ingest(params.url, OUTPUT, DOWNLOADS)


if __name__ == "__main__":
    stage.run(main)
