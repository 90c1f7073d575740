"""Evaluate: classification metrics and plot data for a split, written for DVC metrics/plots."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from imdb_sentiment.bundle import LABELS


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float]:
    predicted = (probabilities >= threshold).astype(int)
    values = {
        "accuracy": metrics.accuracy_score(labels, predicted),
        "precision": metrics.precision_score(labels, predicted, zero_division=0),
        "recall": metrics.recall_score(labels, predicted, zero_division=0),
        "f1": metrics.f1_score(labels, predicted, zero_division=0),
        "roc_auc": metrics.roc_auc_score(labels, probabilities),
        "log_loss": metrics.log_loss(labels, probabilities, labels=[0, 1]),
        "brier": metrics.brier_score_loss(labels, probabilities),
        "predicted_positive_rate": float(predicted.mean()),
        "rows": len(labels),
    }
    return {
        name: round(float(value), 6) if name != "rows" else value for name, value in values.items()
    }


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """Keep about ``points`` evenly spaced rows (always the first and last) so plots stay small."""
    if len(frame) <= points:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_points(labels: np.ndarray, probabilities: np.ndarray, points: int) -> pd.DataFrame:
    fpr, tpr, _ = metrics.roc_curve(labels, probabilities)
    return _thin(pd.DataFrame({"fpr": fpr.round(6), "tpr": tpr.round(6)}), points)


def precision_recall_points(
    labels: np.ndarray, probabilities: np.ndarray, points: int
) -> pd.DataFrame:
    precision, recall, _ = metrics.precision_recall_curve(labels, probabilities)
    frame = pd.DataFrame({"recall": recall.round(6), "precision": precision.round(6)})
    return _thin(frame.iloc[::-1].reset_index(drop=True), points)


def confusion_rows(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> pd.DataFrame:
    """One row per review (actual, predicted): the shape DVC's confusion template expects."""
    names = np.asarray(LABELS)
    return pd.DataFrame(
        {"actual": names[labels], "predicted": names[(probabilities >= threshold).astype(int)]}
    )


def confident_mistakes(
    frame: pd.DataFrame, probabilities: np.ndarray, threshold: float, count: int
) -> list[dict[str, Any]]:
    """The reviews the model got wrong with the most confidence, for error analysis."""
    predicted = (probabilities >= threshold).astype(int)
    wrong = np.flatnonzero(predicted != frame["label"].to_numpy())
    confidence = np.abs(probabilities[wrong] - 0.5)
    order = wrong[np.argsort(-confidence, kind="stable")][:count]
    return [
        {
            "review_id": str(frame["review_id"].iat[i]),
            "label": LABELS[int(frame["label"].iat[i])],
            "probability_positive": round(float(probabilities[i]), 6),
            "text": str(frame["text"].iat[i])[:500],
        }
        for i in order
    ]
