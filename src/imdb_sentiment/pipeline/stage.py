"""What every stage script shares: logging, and one clear line instead of a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from imdb_sentiment.bundle import BundleError
from imdb_sentiment.pipeline.export import ExportError
from imdb_sentiment.pipeline.ingest import ArchiveError
from imdb_sentiment.pipeline.params import ParamsError
from imdb_sentiment.pipeline.split import SplitError
from imdb_sentiment.tracking import TrackingError

EXPECTED_ERRORS = (ArchiveError, BundleError, ExportError, ParamsError, SplitError, TrackingError)


def run(main: Callable[[], None]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        main()
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
