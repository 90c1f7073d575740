"""Data profiles for monitoring: what the model saw at training time, and how far new data drifts.

The export stage stores a reference profile (built from the validation split) in the bundle's
manifest; the batch flow builds the same profile for the data it scores and compares the two with
the population stability index (PSI). Both sides call the functions here, so they always measure
the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SCORE_EDGES = tuple(round(edge, 1) for edge in np.linspace(0.1, 0.9, 9))
QUANTILES = tuple(round(q, 1) for q in np.linspace(0.1, 0.9, 9))
# Keeps an empty bin from making PSI infinite.
PSI_FLOOR = 1e-4


def text_lengths(texts: Sequence[str]) -> np.ndarray:
    """Length of each text in characters."""
    return np.fromiter((len(text) for text in texts), dtype=np.float64, count=len(texts))


def bin_proportions(values: np.ndarray, inner_edges: Sequence[float]) -> list[float]:
    """Share of values in each bin; bins are (-inf, e1], (e1, e2], ..., (ek, inf)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return [0.0] * (len(inner_edges) + 1)
    bins = np.searchsorted(np.asarray(inner_edges, dtype=np.float64), values, side="left")
    counts = np.bincount(bins, minlength=len(inner_edges) + 1)
    return [round(float(c), 6) for c in counts / values.size]


def _distribution(values: np.ndarray, inner_edges: Sequence[float]) -> dict[str, Any]:
    finite = values[~np.isnan(values)]
    return {
        "edges": [round(float(edge), 6) for edge in inner_edges],
        "proportions": bin_proportions(finite, inner_edges),
        "mean": round(float(finite.mean()), 6) if finite.size else None,
    }


def build_profile(
    texts: Sequence[str],
    probabilities: np.ndarray,
    oov_rates: np.ndarray,
    threshold: float = 0.5,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Profile a set of scored texts.

    Without ``reference`` the bins come from this data's own deciles (that is how the reference
    is built); with it, the reference's bins are reused so the two profiles can be compared.
    """
    lengths = text_lengths(texts)
    oov_rates = np.asarray(oov_rates, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if reference is None:
        length_edges = _unique_quantiles(lengths)
        oov_edges = _unique_quantiles(oov_rates)
    else:
        length_edges = reference["text_length"]["edges"]
        oov_edges = reference["oov_rate"]["edges"]
    return {
        "rows": len(texts),
        "predicted_positive_rate": round(float(np.mean(probabilities >= threshold)), 6)
        if len(texts)
        else None,
        "text_length": _distribution(lengths, length_edges),
        "oov_rate": _distribution(oov_rates, oov_edges),
        "score": _distribution(probabilities, SCORE_EDGES),
    }


def _unique_quantiles(values: np.ndarray) -> list[float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return []
    return sorted({round(float(q), 6) for q in np.quantile(finite, QUANTILES)})


def population_stability_index(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI between two binned distributions: sum((a - e) * ln(a / e)); 0 means identical."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs equal bin counts, got {len(expected)} and {len(actual)}")
    e = np.maximum(np.asarray(expected, dtype=np.float64), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def drift(reference: dict[str, Any], current: dict[str, Any]) -> dict[str, float]:
    """PSI of each profiled distribution of ``current`` against ``reference``."""
    return {
        name: round(
            population_stability_index(
                reference[name]["proportions"], current[name]["proportions"]
            ),
            6,
        )
        for name in ("text_length", "oov_rate", "score")
    }
