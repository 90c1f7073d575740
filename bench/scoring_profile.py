"""Where the bundle's scoring time goes, stage by stage, on the first 8,192 test reviews.

    .venv/bin/python bench/scoring_profile.py      # -> bench/results/scoring_profile.json

Runs the steps of ``NgramVectorizer.linear_scores`` (the serving fast path) one by one, chunk by
chunk, with a timer around each, and checks that the scores it gets are bit for bit the ones
``linear_scores`` returns: the profile times the real computation, not a copy of it. Best of 3
passes; shares are of that pass's total.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from model import BUNDLE, RESULTS, SPLITS, git_commit, machine  # noqa: E402

from imdb_sentiment.bundle import load_bundle  # noqa: E402
from imdb_sentiment.key_table import sorted_unique  # noqa: E402
from imdb_sentiment.ngrams import SCORING_CHUNK, _ngram_keys  # noqa: E402

REVIEWS = 8_192


def profile_pass(vectorizer, coef: np.ndarray, texts: list[str]) -> tuple[dict, np.ndarray]:
    encoder, table = vectorizer._token_encoder(), vectorizer._key_table()
    preprocess = vectorizer.build_preprocessor()
    column_bits = max(len(vectorizer.keys_) - 1, 1).bit_length()
    seconds: dict[str, float] = {}

    def timed(stage: str, step: Callable, *args):
        start = time.perf_counter()
        result = step(*args)
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start
        return result

    def cells(keys: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> tuple:
        known = (columns >= 0).nonzero()[0]
        packed, _ = sorted_unique((rows[known] << column_bits) | columns[known], with_counts=False)
        return packed >> column_bits, packed & ((1 << column_bits) - 1)

    def weights(cell_rows: np.ndarray, columns: np.ndarray, n: int) -> np.ndarray:
        data, length = vectorizer._values(cell_rows, columns, None, n)
        part = np.bincount(cell_rows, weights=data * coef[columns], minlength=n)
        return part.astype(np.float64, copy=False) + length * coef[len(vectorizer.keys_)]

    def clean(chunk: list[str]) -> list[str]:
        return list(map(preprocess, chunk))

    def token_ids(found: np.ndarray) -> np.ndarray:
        return np.where(found >= 0, encoder._ids[found], 0)

    scores = []
    for start in range(0, len(texts), SCORING_CHUNK):
        chunk = texts[start : start + SCORING_CHUNK]
        cleaned = timed("preprocess (strip_tags)", clean, chunk)
        spans = timed("tokens: spans of the code points", encoder._spans, cleaned)
        hashes, rows = timed("tokens: hashes", encoder._spans_to_keys, *spans)
        found = timed("tokens: id lookup", encoder._table.columns, hashes)
        ids = timed("tokens: id lookup", token_ids, found)
        ids, rows = timed("negation marking", vectorizer._marked, ids, rows)
        keys, rows = timed("n-gram keys", _ngram_keys, ids, rows, vectorizer.max_n)
        columns = timed("n-gram key lookup", table.columns, keys)
        cell_rows, cell_columns = timed(
            "merging repeated n-grams (sort)", cells, keys, rows, columns
        )
        scores.append(
            timed("weights and dot product", weights, cell_rows, cell_columns, len(chunk))
        )
    return seconds, np.concatenate(scores)


def main() -> None:
    model = load_bundle(BUNDLE)
    vectorizer, coef = model.pipeline[0], np.asarray(model.pipeline[-1].coef_)[0]
    if not (vectorizer.tf == "binary" and vectorizer.length_feature and len(model.pipeline) == 2):
        raise SystemExit("the profile follows the default model's path (binary tf, length feature)")
    test = pd.read_parquet(SPLITS / "test.parquet", columns=["text"])
    texts = test["text"].tolist()[:REVIEWS]
    report: dict = {**git_commit(), "machine": machine()}
    profile_pass(vectorizer, coef, texts[:512])  # warm up
    passes = [profile_pass(vectorizer, coef, texts) for _ in range(3)]
    seconds, scores = min(passes, key=lambda run: sum(run[0].values()))
    if not np.array_equal(scores, vectorizer.linear_scores(texts, coef)):
        raise SystemExit("the staged scores differ from linear_scores: the profile is stale")
    total = sum(seconds.values())
    report["profile"] = {
        "reviews": len(texts),
        "chunk": SCORING_CHUNK,
        "seconds": round(total, 4),
        "reviews_per_second": round(len(texts) / total, 1),
        "stages": {
            stage: {"seconds": round(value, 4), "share": round(value / total, 3)}
            for stage, value in seconds.items()
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scoring_profile.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
