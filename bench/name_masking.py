"""What name masking costs scoring: the exported bundle with and without its name remap, in one run.

    python bench/name_masking.py                          # -> bench/results/name_masking.json
    python bench/name_masking.py --baseline /path/to/bundle   # against a bundle without masking

The exported bundle (names masked) scores the test reviews, and so does a baseline: another
bundle (a model fitted without masking, whose own n-grams include the names') or, by default,
the same bundle with its remap switched off (``name_ids_`` emptied). Both run in alternating
rounds (single reviews: each one both ways, back to back, each way first half of the time) so
they see the same machine load; the ratio of the two is the cost. It also times the remap
lookup alone on the token ids of the batch. Needs a bundle exported with
``featurize.name_masking`` on (`make pipeline`).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from model import git_commit, machine, typical_reviews  # noqa: E402

from imdb_sentiment.bundle import load_bundle  # noqa: E402
from imdb_sentiment.ngrams import NgramVectorizer  # noqa: E402

BUNDLE = ROOT / "models" / "imdb-sentiment"
RESULTS = ROOT / "bench" / "results"


def timed(fn) -> float:
    """CPU seconds of this process: scoring is single-threaded, and other processes on the
    shared cores then shift the figure less than wall time (measured 0.94-1.10x between runs)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=8192, help="test reviews per batch round")
    parser.add_argument(
        "--rounds",
        type=int,
        default=8,
        help="alternating rounds of each (even: each way first as often)",
    )
    parser.add_argument("--baseline", type=Path, help="bundle without name masking")
    parser.add_argument("--output", type=Path, default=RESULTS / "name_masking.json")
    args = parser.parse_args()

    model = load_bundle(BUNDLE)
    vectorizer = model.pipeline[0]
    if not isinstance(vectorizer, NgramVectorizer) or not len(vectorizer.name_ids_):
        sys.exit("the bundle has no name masking: set featurize.name_masking and run the pipeline")
    coef = model.pipeline[-1].coef_.ravel()
    if args.baseline:
        other = load_bundle(args.baseline)
        unmasked, unmasked_coef = other.pipeline[0], other.pipeline[-1].coef_.ravel()
        if len(getattr(unmasked, "name_ids_", ())):
            sys.exit(f"{args.baseline} masks names too: not a baseline")
    else:
        unmasked, unmasked_coef = copy.copy(vectorizer), coef
        unmasked.name_ids_ = np.zeros(0, dtype=np.int64)
    texts = pd.read_parquet(ROOT / "data" / "split" / "test.parquet", columns=["text"])
    texts = texts["text"].tolist()
    batch, singles = texts[: args.reviews], typical_reviews(texts)[:300]

    times: dict[str, list[float]] = {"masked": [], "unmasked": []}
    single: dict[str, list[float]] = {"masked": [], "unmasked": []}
    pairs = (("masked", vectorizer, coef), ("unmasked", unmasked, unmasked_coef))
    for _, scorer, weights in pairs:  # warm-up
        scorer.linear_scores(batch[:256], weights)
    for round_ in range(args.rounds):
        order = pairs if round_ % 2 == 0 else pairs[::-1]
        for which, scorer, weights in order:
            gc.collect()
            times[which].append(timed(lambda s=scorer, w=weights: s.linear_scores(batch, w)))
        # Single reviews: each scored both ways back to back, each way first half of the time.
        for index, text in enumerate(singles):
            for which, scorer, weights in order if index % 2 == 0 else order[::-1]:
                single[which].append(
                    timed(lambda s=scorer, w=weights, t=[text]: s.linear_scores(t, w))
                )
    # The lookup alone, on the batch's own token ids (before it).
    encoder = vectorizer._token_encoder()
    ids, _ = encoder.encode(list(map(vectorizer.build_preprocessor(), batch)))
    remap = vectorizer._remap()
    lookup = min(timed(lambda: remap[ids]) for _ in range(args.rounds))

    # Known n-grams (non-zeros) per variant: with masking, names' n-grams are known features.
    cells = {which: int(scorer.transform(batch).nnz) for which, scorer, _ in pairs}
    best = {which: min(values) for which, values in times.items()}
    p50 = {which: statistics.median(values) for which, values in single.items()}
    report = {
        **git_commit(),
        "machine": machine(),
        "bundle": str(BUNDLE.relative_to(ROOT)),
        "names_masked": len(vectorizer.name_ids_),
        "unmasked": str(args.baseline) if args.baseline else "the same bundle, remap off",
        "batch": {
            "reviews": len(batch),
            "rounds": args.rounds,
            "cpu_seconds_best": {k: round(v, 4) for k, v in best.items()},
            "reviews_per_second": {k: round(len(batch) / v, 1) for k, v in best.items()},
            "masked_over_unmasked_time": round(best["masked"] / best["unmasked"], 4),
            # Each round's ratio (the two ran back to back): its median resists a noisy round.
            "median_round_ratio": round(
                statistics.median(
                    m / u for m, u in zip(times["masked"], times["unmasked"], strict=True)
                ),
                4,
            ),
            "all_cpu_seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
        },
        "known_ngrams": {**cells, "ratio": round(cells["masked"] / cells["unmasked"], 4)},
        "single_review": {
            "reviews": len(singles),
            "p50_cpu_ms": {k: round(v * 1000, 4) for k, v in p50.items()},
            "masked_over_unmasked_p50": round(p50["masked"] / p50["unmasked"], 4),
        },
        "remap_lookup": {
            "tokens": len(ids),
            "cpu_seconds": round(lookup, 5),
            "share_of_masked_batch_time": round(lookup / best["masked"], 4),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
