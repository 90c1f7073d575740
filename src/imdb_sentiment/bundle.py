"""The one loader for the exported model bundle.

A bundle is a folder (local path or any fsspec URL such as ``s3://bucket/models/imdb-sentiment``)::

    manifest.json   format version, sha256 of every file, params, metrics, data hash, profile
    model.json      the inference pipeline, raw review text -> probability (see model_format)
    *.npy, *.json   its vocabularies, IDF weights and coefficients

Loading checks the manifest's format version and every file's sha256 *before* it parses any of
them, and the model format holds only JSON and plain arrays: no pickle, no code named by a file.
The API, the batch flow and MLflow promotion all load through :func:`load_bundle` (registry URIs
through :func:`imdb_sentiment.registry.load_bundle`, which resolves them and then calls it); none
of them imports training code.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
from scipy.special import expit

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.integrity import PinError, sha256_bytes, sha256_file, verify_pin  # noqa: F401
from imdb_sentiment.model_format import MODEL_SPEC, ModelFormatError, load_model
from imdb_sentiment.ngrams import LENGTH_FEATURE_NAME

BUNDLE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
LABELS = ("negative", "positive")
_LABEL_ARRAY = np.array(LABELS, dtype=object)
# Libraries whose versions must match for predictions to mean what the metrics say
# (distribution name -> module).
CHECKED_LIBRARIES = {"scikit-learn": "sklearn", "numpy": "numpy", "scipy": "scipy"}
# With scoring_workers > 1, batches of at least this many texts are split over worker processes;
# smaller ones (single reviews from the API) are scored in-process with no hand-off cost.
PARALLEL_MIN_BATCH = 2_000
_WORKER_PIPELINE: Any = None  # the model inside a scoring worker process
# A scoring worker serves arrays up to this size from its heap and keeps this much freed heap for
# the next piece, instead of mapping and unmapping memory for every piece.
WORKER_HEAP_KEEP_BYTES = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameters (malloc.h)


class BundleError(ImdbSentimentError, RuntimeError):
    """The bundle is missing, tampered with or incompatible with this code."""


def library_versions() -> dict[str, str]:
    # From the imported modules: importlib.metadata scans every installed distribution, ~16 ms
    # of a fresh process's bundle load.
    return {
        name: importlib.import_module(module).__version__
        for name, module in CHECKED_LIBRARIES.items()
    }


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
    _pool: ProcessPoolExecutor | None = field(default=None, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
        texts = _as_text_list(texts)
        if not texts:
            return np.empty(0, dtype=np.float64)
        if self._parallel(texts):
            return self._score_in_workers(texts, with_oov=False)()[0]
        return _score(self.pipeline, texts, with_oov=False)[0]

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
        texts = _as_text_list(texts)
        if self._parallel(texts):
            return self._score_in_workers(texts, with_oov=True)
        return partial(_score, self.pipeline, texts, True)

    def _parallel(self, texts: list[str]) -> bool:
        return self.scoring_workers > 1 and len(texts) >= PARALLEL_MIN_BATCH

    def _score_in_workers(
        self, texts: list[str], with_oov: bool
    ) -> Callable[[], tuple[np.ndarray, np.ndarray | None]]:
        """Start scoring a large batch in chunks over a pool of processes started once per model;
        returns the call that waits for the result.

        The tokenizer holds the GIL, so threads would not help. Workers are forked and inherit
        the loaded model (nothing is pickled but the texts); they run only numpy and regex code
        (no logging, no imports, no BLAS), so forking from a process with other threads, such as
        the batch flow's, is safe. Each review's score depends on that review alone, so the
        result is identical to in-process scoring.
        """
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.scoring_workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_adopt_pipeline,
                    initargs=(self.pipeline,),
                )
        # Eight pieces per worker: when the last batch ends, one worker waits at most for the
        # other's last piece (~0.06 s for 5,000 texts on two workers).
        size = -(-len(texts) // (self.scoring_workers * 8))
        futures = [
            self._pool.submit(_score_chunk, texts[start : start + size], with_oov)
            for start in range(0, len(texts), size)
        ]

        def result() -> tuple[np.ndarray, np.ndarray | None]:
            parts = [future.result() for future in futures]
            probabilities = np.concatenate([part[0] for part in parts])
            return probabilities, np.concatenate([part[1] for part in parts]) if with_oov else None

        return result

    def close(self) -> None:
        """Stop the scoring worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def labels_for(self, probabilities: np.ndarray) -> list[str]:
        return _LABEL_ARRAY[(np.asarray(probabilities) >= self.threshold).astype(np.intp)].tolist()

    def predict(self, texts: Sequence[str]) -> list[str]:
        return self.labels_for(self.predict_proba(texts))

    def explain(self, text: str, top_k: int = 10) -> Explanation:
        """Per-n-gram contributions (feature value x coefficient) to the score of one text.

        Only n-grams are listed: the vectorizer's length feature is part of the score but is not
        something in the text a reader could point at.
        """
        features = self.pipeline[:-1].transform(_as_text_list([text])).tocsr()
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
        return _oov_rates(self.pipeline, _as_text_list(texts))


def _adopt_pipeline(pipeline: Any) -> None:
    global _WORKER_PIPELINE
    _WORKER_PIPELINE = pipeline
    keep_freed_memory()


