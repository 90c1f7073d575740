"""The vectorized tokenizer gives exactly the regex's tokens: on reviews, on random Unicode text,
for every supported pattern; and the vectorizer scores the same through it or the regex."""

from __future__ import annotations

import random
import re
import sys

import numpy as np
import pytest
from helpers.support import sample_members

from imdb_sentiment.ngrams import NgramVectorizer
from imdb_sentiment.text import strip_tags
from imdb_sentiment.token_ids import SUPPORTED_PATTERNS, TokenIdEncoder, _word_characters

# Characters the patterns treat specially, next to look-alikes they must not (curly apostrophe,
# full-width !), letters that change under lower(), digits and numerals \w accepts, a lone
# surrogate, and separators.
ALPHABET = [*"ab_'!? \n\t.,-’é9Ⅻ²İß日！<>", "\ud800", "\u0301", "\u00a0"]


def regex_ids(pattern: str, vocabulary: list[str], texts: list[str]) -> tuple[list, list]:
    ids = {token: index + 1 for index, token in enumerate(vocabulary)}
    pairs = [
        (ids.get(t, 0), row) for row, text in enumerate(texts) for t in re.findall(pattern, text)
    ]
    return [i for i, _ in pairs], [r for _, r in pairs]


def test_word_characters_are_what_re_calls_word_characters() -> None:
    points = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    expected = np.fromiter(
        (re.match(r"\w", chr(p)) is not None for p in range(sys.maxunicode + 1)), bool
    )
    assert (_word_characters(points) == expected).all()


@pytest.mark.parametrize("pattern", sorted(SUPPORTED_PATTERNS))
def test_random_unicode_text_gives_the_regex_tokens(pattern: str) -> None:
    rng = random.Random(7)
    texts = ["".join(rng.choices(ALPHABET, k=rng.randint(0, 40))) for _ in range(4000)]
    # Half the tokens known, so both found and unknown tokens are checked.
    tokens = sorted({t for text in texts for t in re.findall(pattern, text)})
    vocabulary = tokens[::2]
    encoder = TokenIdEncoder(vocabulary, pattern)
    for start in range(0, len(texts), 97):
        batch = texts[start : start + 97]
        ids, rows = encoder.encode(batch)
        assert (ids.tolist(), rows.tolist()) == regex_ids(pattern, vocabulary, batch)


def test_reviews_give_the_regex_tokens() -> None:
    pattern = r"\w+(?:'\w+)?|[!?]+"
    texts = [strip_tags(text) for text in sample_members().values()]
    vocabulary = sorted({t for text in texts[::2] for t in re.findall(pattern, text)})
    encoder = TokenIdEncoder(vocabulary, pattern)
    for size in (1, 7, len(texts)):
        batch = texts[:size]
        ids, rows = encoder.encode(batch)
        assert (ids.tolist(), rows.tolist()) == regex_ids(pattern, vocabulary, batch)


def test_edge_cases() -> None:
    pattern = r"\w+(?:'\w+)?|[!?]+"
    vocabulary = ["a'b", "c", "don't", "!!", "x"]
    encoder = TokenIdEncoder(vocabulary, pattern)
    # Chained apostrophes, a token longer than any known one, text separators inside texts.
    cases = ["", "a'b'c", "don't!!", "'x'", "!!?", "x" * 50, "\n", "c\nc", "a'b'c'x"]
    ids, rows = encoder.encode(cases)
    assert (ids.tolist(), rows.tolist()) == regex_ids(pattern, vocabulary, cases)
    assert encoder.encode([])[0].tolist() == []
    assert encoder.encode(["", ""])[0].tolist() == []


def test_a_vocabulary_the_pattern_cannot_produce_is_refused() -> None:
    with pytest.raises(ValueError, match="would not produce"):
        TokenIdEncoder(["two words"], r"\w+|[!?]")
    with pytest.raises(ValueError, match="no vectorized tokenizer"):
        TokenIdEncoder(["a"], r"\S+")


@pytest.mark.parametrize("pattern", [r"\w+(?:'\w+)?|[!?]+", r"\S+"])
def test_vectorizer_scores_the_same_through_either_tokenizer(pattern: str) -> None:
    texts = list(sample_members().values())
    labels = np.arange(len(texts)) % 2
    vectorizer = NgramVectorizer(max_n=3, min_df=1, token_pattern=pattern, length_feature=True)
    features = vectorizer.fit_transform(texts[:300], labels[:300])
    coef = np.random.default_rng(0).normal(size=features.shape[1])
    uses_encoder = vectorizer._token_encoder() is not None
    assert uses_encoder == (pattern in SUPPORTED_PATTERNS)
    fast_oov, regex_oov = np.zeros(len(texts)), np.zeros(len(texts))
    fast = vectorizer.linear_scores(texts, coef, oov_rates=fast_oov)
    matrix = vectorizer.transform(texts)
    vectorizer._token_encoder = lambda: None  # the regex path, as for any other pattern
    regex = vectorizer.linear_scores(texts, coef, oov_rates=regex_oov)
    assert np.array_equal(fast, regex)
    assert np.array_equal(fast_oov, regex_oov)
    assert (matrix != vectorizer.transform(texts)).nnz == 0
