"""Train: a linear classifier on the featurized training split, chosen in params.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
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


def nb_ratios(features: sp.csr_matrix, labels: np.ndarray, smoothing: float) -> np.ndarray:
    """Naive-Bayes log-count ratios of binarized features (Wang & Manning 2012)."""
    present = features.copy()
    present.data[:] = 1
    positive = np.asarray(present[labels == 1].sum(axis=0)).ravel() + smoothing
    negative = np.asarray(present[labels == 0].sum(axis=0)).ravel() + smoothing
    return np.log((positive / positive.sum()) / (negative / negative.sum()))


def fit_classifier(
    params: TrainParams,
    features: sp.csr_matrix,
    labels: np.ndarray,
    calibration_features: sp.csr_matrix | None = None,
    calibration_labels: np.ndarray | None = None,
    short_features: sp.csr_matrix | None = None,
    short_labels: np.ndarray | None = None,
) -> LinearClassifier:
    """Fit the classifier; NB weighting and Platt scaling end up inside ``coef_``/``intercept_``.

    Both are linear maps of the decision value, so serving still computes
    ``sigmoid(features @ coef + intercept)`` with no extra step and no custom class.
    ``short_features`` (single sentences of training reviews) join the fit with sample weight
    ``params.short_review_weight``; the NB ratios come from whole reviews only.
    """
    classifier = build_classifier(params)
    ratios = nb_ratios(features, labels, params.nb_smoothing) if params.nb_weighting else None
    weights = None
    if params.short_review_weight > 0:
        if short_features is None or short_labels is None:
            raise ValueError("short_review_weight > 0 needs the short-review training rows")
        weights = np.concatenate(
            [np.ones(len(labels)), np.full(len(short_labels), params.short_review_weight)]
        )
        features = sp.vstack([features, short_features], format="csr")
        labels = np.concatenate([labels, short_labels])
    if ratios is not None:
        classifier.fit(features @ sp.diags(ratios), labels, sample_weight=weights)
        classifier.coef_ = classifier.coef_ * ratios
    else:
        classifier.fit(features, labels, sample_weight=weights)
    if params.calibration == "platt":
        if calibration_features is None or calibration_labels is None:
            raise ValueError("Platt scaling needs held-out features and labels")
        scores = classifier.decision_function(calibration_features).reshape(-1, 1)
        # Nearly unregularised 1-D logistic fit: p = sigmoid(a * score + b).
        sigmoid = LogisticRegression(C=1e6, solver="lbfgs").fit(scores, calibration_labels)
        slope, offset = float(sigmoid.coef_[0, 0]), float(sigmoid.intercept_[0])
        classifier.coef_ = classifier.coef_ * slope
        classifier.intercept_ = classifier.intercept_ * slope + offset
    return classifier


SPEC = "classifier.json"


def save_classifier(classifier: LinearClassifier, directory: Path) -> None:
    """Store the fitted weights in the bundle's own format (byte-stable, no pickle)."""
    spec, files = dump_classifier(classifier)
    write_files(directory, files_with_spec(SPEC, spec, files))


def load_saved_classifier(directory: Path) -> LogisticRegression:
    files = read_files(directory)
    return load_classifier(read_spec(SPEC, files), files)
