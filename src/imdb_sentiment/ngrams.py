"""A fast word n-gram vectorizer: the same features at training and serving, numpy-vectorized.

scikit-learn's ``TfidfVectorizer`` builds a Python string for every n-gram and looks each one up
in a dict; for word 1-3-grams that is about 700 strings per review, and loading an 800k-entry
string vocabulary from JSON takes seconds. Here each token becomes an integer id once (one
dict lookup per token), n-grams are packed into one int64 key per n-gram for a whole batch at
a time (21 bits per token id), and keys find their column in an open-addressing hash table
(one random memory access each, mostly). One sort of the (row, column) pairs, a radix sort for
a scoring chunk, puts them in row-major order and merges repeated n-grams, so the dot product
sums each review's weights in column order whatever the batch: a review scores the same alone or
in any batch, bit for bit. Features are TF-IDF-like: term frequency (raw, binary or
sublinear), times IDF, L2-normalised per review, so a one-sentence review and a 1,000-word one
score on the same scale. ``length_feature`` adds one column, 1/sqrt(distinct known n-grams),
with which a linear model can learn how short input shifts its score. ``negation_scope`` marks
the tokens that follow a negation ("not", "never", "didn't"...), up to that many and not past
"but", "and", "!" or "?", as tokens of their own: "not bad" is then "not NOT_bad", and "bad"
keeps its weight for when it is meant. ``name_min_count`` masks proper nouns (learned from the
training text's capitals, :mod:`imdb_sentiment.names`) as one shared token id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cached_property
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from imdb_sentiment import key_table, token_ids
from imdb_sentiment.key_table import KeyTable
from imdb_sentiment.names import id_remap, name_ids
from imdb_sentiment.text import strip_tags

TOKEN_BITS = 21
MAX_TOKENS = (1 << TOKEN_BITS) - 1  # id 0 means "not in the token table"
MAX_N = 3  # three 21-bit ids fill 63 bits of an int64 key
DEFAULT_TOKEN_PATTERN = r"\w+|[!?]"  # noqa: S105 (a regex, not a secret)
TF_MODES = ("raw", "binary", "sublinear")
LENGTH_FEATURE_NAME = "[1/sqrt(n-grams)]"
# A token id with this bit set is the token inside a negation's scope (ids stay below it).
NEGATED = 1 << (TOKEN_BITS - 1)
NEGATED_PREFIX = "NOT_"
NAME_TOKEN = "[name]"  # noqa: S105 (not a secret) the one token every masked name becomes (feature names only)
NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "none",
        "nor",
        "neither",
        "cannot",
        "without",
        "hardly",
        "barely",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "wont",
        "wouldnt",
        "cant",
        "couldnt",
        "shouldnt",
    ]
)
NEGATION_STOPS = frozenset(["but", "and", "however", "although", "though", "yet", "!", "?"])
# Large batches are scored this many reviews at a time: the working arrays (~330k code points)
# stay in cache. Measured as fast as 512, and 10-20 % faster than 128 or 1,024.
SCORING_CHUNK = 256


def is_negator(token: str) -> bool:
    return token in NEGATORS or token.endswith("n't")


def is_negation_stop(token: str) -> bool:
    return token in NEGATION_STOPS or token.strip("!?") == ""


def mark_negation(
    ids: np.ndarray, rows: np.ndarray, negators: np.ndarray, stops: np.ndarray, scope: int
) -> np.ndarray:
    """``ids`` with NEGATED set on the (known) tokens within ``scope`` tokens after a negator in
    the same review, stopping at a stop token; ``negators``/``stops`` are boolean per token id."""
    if scope == 0 or len(ids) == 0:
        return ids
    base = ids & (NEGATED - 1)
    negator, stop = negators[base], stops[base]
    same_row = rows[1:] == rows[:-1]
    alive, marked = negator, np.zeros(len(ids), dtype=bool)
    for _ in range(scope):
        # Scope moves one token on, within a review, and ends at a stop token or a new negator.
        alive = np.concatenate(([False], alive[:-1] & same_row)) & ~stop & ~negator
        marked |= alive
    return np.where(marked & (ids > 0), ids | NEGATED, ids)


def _ngram_keys(ids: np.ndarray, rows: np.ndarray, max_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every 1..max_n-gram of consecutive tokens within one review, as (key, row) pairs.

    A key packs the token ids high to low; n-grams of different lengths cannot collide because
    every known id is >= 1. N-grams with an unknown token (id 0) are dropped.
    """
    keys, key_rows = [ids[ids > 0]], [rows[ids > 0]]
    for n in range(2, max_n + 1):
        if len(ids) < n:
            break
        key = ids[: len(ids) - n + 1].copy()
        valid = (key > 0) & (rows[: len(rows) - n + 1] == rows[n - 1 :])
        for offset in range(1, n):
            part = ids[offset : len(ids) - n + 1 + offset]
            valid &= part > 0
            key = (key << TOKEN_BITS) | part
        keys.append(key[valid])
        key_rows.append(rows[: len(rows) - n + 1][valid])
    return np.concatenate(keys), np.concatenate(key_rows)


