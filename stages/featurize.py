"""Stage featurize: fit the vectorizer on train only, transform every split."""

from pathlib import Path

from imdb_sentiment.pipeline import stage
from imdb_sentiment.pipeline.features import build_vectorizer, fit_transform, save_vectorizer
from imdb_sentiment.pipeline.io import read_parquet, save_features
from imdb_sentiment.pipeline.params import FeaturizeParams, load_section

SPLITS = Path("data/split")
OUTPUT = Path("data/features")


def main() -> None:
    vectorizer = build_vectorizer(load_section("featurize", FeaturizeParams))
    for name in ("train", "val", "test"):
        frame = read_parquet(SPLITS / f"{name}.parquet", columns=["text", "label"])
        texts = frame["text"].tolist()
        matrix = (
            fit_transform(vectorizer, texts) if name == "train" else vectorizer.transform(texts)
        )
        save_features(OUTPUT / f"{name}.npz", matrix, frame["label"].to_numpy())
        print(
            f"{name}: {matrix.shape[0]} reviews x {matrix.shape[1]} features, {matrix.nnz} non-zeros"
        )
    save_vectorizer(vectorizer, OUTPUT / "vectorizer")


if __name__ == "__main__":
    stage.run(main)
