"""Stage train: fit the classifier on the training features; log with dvclive and MLflow."""

from dvclive import Live
from sklearn.metrics import accuracy_score, log_loss

from imdb_sentiment import tracking
from imdb_sentiment.paths import (
    CLASSIFIER,
    FEATURES,
    SELECTION,
    TRAIN_LIVE,
    TRAIN_METRICS,
    VECTORIZER,
)
from imdb_sentiment.training import stage
from imdb_sentiment.training.features import load_vectorizer
from imdb_sentiment.training.io import load_features
from imdb_sentiment.training.lexicon import lexicon_prior, vader_valences
from imdb_sentiment.training.params import TrainParams, load_section
from imdb_sentiment.training.train import LabelledRows, fit_models, save_classifier


def labelled_rows(split: str) -> LabelledRows:
    return LabelledRows(
        *load_features(FEATURES / f"{split}.npz"),
        *load_features(FEATURES / f"{split}_short.npz"),
    )


def main() -> None:
    params = load_section("train", TrainParams)
    train, val = labelled_rows("train"), labelled_rows("val")
    # The vectorizer's length feature is not an n-gram: NB weighting leaves it unscaled.
    vectorizer = load_vectorizer(VECTORIZER)
    passthrough = int(getattr(vectorizer, "length_feature", False))
    prior = None
    if params.lexicon_prior > 0:
        names = vectorizer.get_feature_names_out()
        prior = lexicon_prior(names, vader_valences(), params.lexicon_prior, passthrough)
    models = fit_models(params, train, val, passthrough, prior)
    save_classifier(models.final, CLASSIFIER)
    save_classifier(models.selection, SELECTION)
    # dvc.yaml declares these outputs itself, so dvclive must not edit dvc.yaml or start experiments.
    with Live(dir=str(TRAIN_LIVE), dvcyaml=None, save_dvc_exp=False, report=None) as live:
        live.log_params(params.model_dump())
        for name, rows in (("train", train), ("val", val)):
            probabilities = models.selection.predict_proba(rows.features)[:, 1]
            accuracy = accuracy_score(rows.labels, probabilities >= 0.5)
            live.log_metric(f"{name}/accuracy", round(accuracy, 6), plot=False)
            live.log_metric(
                f"{name}/log_loss", round(log_loss(rows.labels, probabilities), 6), plot=False
            )
    tracking.log_stage("train", metrics={"fit": TRAIN_METRICS})


if __name__ == "__main__":
    stage.run(main)
