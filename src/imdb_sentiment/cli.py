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


def _batch(args: argparse.Namespace) -> int:
    import os

    # The temporary Prefect server needs more than the default 20 s on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    from imdb_sentiment.batch.flow import batch_predict
    from imdb_sentiment.batch.io import InputError

    try:
        summary = batch_predict(
            input=args.input,
            output=args.output,
            model=args.model,
            write_csv=args.csv,
            chunk_rows=args.chunk_rows,
            text_column=args.text_column,
            id_column=args.id_column,
            label_column=args.label_column,
        )
    except (InputError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
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

    batch = commands.add_parser(
        "batch", help="score a CSV/Parquet file (local or s3://) with the Prefect batch flow"
    )
    batch.add_argument("--input", required=True, help="*.csv or *.parquet, a path or s3:// URL")
    batch.add_argument(
        "--output", required=True, help="*.parquet file or folder (path or s3:// URL)"
    )
    batch.add_argument("--model", help="bundle path or URL (default: $IMDB_SENTIMENT_MODEL)")
    batch.add_argument("--csv", action="store_true", help="also write the predictions as CSV")
    batch.add_argument(
        "--chunk-rows", type=int, help="rows per chunk (default: $IMDB_SENTIMENT_BATCH_CHUNK_ROWS)"
    )
    batch.add_argument("--text-column", help="review text column (default: review or text)")
    batch.add_argument("--id-column", help="id column (default: id or review_id, if present)")
    batch.add_argument(
        "--label-column", help="true label column (default: sentiment or label, if present)"
    )
    batch.set_defaults(handler=_batch)
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
