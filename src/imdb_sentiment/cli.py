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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imdb-sentiment", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser(
        "predict", help="score texts given as arguments or one per stdin line"
    )
    predict.add_argument("text", nargs="*", help="review texts (default: read stdin)")
    predict.add_argument("--model", help="bundle path or URL (default: $IMDB_SENTIMENT_MODEL)")
    predict.set_defaults(handler=_predict)
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
