"""Movie-disjoint k-fold estimate of training variants, on the stored features (run by hand).

One validation split of 5,000 reviews has a standard error of about 0.4 points, too coarse to
tell settings apart that differ by a tenth of a point. This script pools the train and validation
features (the vectorizer fitted by the featurize stage), cuts them into the split stage's
``round(1/val_fraction)`` movie-disjoint stratified folds (fold 0 is the pipeline's validation
split), and for each variant fits the pipeline's selection model (``fit_models`` without refit:
Platt and the short-input shift fitted on the held-out fold) once per fold. It reports the mean
accuracy on held-out reviews and on their first/last sentences, the sentences' ECE, and each
variant's per-fold differences from the baseline (mean and standard error): paired differences
are what separate variants. Test data is never read. (The vocabulary is the featurize stage's,
counted on the training split, so every fold but 0 had its n-grams counted: the same for every
variant, so it shifts levels, not differences.)

Usage (after `dvc checkout` or `make pipeline`):
  nice .venv/bin/python bench/kfold.py [--variants NAME ...] [--folds 0 1 2 3 4]
Prints one line per variant and fold, and saves bench/results/kfold.json with the commit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from model import git_commit  # noqa: E402

from imdb_sentiment.model_format import logistic_classifier  # noqa: E402
from imdb_sentiment.training import train as train_module  # noqa: E402
from imdb_sentiment.training.evaluate import expected_calibration_error  # noqa: E402
from imdb_sentiment.training.features import load_vectorizer, short_reviews  # noqa: E402
from imdb_sentiment.training.io import load_features, read_parquet  # noqa: E402
from imdb_sentiment.training.lexicon import lexicon_prior, vader_valences  # noqa: E402
from imdb_sentiment.training.params import (  # noqa: E402
    FeaturizeParams,
    SplitParams,
    TrainParams,
    load_section,
)
from imdb_sentiment.training.split import movie_disjoint_folds  # noqa: E402
from imdb_sentiment.training.train import LabelledRows, fit_models  # noqa: E402

DATA = ROOT / "data"


@dataclass
class Pool:
    """Train + validation reviews (in the split stage's order) and their first/last sentences."""

    features: Any
    labels: np.ndarray
    ratings: np.ndarray
    short_features: Any
    short_labels: np.ndarray
    short_owner: np.ndarray  # index of each sentence's review in the pool
    folds: list[np.ndarray]  # held-out review indices per fold
    feature_names: Any = None  # the vectorizer's, for train.lexicon_prior


def load_pool(data: Path = DATA, params: Path = ROOT / "params.yaml") -> Pool:
    import scipy.sparse as sp

    split_params = load_section("split", SplitParams, params)
    min_words = load_section("featurize", FeaturizeParams, params).short_min_words
    features, splits = data / "features", data / "split"
    matrices, labels, shorts, short_labels, frames, owners = [], [], [], [], [], []
    offset = 0
    for name in ("train", "val"):
        matrix, label = load_features(features / f"{name}.npz")
        short, short_label = load_features(features / f"{name}_short.npz")
        frame = read_parquet(splits / f"{name}.parquet")
        sentences = short_reviews(frame, min_words)  # same rows, same order as {name}_short.npz
        assert (
            len(sentences) == short.shape[0]
            and (sentences["label"].to_numpy() == short_label).all()
        )
        position = pd.Series(np.arange(len(frame)), index=frame["review_id"])
        owners.append(offset + position.loc[sentences["review_id"]].to_numpy())
        matrices.append(matrix), labels.append(label), shorts.append(short)
        short_labels.append(short_label), frames.append(frame)
        offset += len(frame)
    frame = pd.concat(frames, ignore_index=True)
    # The split stage's folds, from the split stage's own function.
    raw = read_parquet(
        data / "raw/reviews.parquet", columns=["review_id", "split", "movie_id", "label"]
    )
    official, held_out = movie_disjoint_folds(raw, split_params.val_fraction, split_params.seed)
    position = pd.Series(np.arange(len(frame)), index=frame["review_id"])
    folds = [position.loc[official["review_id"].iloc[held]].to_numpy() for held in held_out]
    val_ids = set(read_parquet(splits / "val.parquet", columns=["review_id"])["review_id"])
    assert set(frame["review_id"].iloc[folds[0]]) == val_ids, "fold 0 must be the validation split"
    return Pool(
        sp.vstack(matrices, format="csr"),
        np.concatenate(labels),
        frame["rating"].to_numpy(),
        sp.vstack(shorts, format="csr"),
        np.concatenate(short_labels),
        np.concatenate(owners),
        folds,
        load_vectorizer(features / "vectorizer").get_feature_names_out(),
    )


@dataclass
class Variant:
    """Overrides of train params, plus optional hooks the pipeline has no param for (yet)."""

    params: dict[str, Any] = field(default_factory=dict)
    review_weights: Callable[[np.ndarray], np.ndarray] | None = None  # ratings -> weights
    # (pool, fold train indices, fold params) -> weights of the training sentences
    sentence_weights: Callable[[Pool, np.ndarray, TrainParams], np.ndarray] | None = None
    loss: str = "squared_hinge"
    ordinal_weight: float = 0.0  # extra copies of reviews labelled rating >= 3 and >= 9
    label_smoothing: float = 0.0  # sentence rows: weight 1 - eps on their label, eps on the other
    # Average the calibrated logits of this model and of one fitted with these other overrides
    # (still one linear model: the mean of two coef vectors).
    blend: dict[str, Any] | None = None


def rows_for(
    pool: Pool, reviews: np.ndarray, variant: Variant, params: TrainParams
) -> LabelledRows:
    chosen = np.isin(pool.short_owner, reviews)
    weights = (
        None if variant.review_weights is None else variant.review_weights(pool.ratings[reviews])
    )
    short_features, short_labels = pool.short_features[chosen], pool.short_labels[chosen]
    short_weights = (
        None
        if variant.sentence_weights is None
        else variant.sentence_weights(pool, reviews, params)
    )
    if variant.label_smoothing > 0:  # each sentence also as the other label, at weight eps
        import scipy.sparse as sp

        base = np.ones(len(short_labels)) if short_weights is None else short_weights
        eps = variant.label_smoothing
        short_features = sp.vstack([short_features, short_features], format="csr")
        short_labels = np.concatenate([short_labels, 1 - short_labels])
        short_weights = np.concatenate([(1 - eps) * base, eps * base])
    if variant.ordinal_weight > 0:  # extra rows ride along as weighted "sentences"
        import scipy.sparse as sp

        ratings = pool.ratings[reviews]
        extra = pool.features[reviews]
        short_features = sp.vstack([short_features, extra, extra], format="csr")
        short_labels = np.concatenate([short_labels, ratings >= 3, ratings >= 9]).astype(np.int64)
        base = np.ones(chosen.sum()) if short_weights is None else short_weights
        ordinal = variant.ordinal_weight / params.short_review_weight
        short_weights = np.concatenate([base, np.full(2 * len(reviews), ordinal)])
    return LabelledRows(
        pool.features[reviews],
        pool.labels[reviews],
        short_features,
        short_labels,
        weights,
        short_weights,
    )


def held_out_rows(pool: Pool, reviews: np.ndarray) -> LabelledRows:
    chosen = np.isin(pool.short_owner, reviews)
    return LabelledRows(
        pool.features[reviews],
        pool.labels[reviews],
        pool.short_features[chosen],
        pool.short_labels[chosen],
    )


def fit_selection(
    params: TrainParams,
    variant: Variant,
    train: LabelledRows,
    val: LabelledRows,
    prior: np.ndarray | None = None,
) -> Any:
    original = train_module.build_learner

    def build(p: TrainParams) -> Any:
        learner = original(p)
        if variant.loss != "squared_hinge":
            learner.set_params(loss=variant.loss)
        return learner

    train_module.build_learner = build
    try:
        selection = fit_models(
            params.model_copy(update={"refit": False}), train, val, passthrough=1, prior=prior
        ).selection
        if variant.blend is None:
            return selection
        other = fit_models(
            params.model_copy(update={"refit": False, **variant.blend}), train, val, passthrough=1
        ).selection
        return logistic_classifier(
            (selection.coef_ + other.coef_).ravel() / 2,
            float(selection.intercept_[0] + other.intercept_[0]) / 2,
        )
    finally:
        train_module.build_learner = original


def cross_fitted_confidence(
    pool: Pool, reviews: np.ndarray, params: TrainParams, parts: int = 4
) -> np.ndarray:
    """P(review's label) of each training sentence under a review-only model fitted on the other
    parts of ``reviews`` (by movie fold order), so no sentence is scored by a model that saw it."""
    plain = params.model_copy(
        update={
            "short_review_weight": 0.0,
            "refit": False,
            "calibration": "platt",
            "balance_short_reviews": False,
        }
    )
    chosen = np.flatnonzero(np.isin(pool.short_owner, reviews))
    owners = pool.short_owner[chosen]
    confidence = np.empty(len(chosen))
    rng = np.random.default_rng(0)
    part_of = dict(zip(reviews, rng.integers(0, parts, size=len(reviews)), strict=True))
    owner_part = np.array([part_of[o] for o in owners])
    review_part = np.array([part_of[r] for r in reviews])
    for part in range(parts):
        fit_on, held = reviews[review_part != part], reviews[review_part == part]
        model = fit_models(
            plain,
            LabelledRows(pool.features[fit_on], pool.labels[fit_on]),
            LabelledRows(pool.features[held], pool.labels[held]),
            passthrough=1,
        ).selection
        members = owner_part == part
        p = model.predict_proba(pool.short_features[chosen[members]])[:, 1]
        label = pool.short_labels[chosen[members]]
        confidence[members] = np.where(label == 1, p, 1 - p)
    return confidence


_CONFIDENCE_CACHE: dict[tuple[int, int], np.ndarray] = {}


def denoised(kind: str, strength: float) -> Callable[[Pool, np.ndarray, TrainParams], np.ndarray]:
    def weights(pool: Pool, reviews: np.ndarray, params: TrainParams) -> np.ndarray:
        key = (len(reviews), int(reviews[:50].sum()))
        if key not in _CONFIDENCE_CACHE:
            _CONFIDENCE_CACHE[key] = cross_fitted_confidence(pool, reviews, params)
        c = _CONFIDENCE_CACHE[key]
        if kind == "filter":  # keep sentences the review model calls in the review's direction
            return (c >= strength).astype(float)
        return np.clip(2 * c - 1, 0, None) ** strength  # weight by signed confidence

    return weights


def nb(alpha: float, beta: float, **overrides: Any) -> dict[str, Any]:
    """Train params with NB smoothing ``alpha`` and interpolation ``beta`` set explicitly, so a
    variant means the same whatever params.yaml's defaults are."""
    return {"nb_smoothing": alpha, "nb_interpolation": beta, **overrides}


# Every variant names its NB smoothing (alpha) and interpolation (beta); the first is the
# reference the differences are taken against: the plain NBSVM (alpha 1, no interpolation).
VARIANTS: dict[str, Variant] = {
    "alpha=1, beta=1": Variant(nb(1.0, 1.0)),
    "alpha=1, beta=1, C=0.5": Variant(nb(1.0, 1.0, C=0.5)),
    "alpha=1, beta=1, C=2": Variant(nb(1.0, 1.0, C=2.0)),
    "alpha=1, beta=1, hinge loss": Variant(nb(1.0, 1.0), loss="hinge"),
    "alpha=1, beta=0.25": Variant(nb(1.0, 0.25)),
    "alpha=1, beta=0.4": Variant(nb(1.0, 0.4)),
    "alpha=1, beta=0.5": Variant(nb(1.0, 0.5)),
    "alpha=1, beta=0.6": Variant(nb(1.0, 0.6)),
    "alpha=1, beta=0.75": Variant(nb(1.0, 0.75)),
    "alpha=1, beta=0.5, C=0.5": Variant(nb(1.0, 0.5, C=0.5)),
    "alpha=1, beta=0.5, C=2": Variant(nb(1.0, 0.5, C=2.0)),
    "alpha=1, beta=0.5, short weight 0.2": Variant(nb(1.0, 0.5, short_review_weight=0.2)),
    "alpha=0.5, beta=0.5": Variant(nb(0.5, 0.5)),
    "alpha=2, beta=1": Variant(nb(2.0, 1.0)),
    "alpha=3, beta=1": Variant(nb(3.0, 1.0)),
    "alpha=5, beta=1": Variant(nb(5.0, 1.0)),
    "alpha=2, beta=1, C=2": Variant(nb(2.0, 1.0, C=2.0)),
    "alpha=2, beta=0.5": Variant(nb(2.0, 0.5)),
    "alpha=2, beta=0.6": Variant(nb(2.0, 0.6)),
    "alpha=2, beta=0.75": Variant(nb(2.0, 0.75)),
    "alpha=2, beta=0.85": Variant(nb(2.0, 0.85)),
    "alpha=1.5, beta=0.75": Variant(nb(1.5, 0.75)),
    "alpha=2.5, beta=0.75": Variant(nb(2.5, 0.75)),
    "alpha=3, beta=0.75": Variant(nb(3.0, 0.75)),
    "alpha=2, beta=0.75, C=0.5": Variant(nb(2.0, 0.75, C=0.5)),
    "alpha=2, beta=0.75, lexicon prior 0.25": Variant(nb(2.0, 0.75, lexicon_prior=0.25)),
    "alpha=2, beta=0.75, lexicon prior 0.5": Variant(nb(2.0, 0.75, lexicon_prior=0.5)),
    "alpha=2, beta=0.75, C=2": Variant(nb(2.0, 0.75, C=2.0)),
    "alpha=2, beta=0.75, sentence labels smoothed 0.1": Variant(nb(2.0, 0.75), label_smoothing=0.1),
    "alpha=2, beta=0.75, sentence labels smoothed 0.2, weight 0.2": Variant(
        nb(2.0, 0.75, short_review_weight=0.2), label_smoothing=0.2
    ),
    "alpha=1, beta=1, averaged with NB-LR C=8": Variant(
        nb(1.0, 1.0), blend={"model": "logistic_regression", "C": 8.0}
    ),
    "alpha=1, beta=1, averaged with C=0.25": Variant(nb(1.0, 1.0), blend={"C": 0.25}),
    "alpha=1, beta=1, ratings 4 and 7 weight 0.5": Variant(
        nb(1.0, 1.0), review_weights=lambda r: np.where(np.isin(r, (4, 7)), 0.5, 1.0)
    ),
    "alpha=1, beta=1, ratings 1 and 10 weight 1.5": Variant(
        nb(1.0, 1.0), review_weights=lambda r: np.where(np.isin(r, (1, 10)), 1.5, 1.0)
    ),
    "alpha=1, beta=1, ordinal rows weight 0.3": Variant(nb(1.0, 1.0), ordinal_weight=0.3),
    "alpha=1, beta=1, ordinal rows weight 1": Variant(nb(1.0, 1.0), ordinal_weight=1.0),
    "alpha=1, beta=1, sentences kept if p(label) >= 0.5": Variant(
        nb(1.0, 1.0), sentence_weights=denoised("filter", 0.5)
    ),
    "alpha=1, beta=1, sentences kept if p(label) >= 0.5, weight 0.2": Variant(
        nb(1.0, 1.0, short_review_weight=0.2), sentence_weights=denoised("filter", 0.5)
    ),
    "alpha=1, beta=1, sentences weighted 2p(label)-1, weight 0.2": Variant(
        nb(1.0, 1.0, short_review_weight=0.2), sentence_weights=denoised("soft", 1.0)
    ),
}


def score(model: Any, val: LabelledRows) -> dict[str, float]:
    p = model.predict_proba(val.features)[:, 1]
    ps = model.predict_proba(val.short_features)[:, 1]
    return {
        "accuracy": float(((p >= 0.5) == val.labels).mean()),
        "sentences_accuracy": float(((ps >= 0.5) == val.short_labels).mean()),
        "sentences_ece": expected_calibration_error(val.short_labels, ps, 10),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--folds", nargs="+", type=int, default=None)
    parser.add_argument(
        "--data", type=Path, default=DATA, help="a copy of data/ (raw, split, features) to read"
    )
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/kfold.json")
    args = parser.parse_args()
    base = load_section("train", TrainParams, args.params)
    pool = load_pool(args.data, args.params)
    folds = args.folds if args.folds is not None else list(range(len(pool.folds)))
    reference = next(iter(VARIANTS))
    names = [reference, *[v for v in args.variants if v != reference]]
    results: dict[str, dict[int, dict[str, float]]] = {}
    for fold in folds:
        held = pool.folds[fold]
        fit_on = np.setdiff1d(np.arange(len(pool.labels)), held)
        val = held_out_rows(pool, held)
        for name in names:
            variant = VARIANTS[name]
            params = base.model_copy(update=variant.params)
            start = time.perf_counter()
            prior = (
                lexicon_prior(pool.feature_names, vader_valences(), params.lexicon_prior, 1)
                if params.lexicon_prior
                else None
            )
            train = rows_for(pool, fit_on, variant, params)
            model = fit_selection(params, variant, train, val, prior)
            figures = score(model, val)
            results.setdefault(name, {})[fold] = figures
            print(
                f"fold {fold} {name:32s} "
                + " ".join(f"{k} {v:.4f}" for k, v in figures.items())
                + f"  ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    summary = {}
    for name, by_fold in results.items():
        entry: dict[str, Any] = {"folds": by_fold}
        for metric in ("accuracy", "sentences_accuracy", "sentences_ece"):
            values = np.array([by_fold[f][metric] for f in folds])
            diffs = values - np.array([results[reference][f][metric] for f in folds])
            se = float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
            entry[metric] = {
                "mean": round(float(values.mean()), 5),
                "diff": round(float(diffs.mean()), 5),
                "diff_se": round(se, 5),
            }
        summary[name] = entry
        print(
            f"{name:32s} "
            + "  ".join(
                f"{m} {entry[m]['mean']:.4f} ({entry[m]['diff']:+.4f} ± {entry[m]['diff_se']:.4f})"
                for m in ("accuracy", "sentences_accuracy", "sentences_ece")
            )
        )
    payload = {
        "benchmark": "movie-disjoint k-fold on train + validation (selection model per fold)",
        **git_commit(),
        "params": base.model_dump(),
        "folds": folds,
        "variants": summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
