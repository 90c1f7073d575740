"""Benchmark the exported bundle's scoring against the old scikit-learn baseline, in one run.

    python bench/model.py                  # bundle vs baseline -> bench/results/model.json
    python bench/model.py --tradeoff       # accuracy vs speed per configuration
                                           #   -> bench/results/tradeoff.csv (a DVC plot)

The baseline of ``make bench`` is a plain scikit-learn pipeline, TfidfVectorizer(ngram_range=(1, 2),
min_df=2, sublinear_tf=True) + LogisticRegression(C=8) with scikit-learn's defaults otherwise,
fitted on the same training split in the same run, so the ratios compare like with like on
whatever load the machine has. Timings are wall-clock and vary between runs: they live here,
never in DVC-tracked metrics.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from imdb_sentiment.bundle import SentimentModel, load_bundle  # noqa: E402
from imdb_sentiment.ngrams import DEFAULT_TOKEN_PATTERN  # noqa: E402
from imdb_sentiment.training.export import compose  # noqa: E402
from imdb_sentiment.training.features import (  # noqa: E402
    build_vectorizer,
    fit_transform,
    short_reviews,
)
from imdb_sentiment.training.params import (  # noqa: E402
    FeaturizeParams,
    TrainParams,
    load_section,
)
from imdb_sentiment.training.train import LabelledRows, fit_models  # noqa: E402

SPLITS = ROOT / "data" / "split"
BUNDLE = ROOT / "models" / "imdb-sentiment"
RESULTS = ROOT / "bench" / "results"
# Single-review latency is measured on reviews of typical length (the median is ~1,300 chars).
TYPICAL_CHARS = (1_100, 1_500)
LATENCY_REVIEWS = 500

# The previous default configuration (before issue 3): the in-run baseline.
BASELINE_FEATURIZE = {
    "vectorizer": "tfidf",
    "ngram_range": [1, 2],
    "min_df": 2,
    "max_df": 1.0,
    "sublinear_tf": True,
    "binary": False,
    "token_pattern": DEFAULT_TOKEN_PATTERN,
    "length_feature": False,
}
BASELINE_TRAIN = {
    "model": "logistic_regression",
    "C": 8.0,
    "max_iter": 1000,
    "seed": 42,
    "nb_weighting": False,
    "short_review_weight": 0.0,
    "calibration": "none",
    "balance_short_reviews": False,
    "refit": False,
}
# The default before this last round: word 1-3-grams, NB-weighted LR, short rows, Platt.
PREVIOUS_FEATURIZE = {"token_pattern": DEFAULT_TOKEN_PATTERN, "length_feature": False}
PREVIOUS_TRAIN = {
    "model": "logistic_regression",
    "C": 16.0,
    "short_review_weight": 0.3,
    "balance_short_reviews": False,
    "refit": False,
}

# Configurations for the accuracy/speed trade-off (each one is also a `dvc exp run -S` set):
# overrides of params.yaml, so "{}" is the current default.
TRADEOFF = {
    "tfidf 1-2 LR (first default)": (BASELINE_FEATURIZE, BASELINE_TRAIN),
    "ngram 1-2 NB-LR": (
        {**PREVIOUS_FEATURIZE, "ngram_range": [1, 2]},
        {**PREVIOUS_TRAIN, "short_review_weight": 0.0, "calibration": "none"},
    ),
    "ngram 1-3 NB-LR + short rows + Platt (previous default)": (PREVIOUS_FEATURIZE, PREVIOUS_TRAIN),
    "ngram 1-3 NB-SVM + length feature + balanced short input": ({}, {"refit": False}),
    "same, refitted on train + val (default)": ({}, {}),
}


def _split(name: str) -> pd.DataFrame:
    return pd.read_parquet(SPLITS / f"{name}.parquet", columns=["review_id", "text", "label"])


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def batch_throughput(
    score: Callable[[list[str]], np.ndarray], texts: list[str], repeats: int = 3
) -> dict:
    """Best of ``repeats`` timed runs over all ``texts``, after a full garbage collection: one
    run is at the mercy of whatever else the machine (or this process's garbage) does."""
    gc.collect()
    seconds, probabilities = min(
        (_timed(lambda: score(texts)) for _ in range(repeats)), key=lambda run: run[0]
    )
    return {
        "reviews": len(texts),
        "seconds": round(seconds, 3),
        "reviews_per_second": round(len(texts) / seconds, 1),
        "probabilities": probabilities,
    }


def single_latency(score: Callable[[list[str]], np.ndarray], texts: Sequence[str]) -> dict:
    score(list(texts[:20]))  # warm caches
    samples = []
    for text in texts:
        start = time.perf_counter()
        score([text])
        samples.append((time.perf_counter() - start) * 1000)
    ordered = sorted(samples)
    return {
        "reviews": len(samples),
        "mean_chars": round(statistics.fmean(len(t) for t in texts), 1),
        "p50_ms": round(ordered[len(ordered) // 2], 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 3),
    }


def fit_pipeline(featurize: dict, train: dict, base_featurize: dict, base_train: dict):
    """A model for one configuration, built with the pipeline's own code.

    Returns the exported-to-be model (refitted on train + validation when ``refit`` is set) and
    the validation accuracy of the model fitted on train only, as the train stage does.
    """
    train_frame, val_frame = _split("train"), _split("val")
    featurize_params = FeaturizeParams.model_validate({**base_featurize, **featurize})
    train_params = TrainParams.model_validate({**base_train, **train})
    vectorizer = build_vectorizer(featurize_params)
    x_train = fit_transform(vectorizer, train_frame["text"].tolist())
    x_val = vectorizer.transform(val_frame["text"].tolist())

    def rows(frame: pd.DataFrame, features) -> LabelledRows:
        short = short_reviews(frame, featurize_params.short_min_words)
        return LabelledRows(
            features,
            frame["label"].to_numpy(),
            vectorizer.transform(short["text"].tolist()),
            short["label"].to_numpy(),
        )

    passthrough = int(getattr(vectorizer, "length_feature", False))
    models = fit_models(
        train_params, rows(train_frame, x_train), rows(val_frame, x_val), passthrough
    )
    val_accuracy = float(
        ((models.selection.predict_proba(x_val)[:, 1] >= 0.5) == val_frame["label"]).mean()
    )
    return compose(vectorizer, models.final), val_accuracy


def typical_reviews(texts: list[str]) -> list[str]:
    low, high = TYPICAL_CHARS
    return [t for t in texts if low <= len(t) <= high][:LATENCY_REVIEWS]


def plain_sklearn_baseline(frame: pd.DataFrame):
    """The issue's reference: scikit-learn as anyone would write it, fitted on ``frame``."""
    baseline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(C=8, max_iter=1000),
    )
    return baseline.fit(frame["text"].tolist(), frame["label"].to_numpy())


def git_commit() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "note": "timings vary with machine load: compare ratios measured in the same run",
    }


def bench_bundle() -> dict:
    test = _split("test")
    texts, labels = test["text"].tolist(), test["label"].to_numpy()
    typical = typical_reviews(texts)
    report: dict = {**git_commit(), "machine": machine()}

    load_times = [_timed(lambda: load_bundle(BUNDLE))[0] for _ in range(3)]
    model = load_bundle(BUNDLE)
    size = sum(p.stat().st_size for p in BUNDLE.iterdir() if p.is_file())
    bundle = batch_throughput(model.predict_proba, texts)
    bundle_accuracy = float(((bundle.pop("probabilities") >= 0.5) == labels).mean())
    parallel_model = load_bundle(BUNDLE, scoring_workers=2)
    try:
        parallel_model.predict_proba(texts[:4_000])  # start the worker pool (once per model)
        parallel = batch_throughput(parallel_model.predict_proba, texts)
        parallel.pop("probabilities")
    finally:
        parallel_model.close()
    report["bundle"] = {
        "path": str(BUNDLE.relative_to(ROOT)),
        "version": model.version,
        "bytes": size,
        "load_seconds_best_of_3": round(min(load_times), 3),
        "test_accuracy": round(bundle_accuracy, 6),
        "batch": bundle,
        "batch_2_workers": parallel,
        "single": single_latency(model.predict_proba, typical),
    }

    print("fitting the plain scikit-learn baseline on the training split...", flush=True)
    baseline_model = plain_sklearn_baseline(_split("train"))
    baseline_score = lambda t: baseline_model.predict_proba(t)[:, 1]  # noqa: E731
    baseline = batch_throughput(baseline_score, texts)
    baseline_accuracy = float(((baseline.pop("probabilities") >= 0.5) == labels).mean())
    report["baseline"] = {
        "description": "TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True) + "
        "LogisticRegression(C=8), fitted on the train split in this run, in-process",
        "test_accuracy": round(baseline_accuracy, 6),
        "batch": baseline,
        "single": single_latency(baseline_score, typical),
    }
    report["ratios"] = {
        "batch_speedup": round(bundle["reviews_per_second"] / baseline["reviews_per_second"], 2),
        "p50_latency_ratio": round(
            report["bundle"]["single"]["p50_ms"] / report["baseline"]["single"]["p50_ms"], 2
        ),
    }
    return report


def bench_tradeoff() -> pd.DataFrame:
    base = load_section("featurize", FeaturizeParams).model_dump()
    base_train = load_section("train", TrainParams).model_dump()
    test = _split("test")
    texts, labels = test["text"].tolist(), test["label"].to_numpy()
    typical = typical_reviews(texts)
    rows = []
    for name, (featurize, train) in TRADEOFF.items():
        print(f"{name}...", flush=True)
        pipeline, val_accuracy = fit_pipeline(featurize, train, base, base_train)
        # Scored as the bundle loader serves it (the same fast path as an exported bundle).
        score = SentimentModel(pipeline=pipeline, manifest={}, source=name).predict_proba
        batch = batch_throughput(score, texts)
        single = single_latency(score, typical[:200])
        rows.append(
            {
                "configuration": name,
                "val_accuracy": round(val_accuracy, 4),
                "test_accuracy": round(
                    float(((batch["probabilities"] >= 0.5) == labels).mean()), 4
                ),
                "reviews_per_second": batch["reviews_per_second"],
                "p50_ms": single["p50_ms"],
                "features": int(pipeline[-1].coef_.shape[1]),
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """The README's results table, generated from the trade-off CSV."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tradeoff", action="store_true", help="sweep configurations instead")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.tradeoff:
        frame = bench_tradeoff()
        frame.to_csv(RESULTS / "tradeoff.csv", index=False)
        (RESULTS / "tradeoff.md").write_text(markdown_table(frame))
        print(markdown_table(frame))
        return
    report = bench_bundle()
    (RESULTS / "model.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
