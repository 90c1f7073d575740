"""Drift statistics: identical data shows no drift, shifted data shows it."""

from __future__ import annotations

import numpy as np
import pytest

from imdb_sentiment.profile import bin_proportions, build_profile, drift, population_stability_index


def _profile(texts: list[str], probabilities: np.ndarray, reference=None):
    return build_profile(texts, probabilities, np.full(len(texts), 0.1), reference=reference)


def test_bins_cover_everything() -> None:
    assert bin_proportions(np.array([0.0, 1.0, 2.0, 3.0]), [1.0, 2.0]) == [0.5, 0.25, 0.25]
    assert bin_proportions(np.array([]), [1.0]) == [0.0, 0.0]


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    assert population_stability_index([0.5, 0.5], [0.5, 0.5]) == 0.0
    small = population_stability_index([0.5, 0.5], [0.45, 0.55])
    large = population_stability_index([0.5, 0.5], [0.1, 0.9])
    assert 0 < small < 0.1 < large
    with pytest.raises(ValueError, match="equal bin counts"):
        population_stability_index([1.0], [0.5, 0.5])


def test_drift_flags_short_reviews_against_a_long_review_reference() -> None:
    rng = np.random.default_rng(0)
    long_texts = ["word " * int(n) for n in rng.integers(100, 400, size=500)]
    reference = _profile(long_texts, rng.uniform(size=500))
    same = _profile(long_texts, rng.uniform(size=500), reference)
    short = _profile(["great"] * 500, rng.uniform(size=500), reference)
    assert drift(reference, same)["text_length"] < 0.01
    assert drift(reference, short)["text_length"] > 1.0
    assert same["text_length"]["edges"] == reference["text_length"]["edges"]
