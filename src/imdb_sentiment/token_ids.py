"""Token ids of a batch of texts, computed with numpy instead of one regex match per token.

``re.findall`` builds a Python string for every token and the vocabulary is then a dict lookup
per string: measured ~200 of the ~315 µs a review took to score in batches of 1,024. For the
token patterns the project uses, :class:`TokenIdEncoder` does the same job on the batch's code
points:

1. texts joined with ``"\\n"`` (never part of a token) and viewed as one uint32 array;
2. each code point classified: word character (exactly what ``re``'s ``\\w`` matches: ``_`` or
   ``str.isalnum()``), ``!``/``?``, or neither;
3. tokens as spans: the runs of one class (with single ``!``/``?`` tokens, neighbouring marks
   in alternating classes), both ends of all of them from one pass over the class changes; word
   runs joined over one apostrophe the way the pattern's ``(?:'\\w+)?`` does (pairwise along a
   chain, ``a'b'c`` -> ``a'b``, ``c``);
4. each span hashed to 62 bits (a sum of code point x a random 64-bit multiplier per position,
   plus one per length; positions and sums from prefix sums), and the hash looked up in a table
   of the vocabulary's hashes.

The vocabulary's hashes are computed by the same code and must be distinct (if two collide, the
multipliers are drawn again). An unknown token can only be read as a known one if their 62-bit hashes and
lengths agree: about 1 in 10^14 per token for this vocabulary, with multipliers drawn afresh per
process, so nobody can craft such a token in advance. Tests check it matches the regex exactly,
token for token, on reviews and on random Unicode text.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np

from imdb_sentiment.key_table import KeyTable, nonzero

SEPARATOR = "\n"
_APOSTROPHE, _EXCLAMATION, _QUESTION = ord("'"), ord("!"), ord("?")
# (word pattern, punctuation pattern) -> (join words over an apostrophe, runs of !/? as one token)
_WORD_PATTERNS = {r"\w+(?:'\w+)?": True, r"\w+": False}
_PUNCTUATION_PATTERNS = {"[!?]+": True, "[!?]": False}
SUPPORTED_PATTERNS = {
    f"{word}|{punctuation}": (join, runs)
    for word, join in _WORD_PATTERNS.items()
    for punctuation, runs in _PUNCTUATION_PATTERNS.items()
}
_ASCII_WORD_CHARACTERS = "_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Class of a code point: a word character, ! or ?, or neither (0). A token is a run of one class.
_WORD, _MARK, _NON_ASCII = 1, 2, 4
# Index 128: any non-ASCII code point (checked apart).
_ASCII_CLASSES = np.zeros(129, dtype=np.uint8)
_ASCII_CLASSES[[ord(c) for c in _ASCII_WORD_CHARACTERS]] = _WORD
_ASCII_CLASSES[[_EXCLAMATION, _QUESTION]] = _MARK
_ASCII_CLASSES[128] = _NON_ASCII


def supports(pattern: str) -> bool:
    return pattern in SUPPORTED_PATTERNS


def _classes(points: np.ndarray) -> np.ndarray:
    """_WORD where ``re``'s ``\\w`` matches in a str pattern (``_`` or an alphanumeric code point),
    _MARK for ! and ?, else 0."""
    # mode="clip" sends every non-ASCII code point to index 128: 2x faster than np.minimum first.
    classes = np.take(_ASCII_CLASSES, points, mode="clip")
    high = nonzero(classes == _NON_ASCII)
    if len(high):
        distinct, index = np.unique(points[high], return_inverse=True)
        flags = np.fromiter((chr(p).isalnum() for p in distinct.tolist()), bool, len(distinct))
        classes[high] = flags[index]  # True is _WORD
    return classes


def _word_characters(points: np.ndarray) -> np.ndarray:
    """What ``re``'s ``\\w`` matches in a str pattern: ``_`` or an alphanumeric code point."""
    return _classes(points) == _WORD


