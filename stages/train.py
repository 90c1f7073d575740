"""Stage train: fit the classifier on the training features; log with dvclive and MLflow."""

from pathlib import Path

from dvclive import Live
from sklearn.metrics import accuracy_score, log_loss

from imdb_sentiment import tracking
from imdb_sentiment.pipeline import stage
from imdb_sentiment.pipeline.io import load_features
from imdb_sentiment.pipeline.params import TrainParams, load_section
from imdb_sentiment.pipeline.train import fit_classifier, save_classifier

FEATURES = Path("data/features")
OUTPUT = Path("data/train/classifier")
LIVE_DIR = "metrics/train"


def main() -> None:
    params = load_section("train", TrainParams)
    x_train, y_train = load_features(FEATURES / "train.npz")
    x_val, y_val = load_features(FEATURES / "val.npz")
    x_short, y_short = load_features(FEATURES / "train_short.npz")
    classifier = fit_classifier(params, x_train, y_train, x_val, y_val, x_short, y_short)
    save_classifier(classifier, OUTPUT)
    # dvc.yaml declares these outputs itself, so dvclive must not edit dvc.yaml or start experiments.
    with Live(dir=LIVE_DIR, dvcyaml=None, save_dvc_exp=False, report=None) as live:
        live.log_params(params.model_dump())
        for name in ("train", "val"):
            x, y = (x_train, y_train) if name == "train" else (x_val, y_val)
            probabilities = classifier.predict_proba(x)[:, 1]
            live.log_metric(
                f"{name}/accuracy", round(accuracy_score(y, probabilities >= 0.5), 6), plot=False
            )
            live.log_metric(f"{name}/log_loss", round(log_loss(y, probabilities), 6), plot=False)
    tracking.log_stage("train", metrics={"fit": Path(LIVE_DIR) / "metrics.json"})


if __name__ == "__main__":
    stage.run(main)
