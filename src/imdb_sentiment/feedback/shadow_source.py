"""Where the shadow's agreement comes from: a running service's ``/metrics``, or a JSON file.

The service counts agreement in memory (``imdb_sentiment_shadow_predictions_total{agreement}``)
and publishes which bundles it compares (``imdb_sentiment_model_info`` and
``imdb_sentiment_challenger_info``). Reading that page is the one live source: the counts are
since each worker started, summed over workers when ``PROMETHEUS_MULTIPROC_DIR`` is set (as
``imdb-sentiment serve --workers N`` does), and they start again at zero on a restart or a
new deploy. A JSON file (``{"agree": n, "disagree": m, ...}``) is for figures saved earlier.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from imdb_sentiment.feedback.report import ShadowAgreement

MAX_METRICS_BYTES = 4 * 1024 * 1024  # a metrics page is a few KiB: refuse anything absurd
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def shadow_from_metrics(page: str) -> ShadowAgreement:
    """The agreement counts and both versions from a Prometheus text page; ValueError if the
    page has no shadow counts (no challenger configured, or not this service)."""
    counts: dict[str, float] = {}
    versions: dict[str, str | None] = {"champion_version": None, "challenger_version": None}
    for match in _SAMPLE.finditer(page):
        labels = dict(_LABEL.findall(match["labels"] or ""))
        name, value = match["name"], float(match["value"])
        if name == "imdb_sentiment_shadow_predictions_total" and "agreement" in labels:
            counts[labels["agreement"]] = counts.get(labels["agreement"], 0.0) + value
        elif name == "imdb_sentiment_model_info" and value == 1:
            versions["champion_version"] = labels.get("version")
        elif name == "imdb_sentiment_challenger_info" and value == 1:
            versions["challenger_version"] = labels.get("version")
    if "agree" not in counts or "disagree" not in counts:
        raise ValueError("the metrics page has no shadow counts: is a challenger configured?")
    return ShadowAgreement(agree=int(counts["agree"]), disagree=int(counts["disagree"]), **versions)


def read_shadow(source: str, timeout: float = 10.0) -> ShadowAgreement:
    """``http(s)://host/metrics`` of a running service, or the path of a JSON file."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            page = response.read(MAX_METRICS_BYTES + 1)
        if len(page) > MAX_METRICS_BYTES:
            raise ValueError(f"{source} answered more than {MAX_METRICS_BYTES} bytes")
        return shadow_from_metrics(page.decode("utf-8", "replace"))
    return ShadowAgreement.from_mapping(json.loads(Path(source).read_text()))
