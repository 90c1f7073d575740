"""Stage export: the verified, self-contained bundle in models/ that serving consumes,
registered in MLflow as a new version of the model with the alias `candidate`."""

import json
from pathlib import Path

from imdb_sentiment import tracking
from imdb_sentiment.bundle import sha256_file
from imdb_sentiment.paths import (
    CLASSIFIER,
    METRICS,
    RAW_REVIEWS,
    SELECTION,
    SHORT_METRICS,
    SPLITS,
    VAL_FEATURES,
    VECTORIZER,
)
from imdb_sentiment.training import stage
from imdb_sentiment.training.export import compose, export_bundle
from imdb_sentiment.training.features import load_vectorizer
from imdb_sentiment.training.io import load_features, read_parquet
from imdb_sentiment.training.params import load_all
from imdb_sentiment.training.train import load_saved_classifier

OUTPUT_DIR = Path("models")


def main() -> None:
    params = load_all()
    classifier = load_saved_classifier(CLASSIFIER)
    selection = load_saved_classifier(SELECTION)
    val = read_parquet(SPLITS / "val.parquet", columns=["text"])
    val_features, _ = load_features(VAL_FEATURES)
    rows = {
        name: len(read_parquet(SPLITS / f"{name}.parquet", columns=["label"]))
        for name in ("train", "val", "test")
    }
    manifest = export_bundle(
        compose(load_vectorizer(VECTORIZER), classifier),
        OUTPUT_DIR / params["export"].name,
        name=params["export"].name,
        threshold=params["evaluate"].threshold,
        params={
            name: section.model_dump(mode="json")
            for name, section in params.items()
            if name != "data"
        },
        metrics=json.loads(METRICS.read_text()),
        data={"reviews_sha256": sha256_file(RAW_REVIEWS), "rows": rows},
        reference_texts=val["text"].tolist(),
        reference_probabilities=classifier.predict_proba(val_features)[:, 1],
        # The drift reference is how a model scores reviews it was not fitted on.
        profile_probabilities=selection.predict_proba(val_features)[:, 1],
        parity_sample=params["export"].parity_sample,
        not_sure=json.loads(SHORT_METRICS.read_text())["not_sure_band"],
    )
    print(
        f"exported {manifest['name']} version {manifest['version']} to {OUTPUT_DIR / manifest['name']}"
    )
    tracking.register_bundle(OUTPUT_DIR / manifest["name"])


if __name__ == "__main__":
    stage.run(main)
