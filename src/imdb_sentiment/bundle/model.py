"""The loaded model: raw review texts in, probabilities, labels and explanations out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from imdb_sentiment.bundle.parallel import ScoringPool
from imdb_sentiment.bundle.scoring import as_text_list, oov_rates, score
from imdb_sentiment.labels import LABELS
from imdb_sentiment.ngrams import LENGTH_FEATURE_NAME

_LABEL_ARRAY = np.array(LABELS, dtype=object)


@dataclass(frozen=True)
class Contribution:
    feature: str
    weight: float


@dataclass(frozen=True)
class Explanation:
    """The n-grams of one text that pushed its score most towards each label."""

    probability: float
    positive: list[Contribution]
    negative: list[Contribution]


@dataclass
class SentimentModel:
    """A verified, loaded bundle: raw review texts in, probabilities of *positive* out."""

    pipeline: Any
    manifest: dict[str, Any]
    source: str
    scoring_workers: int = 1
    _feature_names: np.ndarray | None = field(default=None, repr=False)
    _pool: ScoringPool = field(init=False, repr=False)  # worker processes for large batches

    def __post_init__(self) -> None:
        self._pool = ScoringPool(self.pipeline, self.scoring_workers)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def threshold(self) -> float:
        return float(self.manifest.get("threshold", 0.5))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each review is positive, in input order."""
        texts = as_text_list(texts)
        if not texts:
            return np.empty(0, dtype=np.float64)
        if self._parallel(texts):
            return self._score_in_workers(texts, with_oov=False)()[0]
        return score(self.pipeline, texts, with_oov=False)[0]

    def predict_proba_and_oov_rates(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``predict_proba`` and ``oov_rates`` together, from one tokenization when the model's
        vectorizer allows it (the batch flow monitors the OOV rate of every row)."""
        return self.start_proba_and_oov_rates(texts)()

    def start_proba_and_oov_rates(
        self, texts: Sequence[str]
    ) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        """Start ``predict_proba_and_oov_rates`` and return the call that waits for its result.

        A large batch is handed to the worker processes at once, so the caller can prepare its
        next batch while they score this one; otherwise scoring happens in that call.
        """
        texts = as_text_list(texts)
        if self._parallel(texts):
            return self._score_in_workers(texts, with_oov=True)
        return partial(score, self.pipeline, texts, True)

    def _parallel(self, texts: list[str]) -> bool:
        return self._pool.wanted(len(texts))

    def _score_in_workers(
        self, texts: list[str], with_oov: bool
    ) -> Callable[[], tuple[np.ndarray, np.ndarray | None]]:
        return self._pool.start(texts, with_oov)

    def close(self) -> None:
        """Stop the scoring worker processes, if any were started."""
        self._pool.close()

    def labels_for(self, probabilities: np.ndarray) -> list[str]:
        return _LABEL_ARRAY[(np.asarray(probabilities) >= self.threshold).astype(np.intp)].tolist()

    def predict(self, texts: Sequence[str]) -> list[str]:
        return self.labels_for(self.predict_proba(texts))

    def explain(self, text: str, top_k: int = 10) -> Explanation:
        """Per-n-gram contributions (feature value x coefficient) to the score of one text.

        Only n-grams are listed: the vectorizer's length feature is part of the score but is not
        something in the text a reader could point at.
        """
        features = self.pipeline[:-1].transform(as_text_list([text])).tocsr()
        coef = np.asarray(self.pipeline[-1].coef_).ravel()
        names = self.feature_names()
        columns = features.indices[names[features.indices] != LENGTH_FEATURE_NAME]
        weights = features[0, columns].toarray().ravel() * coef[columns]
        order = np.argsort(weights, kind="stable")
        negative = [
            Contribution(str(names[columns[i]]), round(float(weights[i]), 6))
            for i in order[:top_k]
            if weights[i] < 0
        ]
        positive = [
            Contribution(str(names[columns[i]]), round(float(weights[i]), 6))
            for i in order[::-1][:top_k]
            if weights[i] > 0
        ]
        probability = float(self.pipeline[-1].predict_proba(features)[0, 1])
        return Explanation(probability=probability, positive=positive, negative=negative)

    def feature_names(self) -> np.ndarray:
        # Built on first use: it costs a second for a million n-grams and most callers never need it.
        if self._feature_names is None:
            self._feature_names = self.pipeline[:-1].get_feature_names_out()
        return self._feature_names

    def oov_rates(self, texts: Sequence[str]) -> np.ndarray:
        """Share of each text's words that the model's word vocabulary has never seen."""
        return oov_rates(self.pipeline, as_text_list(texts))