def keep_freed_memory() -> None:
    """Let this (worker) process reuse freed memory instead of returning it to the OS (glibc only).

    By default glibc hands the memory of each piece's arrays back to the OS when they are freed,
    and the next piece page-faults it all in again. Measured in the batch flow (25k reviews, two
    workers forked from the flow process): ~180k page faults and 0.35-0.45 s of system time per
    worker, 15 % of its CPU; with these thresholds, ~10k and 0.02 s.
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_TRIM_THRESHOLD, WORKER_HEAP_KEEP_BYTES)
        libc.mallopt(_M_MMAP_THRESHOLD, WORKER_HEAP_KEEP_BYTES)
    except (AttributeError, OSError, ValueError):  # not glibc: its defaults stay
        return


def _score_chunk(texts: list[str], with_oov: bool) -> tuple[np.ndarray, np.ndarray | None]:
    return _score(_WORKER_PIPELINE, texts, with_oov)


def _score(pipeline: Any, texts: list[str], with_oov: bool) -> tuple[np.ndarray, np.ndarray | None]:
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
        oov = _oov_rates(pipeline, texts) if with_oov else None
    return expit(scores + classifier.intercept_[0]), oov


def _oov_rates(pipeline: Any, texts: list[str]) -> np.ndarray:
    vectorizer = _word_vectorizer(pipeline)
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


def _as_text_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a sequence of texts, got a single string")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text at position {position} is {type(text).__name__}, not str")
    return texts


def _word_vectorizer(pipeline: Any) -> Any | None:
    """The first word-level vectorizer in the pipeline (directly or inside a FeatureUnion)."""
    stack = [step for _, step in pipeline.steps[:-1]]
    while stack:
        step = stack.pop(0)
        if hasattr(step, "transformer_list"):
            stack[:0] = [part for _, part in step.transformer_list]
        elif getattr(step, "analyzer", None) == "word" and hasattr(step, "vocabulary_"):
            return step
    return None


def _read(url: str) -> bytes:
    try:
        with fsspec.open(url, "rb") as handle:
            return handle.read()
    except FileNotFoundError as error:
        raise BundleError(f"bundle file {url} does not exist") from error


def read_manifest(location: str | Path) -> dict[str, Any]:
    url = f"{str(location).rstrip('/')}/{MANIFEST_NAME}"
    try:
        with fsspec.open(url, "rb") as handle:
            manifest = json.loads(handle.read())
    except FileNotFoundError as error:
        raise BundleError(f"no model bundle at {location}: {MANIFEST_NAME} is missing") from error
    except json.JSONDecodeError as error:
        raise BundleError(f"{url} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict):
        raise BundleError(f"{url} must hold a JSON object")
    version = manifest.get("format_version")
    if version != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{url} has bundle format version {version!r}; this code reads version "
            f"{BUNDLE_FORMAT_VERSION}: re-export the model or upgrade imdb-sentiment"
        )
    for key in ("name", "version", "files"):
        if key not in manifest:
            raise BundleError(f"{url} lacks the required field {key!r}")
    return manifest


def load_bundle(
    location: str | Path,
    scoring_workers: int = 1,
    expected_hash: str | None = None,
    *,
    source: str | None = None,
) -> SentimentModel:
    """Verify a bundle against its manifest, then load it. Raises BundleError on any problem.

    ``location`` is a folder or an fsspec URL (s3://...); registry URIs (models:/...) are
    resolved by :func:`imdb_sentiment.registry.load_bundle`, which then calls this.
    ``scoring_workers`` > 1 scores large batches in that many processes (see
    ``Settings.scoring_workers``); single reviews are always scored in-process.
    ``expected_hash`` (default: IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH when ``source`` is
    IMDB_SENTIMENT_MODEL) is DVC's hash of the folder as dvc.lock records it: any other is refused.
    ``source`` is the location the user gave (default: ``location``), kept as ``model.source``.
    """
    if not isinstance(scoring_workers, int) or scoring_workers < 1:
        raise ValueError(f"scoring_workers must be a positive integer, got {scoring_workers!r}")
    base = str(location).rstrip("/")
    if base.startswith("models:/"):
        raise BundleError(
            f"{base} is a registry URI: load it with imdb_sentiment.registry.load_bundle"
        )
    source = base if source is None else source
    manifest = read_manifest(base)
    files = manifest["files"]
    if not isinstance(files, dict) or MODEL_SPEC not in files:
        raise BundleError(f"{base}/{MANIFEST_NAME} does not list {MODEL_SPEC}")
    payloads = {}
    for name, entry in files.items():
        if "/" in name or name.startswith("."):
            raise BundleError(f"{base}/{MANIFEST_NAME} lists a file outside the bundle: {name!r}")
        data = _read(f"{base}/{name}")
        if sha256_bytes(data) != entry.get("sha256"):
            raise BundleError(
                f"{base}/{name} does not match the sha256 in its manifest: the bundle was "
                "modified or is incomplete; refusing to load it"
            )
        payloads[name] = data
    try:  # DVC's hash covers the manifest's bytes too
        verify_pin(
            source,
            lambda: {**payloads, MANIFEST_NAME: _read(f"{base}/{MANIFEST_NAME}")},
            expected_hash,
        )
    except PinError as error:
        raise BundleError(str(error)) from error
    _warn_on_library_drift(manifest, base)
    try:
        pipeline = load_model(payloads)
    except ModelFormatError as error:
        raise BundleError(f"{base}: {error}") from error
    return SentimentModel(
        pipeline=pipeline, manifest=manifest, source=source, scoring_workers=scoring_workers
    )


def _warn_on_library_drift(manifest: dict[str, Any], base: str) -> None:
    recorded = manifest.get("libraries", {})
    installed = library_versions()
    drift = {
        name: (recorded[name], installed[name])
        for name in CHECKED_LIBRARIES
        if name in recorded and recorded[name] != installed[name]
    }
    if drift:
        details = ", ".join(f"{name} {was} -> {now}" for name, (was, now) in drift.items())
        warnings.warn(
            f"{base} was exported with other library versions ({details}); "
            "predictions may differ from the recorded metrics",
            stacklevel=3,
        )
