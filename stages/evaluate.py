"""Stage evaluate: metrics, plot data, short-review checks and an error-analysis report (+ MLflow)."""

from pathlib import Path

from imdb_sentiment import tracking
from imdb_sentiment.files import atomic_write
from imdb_sentiment.paths import (
    BEHAVIOUR,
    BEHAVIOUR_CASES,
    CLASSIFIER,
    ERROR_ANALYSIS,
    FEATURES,
    METRICS,
    MISTAKES,
    PLOTS,
    SELECTION,
    SHORT_METRICS,
    SPLITS,
    TRAIN_METRICS,
    VECTORIZER,
)
from imdb_sentiment.training import stage
from imdb_sentiment.training.behaviour import read_suite, score_suite
from imdb_sentiment.training.evaluate import (
    band_metrics,
    classification_metrics,
    confident_mistakes,
    confusion_rows,
    error_analysis_markdown,
    not_sure_band,
    precision_recall_points,
    reliability_rows,
    roc_points,
    short_review_metrics,
    short_reviews,
    top_ngrams,
)
from imdb_sentiment.training.export import compose
from imdb_sentiment.training.features import load_vectorizer
from imdb_sentiment.training.io import load_features, read_parquet, write_json
from imdb_sentiment.training.params import EvaluateParams, load_section
from imdb_sentiment.training.train import load_saved_classifier

# Next to this script's checkout (tests run the stage scripts from a scratch folder).
SUITE = Path(__file__).resolve().parents[1] / "tests" / "behaviour" / "cases.jsonl"


def main() -> None:
    params = load_section("evaluate", EvaluateParams)
    vectorizer = load_vectorizer(VECTORIZER)
    # Validation is scored by the model fitted without it; test by the model that is exported.
    classifiers = {
        "val": load_saved_classifier(SELECTION),
        "test": load_saved_classifier(CLASSIFIER),
    }
    results, short_results, scored = {}, {}, {}
    mistakes = []
    for split, classifier in classifiers.items():
        model = compose(vectorizer, classifier)
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
            ("calibration", reliability_rows(labels, probabilities, params.calibration_bins)),
        ):
            atomic_write(PLOTS / f"{name}_{split}.csv", frame.to_csv(index=False).encode())
        reviews = read_parquet(SPLITS / f"{split}.parquet", columns=["review_id", "label", "text"])
        if split == "val":
            mistakes = confident_mistakes(
                reviews, probabilities, params.threshold, params.error_examples
            )
            write_json(MISTAKES, mistakes)
        # Raw text through the whole model, as the API would see a one-sentence review.
        short = short_reviews(reviews, params.short_min_words)
        texts, short_labels = short["text"].tolist(), short["label"].to_numpy()
        short_probabilities = model.predict_proba(texts)[:, 1]
        short_results[split] = short_review_metrics(
            short_labels, short_probabilities, texts, params.threshold
        )
        reliability = reliability_rows(short_labels, short_probabilities, params.calibration_bins)
        atomic_write(
            PLOTS / f"calibration_short_{split}.csv", reliability.to_csv(index=False).encode()
        )
        scored[split] = (labels, probabilities, short_labels, short_probabilities)
    # The "not sure" band is chosen on validation sentences (what people type), then reported
    # on every set; export ships it with the model.
    width = not_sure_band(scored["val"][2], scored["val"][3], params.not_sure_accuracy)
    low, high = round(0.5 - width, 2), round(0.5 + width, 2)
    for split, (labels, probabilities, short_labels, short_probabilities) in scored.items():
        results[split].update(band_metrics(labels, probabilities, low, high))
        short_results[split].update(band_metrics(short_labels, short_probabilities, low, high))
    short_results["not_sure_band"] = {"low": low, "high": high}
    write_json(METRICS, results)
    write_json(SHORT_METRICS, short_results)
    # The behavioural suite, scored by the model that is exported (a test of record, never tuned on).
    exported = compose(vectorizer, classifiers["test"])
    behaviour, cases = score_suite(
        read_suite(SUITE), lambda texts: exported.predict_proba(texts)[:, 1], params.threshold
    )
    write_json(BEHAVIOUR, behaviour)
    write_json(BEHAVIOUR_CASES, cases)
    print(f"behaviour: pass_rate={behaviour['pass_rate']} over {behaviour['cases']} cases")
    ngrams = top_ngrams(
        vectorizer.get_feature_names_out(), classifiers["test"].coef_.ravel(), params.top_ngrams
    )
    summary = {**results, **{f"{k} (short)": short_results[k] for k in scored}}
    atomic_write(ERROR_ANALYSIS, error_analysis_markdown(summary, ngrams, mistakes).encode())
    for split, values in summary.items():
        print(f"{split}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    # Training metrics too: when only evaluation re-runs, the new MLflow run still has them.
    tracking.log_stage(
        "evaluate",
        metrics={"fit": TRAIN_METRICS, "": METRICS, "short": SHORT_METRICS, "behaviour": BEHAVIOUR},
        artifacts=(
            METRICS,
            SHORT_METRICS,
            BEHAVIOUR,
            BEHAVIOUR_CASES,
            PLOTS,
            MISTAKES,
            ERROR_ANALYSIS,
        ),
    )


if __name__ == "__main__":
    stage.run(main)