class NgramVectorizer(TransformerMixin, BaseEstimator):
    """Word 1..``max_n``-gram TF-IDF features with an integer-keyed vocabulary.

    Fitting keeps the n-grams seen in at least ``min_df`` training reviews and at most a
    ``max_df`` share of them, in key order (deterministic). ``tokens_`` is every training token
    (for OOV rates); ``keys_`` the sorted n-gram keys (one feature column each); ``idf_`` their
    smoothed IDF as in scikit-learn. With ``length_feature`` the last column holds
    1/sqrt(number of distinct known n-grams) of each review.
    """

    analyzer = "word"  # the loader's OOV rate looks for a word-level vectorizer

    def __init__(
        self,
        max_n: int = 2,
        min_df: int = 2,
        max_df: float = 1.0,
        tf: str = "binary",
        use_idf: bool = True,
        length_feature: bool = False,
        token_pattern: str = DEFAULT_TOKEN_PATTERN,
        preprocessor: Callable[[str], str] | None = strip_tags,
        dtype: type = np.float64,
        negation_scope: int = 0,
        name_min_count: int = 0,
        name_threshold: float = 0.9,
    ) -> None:
        self.max_n = max_n
        self.min_df = min_df
        self.max_df = max_df
        self.tf = tf
        self.use_idf = use_idf
        self.length_feature = length_feature
        self.token_pattern = token_pattern
        self.preprocessor = preprocessor
        self.dtype = dtype
        self.negation_scope = negation_scope
        self.name_min_count = name_min_count  # 0: no name masking
        self.name_threshold = name_threshold

    # --- the parts the loader's OOV rate uses (same names as scikit-learn's vectorizers)
    def build_preprocessor(self) -> Callable[[str], str]:
        return self.preprocessor or (lambda text: text)

    def build_tokenizer(self) -> Callable[[str], list[str]]:
        return re.compile(self.token_pattern).findall

    @property
    def vocabulary_(self) -> dict[str, int]:
        return self.token_ids_

    @cached_property
    def token_ids_(self) -> dict[str, int]:
        """Token -> id (1-based). Built on first use: scoring with the vectorized tokenizer never
        needs it, and building it is a sixth of loading a bundle (~0.045 s for 180k tokens)."""
        return {token: index + 1 for index, token in enumerate(self.tokens_)}

    @property
    def n_features_(self) -> int:
        return len(self.keys_) + int(self.length_feature)

    # --- fitting
    def _check(self) -> None:
        if not 1 <= self.max_n <= MAX_N:
            raise ValueError(f"max_n must be between 1 and {MAX_N}, got {self.max_n}")
        if self.tf not in TF_MODES:
            raise ValueError(f"tf must be one of {TF_MODES}, got {self.tf!r}")
        if not 0 <= self.negation_scope <= 10:
            raise ValueError(f"negation_scope must be between 0 and 10, got {self.negation_scope}")

    def _check_ids(self, n_tokens: int, masking: bool) -> None:
        # Ids must stay below the NEGATED bit; the shared name token takes the id after the table's.
        limit = (NEGATED - 1 if self.negation_scope else MAX_TOKENS) - masking
        if n_tokens > limit:
            raise ValueError(f"{n_tokens} distinct tokens exceed the {limit} id space")

    def _token_classes(self) -> tuple[np.ndarray, np.ndarray]:
        """(is negator, is stop) per token id (index 0: unknown token; last: the name token)."""
        if getattr(self, "_classes", None) is None:
            tokens = ["", *self.tokens_, NAME_TOKEN]
            stops = np.fromiter(map(is_negation_stop, tokens), dtype=bool, count=len(tokens))
            stops[0] = False  # an unknown token does not end a negation's scope
            negators = np.fromiter(map(is_negator, tokens), dtype=bool, count=len(tokens))
            self._classes = (negators, stops)
        return self._classes

    def _marked(self, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._masks_names():  # every name -> the shared name id
            ids = self._remap()[ids]
        if not self.negation_scope:
            return ids, rows
        return mark_negation(ids, rows, *self._token_classes(), self.negation_scope), rows

    def _token_lists(self, texts: Sequence[str]) -> list[list[str]]:
        preprocess, tokenize = self.build_preprocessor(), self.build_tokenizer()
        return [tokenize(preprocess(text)) for text in texts]

    def _encode(self, token_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        get = self.token_ids_.get
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        # map(get, tokens, repeat(0)) stays in C: measured ~1.4x faster than a comprehension.
        tokens = chain.from_iterable(token_lists)
        ids = np.fromiter(map(get, tokens, repeat(0)), np.int64, count=int(lengths.sum()))
        return ids, np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)

    def fit(self, texts: Sequence[str], y: object = None) -> NgramVectorizer:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: Sequence[str], y: object = None) -> sp.csr_matrix:
        self._check()
        token_lists = self._token_lists(texts)
        tokens = sorted(set(chain.from_iterable(token_lists)))
        self._check_ids(len(tokens), bool(self.name_min_count))
        self.tokens_ = tokens
        self.__dict__.pop("token_ids_", None)  # rebuilt from these tokens on first use
        self._classes = self._id_remap = None
        self.name_ids_ = name_ids(
            texts, self.token_ids_, self.token_pattern, self.name_min_count, self.name_threshold
        )
        keys, rows = _ngram_keys(*self._marked(*self._encode(token_lists)), self.max_n)
        # Document frequency: count each (review, n-gram) pair once.
        unique_keys, key_index = np.unique(keys, return_inverse=True)
        pairs, _ = key_table.sorted_unique(rows * len(unique_keys) + key_index)
        df = np.bincount(pairs % len(unique_keys), minlength=len(unique_keys))
        n_docs = len(texts)
        keep = (df >= self.min_df) & (df <= self.max_df * n_docs)
        self.keys_ = unique_keys[keep]
        self.idf_ = np.log((1 + n_docs) / (1 + df[keep])) + 1.0
        self._table = self._encoder = None
        return self._matrix(*self._cells_of_keys(keys, rows), n_docs)

    # --- inference
    def prepare(self) -> NgramVectorizer:
        """Build the lookup tables (~0.15 s); otherwise the first transform does."""
        self._check_ids(len(self.tokens_), self._masks_names())
        self._key_table()
        self._token_encoder()
        if self.negation_scope:
            self._token_classes()
        if self._masks_names():
            self._remap()
        return self

    def _masks_names(self) -> bool:
        return len(getattr(self, "name_ids_", ())) > 0  # bundles stored without masking have none

    def _remap(self) -> np.ndarray:
        if getattr(self, "_id_remap", None) is None:
            self._id_remap = id_remap(len(self.tokens_), self.name_ids_)
        return self._id_remap

    def _token_encoder(self) -> token_ids.TokenIdEncoder | None:
        """The vectorized tokenizer, for the token patterns it supports (None: use the regex)."""
        if getattr(self, "_encoder", None) is None and token_ids.supports(self.token_pattern):
            self._encoder = token_ids.TokenIdEncoder(self.tokens_, self.token_pattern)
        return getattr(self, "_encoder", None)

    def _token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(token id, row) of every token of ``texts`` in order; id 0 = not in the token table."""
        encoder = self._token_encoder()
        if encoder is None:
            return self._marked(*self._encode(self._token_lists(texts)))
        return self._marked(*encoder.encode(list(map(self.build_preprocessor(), texts))))

    def _key_table(self) -> KeyTable:
        if getattr(self, "_table", None) is None:
            self._table = KeyTable(self.keys_)
        return self._table

    def _cells(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(row, column, count) of every distinct known n-gram, in row-major order."""
        return self._cells_of_keys(*_ngram_keys(*self._token_ids(texts), self.max_n))

    def _cells_of_keys(
        self, keys: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(row, column, count) of every distinct known n-gram in row-major order (binary tf
        needs no counts: None)."""
        columns = self._key_table().columns(keys)
        known = (columns >= 0).nonzero()[0]
        column_bits = max(len(self.keys_) - 1, 1).bit_length()
        # One sort gives row-major order and merges repeats: (row, column) packed in one int64.
        cells, counts = key_table.sorted_unique(
            (rows[known] << column_bits) | columns[known], with_counts=self.tf != "binary"
        )
        return cells >> column_bits, cells & ((1 << column_bits) - 1), counts

    def _values(
        self, cell_rows: np.ndarray, columns: np.ndarray, counts: np.ndarray | None, n_docs: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature values of the cells, and each review's length-feature value."""
        if self.tf == "binary":
            data = np.ones(len(cell_rows), dtype=np.float64)
        elif self.tf == "sublinear":
            data = np.log(counts) + 1.0
        else:
            data = counts.astype(np.float64)
        if self.use_idf:
            data *= self.idf_[columns]
        # L2 norm per review, done here: sklearn's normalize() costs ~1 ms of input checks per call.
        norms = np.sqrt(np.bincount(cell_rows, weights=data * data, minlength=n_docs))
        data /= norms[cell_rows]
        distinct = np.bincount(cell_rows, minlength=n_docs)
        return data, 1.0 / np.sqrt(np.maximum(distinct, 1))

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self._matrix(*self._cells(texts), len(texts))

    def _matrix(
        self, cell_rows: np.ndarray, columns: np.ndarray, counts: np.ndarray | None, n_docs: int
    ) -> sp.csr_matrix:
        data, length = self._values(cell_rows, columns, counts, n_docs)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell_rows, minlength=n_docs), out=indptr[1:])
        if self.length_feature:  # one more entry at the end of every row
            ends = indptr[1:]
            columns = np.insert(columns, ends, len(self.keys_))
            data = np.insert(data, ends, length)
            indptr = indptr + np.arange(n_docs + 1)
        return sp.csr_matrix(
            (data.astype(self.dtype, copy=False), columns, indptr), shape=(n_docs, self.n_features_)
        )

    def linear_scores(
        self, texts: Sequence[str], coef: np.ndarray, oov_rates: np.ndarray | None = None
    ) -> np.ndarray:
        """``transform(texts) @ coef`` without building the sparse matrix: the serving fast path.

        Given ``oov_rates`` (an array as long as ``texts``), it also fills in each text's share
        of tokens missing from the token table, from the same tokenization.
        """
        scores = np.empty(len(texts), dtype=np.float64)
        for start in range(0, len(texts), SCORING_CHUNK):
            chunk = texts[start : start + SCORING_CHUNK]
            ids, rows = self._token_ids(chunk)
            if oov_rates is not None:  # (a marked token is known: only id 0 is unknown)
                tokens = np.bincount(rows, minlength=len(chunk))
                unknown = np.bincount(rows[ids == 0], minlength=len(chunk))
                oov_rates[start : start + len(chunk)] = np.divide(
                    unknown, tokens, out=np.zeros(len(chunk)), where=tokens > 0
                )
            cell_rows, columns, counts = self._cells_of_keys(*_ngram_keys(ids, rows, self.max_n))
            data, length = self._values(cell_rows, columns, counts, len(chunk))
            part = np.bincount(cell_rows, weights=data * coef[columns], minlength=len(chunk))
            part = part.astype(np.float64, copy=False)  # bincount of no cells gives int64
            if self.length_feature:
                part += length * coef[len(self.keys_)]
            scores[start : start + len(chunk)] = part
        return scores

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        tokens = np.asarray(["", *self.tokens_, NAME_TOKEN], dtype=object)
        mask = (1 << TOKEN_BITS) - 1
        names = []
        for key in self.keys_.tolist():
            parts = []
            while key:
                token_id = key & mask
                parts.append(
                    NEGATED_PREFIX + tokens[token_id & (NEGATED - 1)]
                    if self.negation_scope and token_id & NEGATED
                    else tokens[token_id]
                )
                key >>= TOKEN_BITS
            names.append(" ".join(reversed(parts)))
        if self.length_feature:
            names.append(LENGTH_FEATURE_NAME)
        return np.asarray(names, dtype=object)
