"""Proper nouns learned from how the training reviews capitalize words, masked as one token.

A linear model on word n-grams learns the IMDB prior of the films a name comes with: "Seagal"
or "Boll" pull any review down, praise included. Names are found at fit time from the training
text's capitalization (the model itself sees lower-cased text): a word that, where it stands
inside a sentence, is written Title-case nearly every time ("Seagal", "Paris") is a name, while
"good" or "the" are lower-case there and an all-caps word ("DVD") is not Title-case. The
vectorizer then maps every name's token id to one shared id, so "Steven Seagal gives" and
"Tom Hanks gives" become the same n-grams, in training and serving alike, without any case
information at serving time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from imdb_sentiment.text import HTML_TAG

# The pronoun is Title-case everywhere: never a name.
NOT_NAMES = frozenset(["i", "i'm", "i've", "i'd", "i'll"])
# Only a token after whitespace or a comma is inside a sentence; after ". ! ? : ; ( " -", a line
# break or a tag (read as a break), capitals say nothing.
_INSIDE = re.compile(r"[ \t,]*")


def is_title_case(token: str) -> bool:
    """``Seagal``, ``McDonald``, ``O'Brien``: a capital first letter, and not all capitals."""
    return token[:1].isupper() and not token.isupper()


def count_capitals(texts: Iterable[str], token_pattern: str) -> tuple[Counter, Counter]:
    """(occurrences inside a sentence, of which Title-case) per lower-cased token.

    Texts keep their case; HTML tags count as a sentence break. The first token of a text, and
    any token after punctuation other than a comma or after a ``!``/``?`` token, is left out.
    """
    pairs = re.compile(f"(.*?)({token_pattern})", re.DOTALL)
    inside, title = Counter(), Counter()
    match_inside = _INSIDE.fullmatch
    for text in texts:
        found = pairs.findall(HTML_TAG.sub("\n", text))
        for (gap, token), (_, previous) in zip(found[1:], found, strict=False):
            if match_inside(gap) and previous[-1] not in "!?":
                key = token.lower()
                inside[key] += 1
                if is_title_case(token):
                    title[key] += 1
    return inside, title


def name_tokens(
    texts: Iterable[str], token_pattern: str, min_count: int, threshold: float
) -> set[str]:
    """Lower-cased tokens seen inside sentences at least ``min_count`` times, Title-case in at
    least a ``threshold`` share of them."""
    inside, title = count_capitals(texts, token_pattern)
    return {
        token
        for token, count in inside.items()
        if count >= min_count and title[token] >= threshold * count and token not in NOT_NAMES
    }


def name_ids(
    texts: Sequence[str],
    token_ids: dict[str, int],
    token_pattern: str,
    min_count: int,
    threshold: float,
) -> np.ndarray:
    """Sorted ids (in ``token_ids``) of the names in the training ``texts``; none if
    ``min_count`` is 0 (masking off)."""
    if not min_count:
        return np.zeros(0, dtype=np.int64)
    ids = [
        token_ids.get(token, 0) for token in name_tokens(texts, token_pattern, min_count, threshold)
    ]
    return np.unique(np.asarray([i for i in ids if i > 0], dtype=np.int64))


def id_remap(n_tokens: int, name_ids: np.ndarray) -> np.ndarray:
    """Token id -> id fed to the n-grams: every name id becomes ``n_tokens + 1`` (one shared
    token after the table's ids 1..n_tokens); 0 (unknown) and other ids stay."""
    remap = np.arange(n_tokens + 2, dtype=np.int64)
    remap[name_ids] = n_tokens + 1
    return remap
