"""The `imdb-sentiment` command. Subcommands import what they need only when they run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from imdb_sentiment.settings import get_settings


def _predict(args: argparse.Namespace) -> int:
    from imdb_sentiment.bundle import load_bundle

    model = load_bundle(args.model or get_settings().model)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    probabilities = model.predict_proba(texts)
    for text, label, probability in zip(
        texts, model.labels_for(probabilities), probabilities, strict=True
    ):
        record = {
            "label": label,
            "probability_positive": round(float(probability), 6),
            "text": text[:80],
        }
        print(json.dumps(record))
    return 0


def _promote(args: argparse.Namespace) -> int:
    from imdb_sentiment.registry import promote

    decision = promote(
        args.name,
        metric=args.metric,
        min_improvement=args.min_improvement,
        allow_different_validation=args.allow_different_validation,
    )
    print(decision.reason)
    return 3 if args.fail_if_not_promoted and not decision.promoted else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imdb-sentiment", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser(
        "predict", help="score texts given as arguments or one per stdin line"
    )
    predict.add_argument("text", nargs="*", help="review texts (default: read stdin)")
    predict.add_argument("--model", help="bundle path or URL (default: $IMDB_SENTIMENT_MODEL)")
    predict.set_defaults(handler=_predict)

    promote = commands.add_parser(
        "promote",
        help="move the registry alias `champion` to `candidate` if it is better on validation",
        description="Compare the candidate and champion versions of a registered model on a "
        "validation metric (never test) and move the champion alias only if the candidate "
        "improves it by at least --min-improvement. MLFLOW_TRACKING_URI picks the registry.",
    )
    promote.add_argument("--name", default="imdb-sentiment", help="registered model name")
    promote.add_argument(
        "--metric",
        default="roc_auc",
        help="validation metric: roc_auc (default), accuracy, f1, precision, recall, "
        "log_loss or brier (the last two: lower is better)",
    )
    promote.add_argument(
        "--min-improvement",
        type=float,
        default=0.001,
        help="required gain over the champion, in metric units (default 0.001)",
    )
    promote.add_argument(
        "--allow-different-validation",
        action="store_true",
        help="compare even if the two versions were validated on different data or splits",
    )
    promote.add_argument(
        "--fail-if-not-promoted",
        action="store_true",
        help="exit with status 3 when the candidate is not promoted (for CI gates)",
    )
    promote.set_defaults(handler=_promote)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from imdb_sentiment.bundle import BundleError

    try:
        return args.handler(args)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
