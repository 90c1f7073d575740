"""Benchmark the exported bundle's scoring against the old scikit-learn baseline, in one run.

    python bench/model.py                  # bundle vs baseline -> bench/results/model.json
    python bench/model.py --tradeoff       # accuracy vs speed per configuration
                                           #   -> bench/results/tradeoff.csv (a DVC plot)

The baseline is the project's previous default, a plain scikit-learn pipeline
(TfidfVectorizer 1-2-grams, clean_review, min_df 2, sublinear tf + LogisticRegression C=8),
fitted on the same training split in the same run, so the ratios compare like with like on
whatever load the machine has. Timings are wall-clock and vary between runs: they live here,
never in DVC-tracked metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from imdb_sentiment.bundle import load_bundle  # noqa: E402
from imdb_sentiment.pipeline.export import compose  # noqa: E402
from imdb_sentiment.pipeline.features import (  # noqa: E402
    build_vectorizer,
    fit_transform,
    short_reviews,
)
from imdb_sentiment.pipeline.params import (  # noqa: E402
    FeaturizeParams,
    TrainParams,
    load_section,
)
from imdb_sentiment.pipeline.train import fit_classifier  # noqa: E402

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
}
BASELINE_TRAIN = {
    "model": "logistic_regression",
    "C": 8.0,
    "max_iter": 1000,
    "seed": 42,
    "nb_weighting": False,
    "short_review_weight": 0.0,
    "calibration": "none",
}

# Configurations for the accuracy/speed trade-off (each one is also a `dvc exp run -S` set).
TRADEOFF = {
    "tfidf 1-2 LR (old default)": (BASELINE_FEATURIZE, BASELINE_TRAIN),
    "ngram 1-2 NB-LR": (
        {"ngram_range": [1, 2], "min_df": 2, "binary": True, "sublinear_tf": False},
        {"C": 16.0, "nb_weighting": True, "short_review_weight": 0.0},
    ),
    "ngram 1-3 LR": (
        {"ngram_range": [1, 3], "min_df": 2, "binary": True, "sublinear_tf": False},
        {"C": 16.0, "nb_weighting": False, "short_review_weight": 0.0},
    ),
    "ngram 1-3 NB-LR + short rows 0.1 + Platt (default)": ({}, {}),
}


def _split(name: str) -> pd.DataFrame:
    return pd.read_parquet(SPLITS / f"{name}.parquet", columns=["text", "label"])


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def batch_throughput(score: Callable[[list[str]], np.ndarray], texts: list[str]) -> dict:
    seconds, probabilities = _timed(lambda: score(texts))
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
    """A model for one configuration, built with the pipeline's own code (train split only)."""
    train_frame, val_frame = _split("train"), _split("val")
    featurize_params = FeaturizeParams.model_validate({**base_featurize, **featurize})
    train_params = TrainParams.model_validate({**base_train, **train})
    vectorizer = build_vectorizer(featurize_params)
    x_train = fit_transform(vectorizer, train_frame["text"].tolist())
    x_val = vectorizer.transform(val_frame["text"].tolist())
    short_features = short_labels = None
    if train_params.short_review_weight > 0:
        short = short_reviews(
            pd.read_parquet(SPLITS / "train.parquet", columns=["review_id", "label", "text"]),
            featurize_params.short_min_words,
        )
        short_features = vectorizer.transform(short["text"].tolist())
        short_labels = short["label"].to_numpy()
    classifier = fit_classifier(
        train_params,
        x_train,
        train_frame["label"].to_numpy(),
        x_val,
        val_frame["label"].to_numpy(),
        short_features,
        short_labels,
    )
    val_accuracy = float(
        ((classifier.predict_proba(x_val)[:, 1] >= 0.5) == val_frame["label"].to_numpy()).mean()
    )
    return compose(vectorizer, classifier), val_accuracy


def typical_reviews(texts: list[str]) -> list[str]:
    low, high = TYPICAL_CHARS
    return [t for t in texts if low <= len(t) <= high][:LATENCY_REVIEWS]


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "note": "2-core machine shared with other jobs; compare ratios measured in the same run",
    }


def bench_bundle() -> dict:
    base = {k: v for k, v in load_section("featurize", FeaturizeParams).model_dump().items()}
    base_train = load_section("train", TrainParams).model_dump()
    test = _split("test")
    texts, labels = test["text"].tolist(), test["label"].to_numpy()
    typical = typical_reviews(texts)
    report: dict = {"machine": machine()}

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

    print("fitting the baseline (old default) on the training split...", flush=True)
    baseline_model, _ = fit_pipeline(BASELINE_FEATURIZE, BASELINE_TRAIN, base, base_train)
    baseline_score = lambda t: baseline_model.predict_proba(t)[:, 1]  # noqa: E731
    baseline = batch_throughput(baseline_score, texts)
    baseline_accuracy = float(((baseline.pop("probabilities") >= 0.5) == labels).mean())
    report["baseline"] = {
        "description": "scikit-learn TfidfVectorizer 1-2-grams + LogisticRegression C=8, in-process",
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
        score = lambda t, p=pipeline: p.predict_proba(t)[:, 1]  # noqa: E731
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
