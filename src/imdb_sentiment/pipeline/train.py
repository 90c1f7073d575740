"""Train: a linear classifier on the featurized training split, chosen in params.yaml."""

from __future__ import annotations

from pathlib import Path

from sklearn.linear_model import LogisticRegression, SGDClassifier

from imdb_sentiment.model_format import dump_classifier, files_with_spec, load_classifier, read_spec
from imdb_sentiment.pipeline.io import read_files, write_files
from imdb_sentiment.pipeline.params import TrainParams

LinearClassifier = LogisticRegression | SGDClassifier


def build_classifier(params: TrainParams) -> LinearClassifier:
    if params.model == "logistic_regression":
        return LogisticRegression(
            C=params.C,
            solver="liblinear",
            max_iter=params.max_iter,
            class_weight=params.class_weight,
            random_state=params.seed,
        )
    if params.model == "sgd":
        return SGDClassifier(
            loss="log_loss",
            alpha=params.alpha,
            max_iter=params.max_iter,
            class_weight=params.class_weight,
            random_state=params.seed,
            tol=1e-4,
        )
    raise ValueError(f"unknown model type {params.model!r}")  # params validation stops this earlier


SPEC = "classifier.json"


def save_classifier(classifier: LinearClassifier, directory: Path) -> None:
    """Store the fitted weights in the bundle's own format (byte-stable, no pickle)."""
    spec, files = dump_classifier(classifier)
    write_files(directory, files_with_spec(SPEC, spec, files))


def load_saved_classifier(directory: Path) -> LogisticRegression:
    files = read_files(directory)
    return load_classifier(read_spec(SPEC, files), files)
