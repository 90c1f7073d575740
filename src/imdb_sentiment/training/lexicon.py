"""A sentiment lexicon as a prior on the unigram weights (``train.lexicon_prior``).

The lexicon is VADER's (Hutto & Gilbert 2014, the ``vaderSentiment`` package, MIT): about 7,500
words and emoticons, each with a mean human valence from -4 to +4. It is read at training time
only; the prior is folded into ``coef``, so the bundle and serving never see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files

import numpy as np

from imdb_sentiment.ngrams import NEGATED_PREFIX

VALENCE_SCALE = 4.0  # VADER valences lie in [-4, 4]: a prior of strength 1 adds at most 1
NEGATED_SHARE = -0.5  # a negated word leans the other way, and less ("not bad" is not "good")


def vader_valences() -> dict[str, float]:
    """Word -> mean valence from the lexicon file shipped inside the vaderSentiment package."""
    text = (files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    valences = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            valences[fields[0].strip()] = float(fields[1])
    return valences


def lexicon_prior(
    feature_names: Sequence[str],
    valences: Mapping[str, float],
    strength: float,
    passthrough: int = 0,
) -> np.ndarray:
    """What to add to the decision-space weights: ``strength * valence / 4`` on every unigram
    in the lexicon and ``-1/2`` of that on its negation-marked form (``NOT_word``).

    Bigrams, trigrams, the masked-name token and the last ``passthrough`` columns (such as the
    length feature) get 0.
    """
    prior = np.zeros(len(feature_names))
    if strength == 0:
        return prior
    for column, name in enumerate(feature_names[: len(feature_names) - passthrough]):
        if " " in name:
            continue
        if name.startswith(NEGATED_PREFIX):
            valence = valences.get(name[len(NEGATED_PREFIX) :])
            share = NEGATED_SHARE
        else:
            valence = valences.get(name)
            share = 1.0
        if valence is not None:
            prior[column] = strength * share * valence / VALENCE_SCALE
    return prior
