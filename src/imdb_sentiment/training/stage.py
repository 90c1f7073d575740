"""What every stage script shares: logging, and one clear line instead of a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from imdb_sentiment.errors import ImdbSentimentError


def run(main: Callable[[], None]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        main()
    except ImdbSentimentError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