def _join_over_apostrophes(
    points: np.ndarray, padded: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Word runs joined the way ``\\w+(?:'\\w+)?`` reads them: run k joins run k-1 when one
    apostrophe separates the two and run k-1 is not itself the second half of a join, so every
    other run along a chain of linked runs (``a'b'c`` -> ``a'b``, ``c``)."""
    # An apostrophe between two word characters links the run ending there to the next one.
    apostrophes = nonzero(points == _APOSTROPHE)
    apostrophes = apostrophes[
        (padded[apostrophes] == _WORD) & (padded[apostrophes + 2] == _WORD)  # points a-1, a+1
    ]
    linked = np.searchsorted(starts, apostrophes + 1)  # the second run of each linked pair
    if not len(linked):
        return starts, ends
    # A chain is a stretch of consecutive linked runs; the 1st, 3rd... of each are second halves.
    index = np.arange(len(linked))
    new_chain = np.empty(len(linked), dtype=bool)
    new_chain[0] = True
    np.not_equal(linked[1:], linked[:-1] + 1, out=new_chain[1:])
    chain_start = np.maximum.accumulate(np.where(new_chain, index, 0))
    second = linked[((index - chain_start) & 1) == 0]
    ends = ends.copy()
    ends[second - 1] = ends[second]
    keep = np.ones(len(starts), dtype=bool)
    keep[second] = False
    return starts[keep], ends[keep]


class TokenIdEncoder:
    """Texts -> (token id, row) of every token in order, ids from ``tokens`` (1-based, 0 = unknown).

    ``pattern`` must be one of :data:`SUPPORTED_PATTERNS`; texts must already be preprocessed.
    Gives exactly ``[ids[t] for t in re.findall(pattern, text)]`` per text.
    """

    def __init__(self, tokens: Sequence[str], pattern: str, seed: int | None = None) -> None:
        if pattern not in SUPPORTED_PATTERNS:
            raise ValueError(f"no vectorized tokenizer for the token pattern {pattern!r}")
        self._join_apostrophes, self._punctuation_runs = SUPPORTED_PATTERNS[pattern]
        self._longest = max(map(len, tokens), default=1)
        # Seeded for tests; otherwise fresh per process (a collision, ~1e-9, just redraws).
        for _attempt in range(1 if seed is not None else 3):
            rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
            high = np.iinfo(np.uint64).max
            factors = rng.integers(0, high, 2 * self._longest + 1, np.uint64, endpoint=True)
            # Index 1 + offset of a code point in its token (an offset past the longest token
            # shares the last factor; such tokens are unknown anyway).
            self._position_factors = np.append(np.uint64(0), factors[: self._longest] | 1)
            self._length_factors = factors[self._longest :]
            keys, rows = self._spans_to_keys(*self._spans(list(tokens)))
            if len(keys) != len(tokens) or not (rows == np.arange(len(tokens))).all():
                raise ValueError("the vocabulary holds a token the pattern would not produce")
            order = np.argsort(keys)
            if len(keys) < 2 or (keys[order][1:] > keys[order][:-1]).all():
                break
        else:
            raise ValueError("two vocabulary tokens share a hash: try another seed")
        self._table = KeyTable(keys[order])
        self._ids = (order + 1).astype(np.int64)  # table column -> token id

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        keys, rows = self._spans_to_keys(*self._spans(texts))
        columns = self._table.columns(keys)
        ids = np.where(columns >= 0, self._ids[columns], 0)
        return ids, rows

    def _spans(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Code points of the joined batch, and each token's start, end and row."""
        if not texts:
            empty = np.zeros(0, dtype=np.int64)
            return np.zeros(0, dtype=np.uint32), empty, empty, empty
        joined = SEPARATOR.join(texts)
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        padded = np.zeros(len(points) + 2, dtype=np.uint8)  # a class-0 point at either end
        padded[1:-1] = _classes(points)
        if not self._punctuation_runs:  # every other ! or ? in another class: one token each
            marks = nonzero(padded == _MARK)
            padded[marks] += (marks & 1).astype(np.uint8)
        # Tokens are the runs of one non-zero class: a run starts before point p where the class
        # changes to a non-zero one, and ends before p where it changes from a non-zero one.
        change = padded[1:] != padded[:-1]  # before point p (p = len: after the last)
        starts = nonzero(change & (padded[1:] != 0))
        ends = nonzero(change & (padded[:-1] != 0))
        if self._join_apostrophes and len(starts) > 1:
            starts, ends = _join_over_apostrophes(points, padded, starts, ends)
        return points, starts, ends, self._rows(texts, starts)

    @staticmethod
    def _rows(texts: Sequence[str], starts: np.ndarray) -> np.ndarray:
        if len(texts) == 1:  # the API's case, a few µs sooner
            return np.zeros(len(starts), dtype=np.int64)
        # Tokens never cross texts (the separator is no token): count them per text.
        text_starts = np.zeros(len(texts), dtype=np.int64)
        lengths = np.fromiter(map(len, texts[:-1]), np.int64, count=len(texts) - 1)
        np.cumsum(lengths + 1, out=text_starts[1:])
        first = np.searchsorted(starts, text_starts)
        counts = np.empty(len(texts), dtype=np.int64)
        np.subtract(first[1:], first[:-1], out=counts[:-1])
        counts[-1] = len(starts) - first[-1]
        return np.repeat(np.arange(len(texts)), counts)

    def _spans_to_keys(
        self, points: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One positive int64 key per token span (0 for spans longer than any known token)."""
        if not len(starts):
            return np.zeros(0, dtype=np.int64), rows
        lengths = ends - starts
        # Offset of each code point in its token, plus one: a running count that restarts at 1 on
        # every token start (a prefix sum, ~5x faster than a running maximum of the starts).
        counts = np.ones(len(points), dtype=np.int64)
        counts[starts[0]] = 1 - starts[0]
        counts[starts[1:]] = starts[:-1] + 1 - starts[1:]
        np.cumsum(counts, out=counts)
        # Only a token's own code points enter its hash (a prefix-sum difference over its span),
        # so the terms between tokens need no masking.
        terms = points * np.take(self._position_factors, counts, mode="clip")
        sums = np.empty(len(points) + 1, dtype=np.uint64)
        sums[0] = 0
        np.cumsum(terms, out=sums[1:])
        hashes = sums[ends] - sums[starts] + np.take(self._length_factors, lengths, mode="clip")
        keys = (hashes >> np.uint64(2)).astype(np.int64) + 1
        # Key 0 is never in the table: a token longer than every known one is unknown.
        return np.where(lengths <= self._longest, keys, 0), rows
