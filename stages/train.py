"""Stage train: fit the classifier on the training features; log with dvclive and MLflow."""

from pathlib import Path

from dvclive import Live
from sklearn.metrics import accuracy_score, log_loss

from imdb_sentiment import tracking
from imdb_sentiment.pipeline import stage
from imdb_sentiment.pipeline.io import load_features
from imdb_sentiment.pipeline.params import TrainParams, load_section
from imdb_sentiment.pipeline.train import build_classifier, save_classifier

FEATURES = Path("data/features")
OUTPUT = Path("data/train/classifier")
LIVE_DIR = "metrics/train"


def main() -> None:
    params = load_section("train", TrainParams)
    classifier = build_classifier(params)
    x_train, y_train = load_features(FEATURES / "train.npz")
    classifier.fit(x_train, y_train)
    save_classifier(classifier, OUTPUT)
    # dvc.yaml declares these outputs itself, so dvclive must not edit dvc.yaml or start experiments.
    with Live(dir=LIVE_DIR, dvcyaml=None, save_dvc_exp=False, report=None) as live:
        live.log_params(params.model_dump())
        for name in ("train", "val"):
            x, y = (x_train, y_train) if name == "train" else load_features(FEATURES / "val.npz")
            probabilities = classifier.predict_proba(x)[:, 1]
            live.log_metric(
                f"{name}/accuracy", round(accuracy_score(y, probabilities >= 0.5), 6), plot=False
            )
            live.log_metric(f"{name}/log_loss", round(log_loss(y, probabilities), 6), plot=False)
    tracking.log_stage("train", metrics={"fit": Path(LIVE_DIR) / "metrics.json"})


if __name__ == "__main__":
    stage.run(main)
