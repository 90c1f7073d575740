"""Scoring a loaded pipeline: probabilities and out-of-vocabulary rates, with input checks.

Shared by the in-process model and the scoring worker processes (``parallel``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit


def score(pipeline: Any, texts: list[str], with_oov: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """sigmoid(features @ coef + intercept), what LogisticRegression.predict_proba computes
    without its per-call input validation (about half of a single review's latency), and with
    ``with_oov`` each text's out-of-vocabulary rate (from the same tokenization when it can)."""
    classifier = pipeline[-1]
    coef = np.asarray(classifier.coef_)
    vectorizer = pipeline[0]
    oov = None
    if len(pipeline) == 2 and hasattr(vectorizer, "linear_scores"):
        oov = np.zeros(len(texts)) if with_oov else None
        scores = vectorizer.linear_scores(texts, coef[0], oov_rates=oov)
    else:
        scores = (pipeline[:-1].transform(texts) @ coef.T)[:, 0]
        oov = oov_rates(pipeline, texts) if with_oov else None
    return expit(scores + classifier.intercept_[0]), oov


def oov_rates(pipeline: Any, texts: list[str]) -> np.ndarray:
    vectorizer = word_vectorizer(pipeline)
    if vectorizer is None:
        return np.full(len(texts), np.nan)
    vocabulary = vectorizer.vocabulary_
    preprocess = vectorizer.build_preprocessor()
    tokenize = vectorizer.build_tokenizer()
    rates = np.zeros(len(texts))
    for row, text in enumerate(texts):
        tokens = tokenize(preprocess(text))
        if tokens:
            rates[row] = sum(token not in vocabulary for token in tokens) / len(tokens)
    return rates


def as_text_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a sequence of texts, got a single string")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text at position {position} is {type(text).__name__}, not str")
    return texts


def word_vectorizer(pipeline: Any) -> Any | None:
    """The first word-level vectorizer in the pipeline (directly or inside a FeatureUnion)."""
    stack = [step for _, step in pipeline.steps[:-1]]
    while stack:
        step = stack.pop(0)
        if hasattr(step, "transformer_list"):
            stack[:0] = [part for _, part in step.transformer_list]
        elif getattr(step, "analyzer", None) == "word" and hasattr(step, "vocabulary_"):
            return step
    return None
