"""Featurize: turn review text into TF-IDF n-gram features, fitted on the training split only."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from imdb_sentiment.model_format import dump_features, files_with_spec, load_features, read_spec
from imdb_sentiment.ngrams import NgramVectorizer
from imdb_sentiment.text import clean_review, strip_tags
from imdb_sentiment.training.io import read_files, write_files
from imdb_sentiment.training.params import FeaturizeParams

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Vectorizer = TfidfVectorizer | NgramVectorizer


def build_vectorizer(params: FeaturizeParams) -> Vectorizer:
    if params.vectorizer == "ngram":
        tf = "binary" if params.binary else "sublinear" if params.sublinear_tf else "raw"
        return NgramVectorizer(
            max_n=params.ngram_range[1],
            min_df=params.min_df,
            max_df=params.max_df,
            tf=tf,
            length_feature=params.length_feature,
            negation_scope=params.negation_scope,
            name_min_count=params.name_masking.min_count,
            name_threshold=params.name_masking.threshold,
            token_pattern=params.token_pattern,
            preprocessor=strip_tags,
        )
    return TfidfVectorizer(
        preprocessor=clean_review,
        ngram_range=params.ngram_range,
        min_df=params.min_df,
        max_df=params.max_df,
        max_features=params.max_features,
        sublinear_tf=params.sublinear_tf,
        binary=params.binary,
    )


def fit_transform(vectorizer: Vectorizer, texts: list[str]) -> sp.csr_matrix:
    """Fit on the training texts and return their features.

    ``stop_words_`` (every n-gram that min_df/max_df pruned) is only there for introspection and
    would make the exported model several times larger, so it is dropped.
    """
    matrix = vectorizer.fit_transform(texts)
    if isinstance(vectorizer, TfidfVectorizer):
        vectorizer.stop_words_ = None
    return matrix


def short_reviews(frame: pd.DataFrame, min_words: int) -> pd.DataFrame:
    """The first and the last sentence of each review, labelled with the review's label.

    What people type into the API is often one sentence; a model tuned on 230-word reviews
    can be biased on those, and this set shows it.
    """
    texts, labels, ids = [], [], []
    for review_id, label, text in frame[["review_id", "label", "text"]].itertuples(index=False):
        sentences = [
            s for s in _SENTENCE_END.split(clean_review(text)) if len(s.split()) >= min_words
        ]
        for sentence in dict.fromkeys(sentences[:1] + sentences[-1:]):
            texts.append(sentence)
            labels.append(label)
            ids.append(review_id)
    return pd.DataFrame({"review_id": ids, "label": labels, "text": texts})


SPEC = "features.json"


def save_vectorizer(vectorizer: Vectorizer, directory: Path) -> None:
    """Store the fitted vectorizer in the bundle's own format (byte-stable, no pickle)."""
    spec, files = dump_features(vectorizer)
    write_files(directory, files_with_spec(SPEC, spec, files))


def load_vectorizer(directory: Path) -> Vectorizer:
    files = read_files(directory)
    return load_features(read_spec(SPEC, files), files)
