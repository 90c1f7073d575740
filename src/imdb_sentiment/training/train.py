"""Train: a linear classifier on the featurized training split, chosen in params.yaml.

Whatever the learner, the result is one plain logistic model, ``sigmoid(x @ coef + intercept)``:
NB weighting and Platt scaling are linear maps of the decision value, so they are folded into
``coef`` and ``intercept`` and serving needs no custom class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.svm import LinearSVC

from imdb_sentiment.model_format import (
    dump_classifier,
    files_with_spec,
    load_classifier,
    logistic_classifier,
    read_spec,
)
from imdb_sentiment.training.io import read_files, write_files
from imdb_sentiment.training.params import TrainParams

LinearLearner = LogisticRegression | LinearSVC | SGDClassifier


@dataclass(frozen=True)
class LabelledRows:
    """Feature rows with their labels; ``short`` are the first/last sentences of those reviews.

    ``weights`` and ``short_weights`` (default 1) multiply each row's sample weight in the fit.
    """

    features: sp.csr_matrix
    labels: np.ndarray
    short_features: sp.csr_matrix | None = None
    short_labels: np.ndarray | None = None
    weights: np.ndarray | None = None
    short_weights: np.ndarray | None = None

    def review_weights(self) -> np.ndarray:
        return np.ones(len(self.labels)) if self.weights is None else self.weights

    def sentence_weights(self) -> np.ndarray:
        count = 0 if self.short_labels is None else len(self.short_labels)
        return np.ones(count) if self.short_weights is None else self.short_weights

    def __add__(self, other: LabelledRows) -> LabelledRows:
        short = self.short_features is not None and other.short_features is not None
        weighted = self.weights is not None or other.weights is not None
        short_weighted = self.short_weights is not None or other.short_weights is not None
        return LabelledRows(
            sp.vstack([self.features, other.features], format="csr"),
            np.concatenate([self.labels, other.labels]),
            sp.vstack([self.short_features, other.short_features], format="csr") if short else None,
            np.concatenate([self.short_labels, other.short_labels]) if short else None,
            np.concatenate([self.review_weights(), other.review_weights()]) if weighted else None,
            np.concatenate([self.sentence_weights(), other.sentence_weights()])
            if short and short_weighted
            else None,
        )


@dataclass(frozen=True)
class TrainedModels:
    """``selection``: fitted on train only, scored on validation (what sweeps compare).
    ``final``: what is exported; with ``refit`` the same settings fitted on train + validation."""

    selection: LogisticRegression
    final: LogisticRegression


def build_learner(params: TrainParams) -> LinearLearner:
    if params.model == "logistic_regression":
        return LogisticRegression(
            C=params.C,
            solver="liblinear",
            max_iter=params.max_iter,
            class_weight=params.class_weight,
            random_state=params.seed,
        )
    if params.model == "linear_svm":
        return LinearSVC(
            C=params.C,
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


def nb_ratios(
    features: sp.csr_matrix, labels: np.ndarray, smoothing: float, passthrough: int = 0
) -> np.ndarray:
    """Naive-Bayes log-count ratios of binarized features (Wang & Manning 2012).

    The last ``passthrough`` columns (such as the vectorizer's length feature) are not n-gram
    counts: their ratio is 1, so they enter the model unscaled.
    """
    present = features[:, : features.shape[1] - passthrough].tocsr(copy=True)
    present.data[:] = 1
    positive = np.asarray(present[labels == 1].sum(axis=0)).ravel() + smoothing
    negative = np.asarray(present[labels == 0].sum(axis=0)).ravel() + smoothing
    ratios = np.log((positive / positive.sum()) / (negative / negative.sum()))
    return np.concatenate([ratios, np.ones(passthrough)])


def fit_scores(
    params: TrainParams, rows: LabelledRows, passthrough: int = 0
) -> tuple[np.ndarray, float]:
    """Uncalibrated (coef, intercept) of the learner, with NB weighting folded into coef.

    Short rows join the fit with sample weight ``params.short_review_weight``; the NB ratios
    come from whole reviews only.
    """
    features, labels, weights = rows.features, rows.labels, rows.review_weights()
    if params.short_review_weight > 0:
        if rows.short_features is None or rows.short_labels is None:
            raise ValueError("short_review_weight > 0 needs the short-review training rows")
        weights = np.concatenate([weights, params.short_review_weight * rows.sentence_weights()])
        features = sp.vstack([features, rows.short_features], format="csr")
        labels = np.concatenate([labels, rows.short_labels])
    scale = (
        nb_ratios(rows.features, rows.labels, params.nb_smoothing, passthrough)
        if params.nb_weighting
        else np.ones(features.shape[1])
    )
    learner = build_learner(params)
    learner.fit(features @ sp.diags(scale), labels, sample_weight=weights)
    coef = interpolate(learner.coef_.ravel(), params.nb_interpolation, passthrough)
    return coef * scale, float(np.ravel(learner.intercept_)[0])


def interpolate(weights: np.ndarray, beta: float, passthrough: int = 0) -> np.ndarray:
    """Wang & Manning's interpolation: ``(1 - beta) * mean|w| + beta * w`` on the n-gram weights.

    In NB-scaled space this moves the model towards multinomial NB (every n-gram's weight
    towards its log-count ratio), which trusts many weak n-grams more than the SVM alone does.
    ``beta = 1`` is the plain model; the last ``passthrough`` columns are left as they are.
    """
    if beta == 1.0:
        return weights
    grams = len(weights) - passthrough
    mixed = weights.copy()
    mixed[:grams] = (1 - beta) * np.abs(weights[:grams]).mean() + beta * weights[:grams]
    return mixed


def platt_scaling(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(slope, offset) with P(positive) = sigmoid(slope * score + offset), fitted on held-out scores."""
    sigmoid = LogisticRegression(C=1e6, solver="lbfgs").fit(scores.reshape(-1, 1), labels)
    return float(sigmoid.coef_[0, 0]), float(sigmoid.intercept_[0])


def short_input_shift(
    long_lengths: np.ndarray,
    short_scores: np.ndarray,
    short_lengths: np.ndarray,
    short_labels: np.ndarray,
) -> tuple[float, float]:
    """(length-coefficient change, intercept change) that make the predicted-positive rate of
    the short rows equal their true rate, leaving a review of median length where it was.

    Calibrated probabilities on short sentences can still put more than half of them above 0.5
    (their scores are skewed); this moves the decision threshold along the length feature
    instead, so one-sentence input is not called positive more often than it is.
    """
    pivot = float(np.median(long_lengths))
    target = float(np.mean(short_labels))
    lift = short_lengths - pivot
    low, high = -100.0, 100.0  # the positive rate rises with delta (short rows: lift > 0)
    for _ in range(60):
        middle = (low + high) / 2
        if np.mean(short_scores + middle * lift > 0) > target:
            high = middle
        else:
            low = middle
    delta = (low + high) / 2
    return delta, -delta * pivot


def with_prior(
    scores: tuple[np.ndarray, float], prior: np.ndarray | None
) -> tuple[np.ndarray, float]:
    """(coef + prior, intercept); no prior (or an all-zero one) leaves coef untouched."""
    coef, intercept = scores
    if prior is None or not prior.any():
        return coef, intercept
    return coef + prior, intercept


def fit_models(
    params: TrainParams,
    train: LabelledRows,
    val: LabelledRows,
    passthrough: int = 0,
    prior: np.ndarray | None = None,
) -> TrainedModels:
    """The selection model (train only) and the exported one (``refit``: train + validation).

    Platt scaling is fitted once, on the selection model's validation scores (held out, movie-
    disjoint), and applied to both: the refitted model has no held-out reviews left to fit it on.
    So is the short-input threshold shift (``balance_short_reviews``). ``prior`` (such as
    :func:`imdb_sentiment.training.lexicon.lexicon_prior`) is added to both models' decision
    weights before either is fitted, so calibration and the shift see the model as exported.
    """
    coef, intercept = with_prior(fit_scores(params, train, passthrough), prior)
    slope, offset = 1.0, 0.0
    if params.calibration == "platt":
        slope, offset = platt_scaling(val.features @ coef + intercept, val.labels)
    length_shift = np.zeros_like(coef)
    if params.balance_short_reviews:
        if not passthrough or val.short_features is None or val.short_labels is None:
            raise ValueError(
                "balance_short_reviews needs featurize.length_feature and the short validation rows"
            )
        length_shift[-1], offset_shift = short_input_shift(
            val.features[:, -1].toarray().ravel(),
            val.short_features @ (coef * slope) + intercept * slope + offset,
            val.short_features[:, -1].toarray().ravel(),
            val.short_labels,
        )
        offset += offset_shift
    selection = logistic_classifier(coef * slope + length_shift, intercept * slope + offset)
    if not params.refit:
        return TrainedModels(selection=selection, final=selection)
    coef, intercept = with_prior(fit_scores(params, train + val, passthrough), prior)
    final = logistic_classifier(coef * slope + length_shift, intercept * slope + offset)
    return TrainedModels(selection, final)


SPEC = "classifier.json"


def save_classifier(classifier: LogisticRegression, directory: Path) -> None:
    """Store the fitted weights in the bundle's own format (byte-stable, no pickle)."""
    spec, files = dump_classifier(classifier)
    write_files(directory, files_with_spec(SPEC, spec, files))


def load_saved_classifier(directory: Path) -> LogisticRegression:
    files = read_files(directory)
    return load_classifier(read_spec(SPEC, files), files)
