"""Stage evaluate: metrics and ROC / precision-recall / confusion plots for val and test (+ MLflow)."""

from pathlib import Path

from imdb_sentiment import tracking
from imdb_sentiment.pipeline import stage
from imdb_sentiment.pipeline.evaluate import (
    classification_metrics,
    confident_mistakes,
    confusion_rows,
    precision_recall_points,
    roc_points,
)
from imdb_sentiment.pipeline.io import load_features, read_parquet, write_bytes, write_json
from imdb_sentiment.pipeline.params import EvaluateParams, load_section
from imdb_sentiment.pipeline.train import load_saved_classifier

FEATURES = Path("data/features")
TRAIN_METRICS = Path("metrics/train/metrics.json")
CLASSIFIER = Path("data/train/classifier")
VAL_REVIEWS = Path("data/split/val.parquet")
METRICS = Path("metrics/metrics.json")
PLOTS = Path("metrics/plots")
MISTAKES = Path("metrics/mistakes_val.json")


def main() -> None:
    params = load_section("evaluate", EvaluateParams)
    classifier = load_saved_classifier(CLASSIFIER)
    results = {}
    for split in ("val", "test"):
        features, labels = load_features(FEATURES / f"{split}.npz")
        probabilities = classifier.predict_proba(features)[:, 1]
        results[split] = classification_metrics(labels, probabilities, params.threshold)
        for name, frame in (
            ("roc", roc_points(labels, probabilities, params.curve_points)),
            (
                "precision_recall",
                precision_recall_points(labels, probabilities, params.curve_points),
            ),
            ("confusion", confusion_rows(labels, probabilities, params.threshold)),
        ):
            write_bytes(PLOTS / f"{name}_{split}.csv", frame.to_csv(index=False).encode())
        if split == "val":
            reviews = read_parquet(VAL_REVIEWS, columns=["review_id", "label", "text"])
            write_json(
                MISTAKES,
                confident_mistakes(reviews, probabilities, params.threshold, params.error_examples),
            )
    write_json(METRICS, results)
    for split, values in results.items():
        print(f"{split}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    # Training metrics too: when only evaluation re-runs, the new MLflow run still has them.
    tracking.log_stage(
        "evaluate",
        metrics={"fit": TRAIN_METRICS, "": METRICS},
        artifacts=(METRICS, PLOTS, MISTAKES),
    )


if __name__ == "__main__":
    stage.run(main)
