"""Stage featurize: fit the vectorizer on train only, transform every split."""

from imdb_sentiment.paths import FEATURES, SPLITS
from imdb_sentiment.training import stage
from imdb_sentiment.training.features import (
    build_vectorizer,
    fit_transform,
    save_vectorizer,
    short_reviews,
)
from imdb_sentiment.training.io import read_parquet, save_features
from imdb_sentiment.training.params import FeaturizeParams, load_section


def main() -> None:
    params = load_section("featurize", FeaturizeParams)
    vectorizer = build_vectorizer(params)
    for name in ("train", "val", "test"):
        frame = read_parquet(SPLITS / f"{name}.parquet", columns=["review_id", "text", "label"])
        texts = frame["text"].tolist()
        matrix = (
            fit_transform(vectorizer, texts) if name == "train" else vectorizer.transform(texts)
        )
        save_features(FEATURES / f"{name}.npz", matrix, frame["label"].to_numpy())
        print(
            f"{name}: {matrix.shape[0]} reviews x {matrix.shape[1]} features, {matrix.nnz} non-zeros"
        )
        if name in ("train", "val"):
            # First/last sentences of the reviews: extra rows the train stage may weight in
            # (validation's only when it refits on train + validation).
            short = short_reviews(frame, params.short_min_words)
            short_matrix = vectorizer.transform(short["text"].tolist())
            save_features(FEATURES / f"{name}_short.npz", short_matrix, short["label"].to_numpy())
    save_vectorizer(vectorizer, FEATURES / "vectorizer")


if __name__ == "__main__":
    stage.run(main)
