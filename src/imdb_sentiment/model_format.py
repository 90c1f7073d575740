"""The on-disk form of a model: TF-IDF n-gram features and a linear classifier, as JSON + .npy.

Nothing here unpickles or imports code named by a file: the JSON names one of a fixed set of
vectorizer settings and preprocessors, arrays load with ``allow_pickle=False``, and the objects
are rebuilt from public scikit-learn classes. The bytes are a pure function of the model (no
timestamps, no memory addresses), so DVC sees the same hash for the same model on any machine.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.files import npy_bytes
from imdb_sentiment.ngrams import NgramVectorizer
from imdb_sentiment.text import clean_review, strip_tags
from imdb_sentiment.token_ids import SUPPORTED_PATTERNS

MODEL_SPEC = "model.json"
# The format's name for "n-gram features -> one linear scorer -> sigmoid", stored in model.json.
# Any linear classifier fits it (the exported one is an NB-weighted linear SVM); the value stays
# "linear-tfidf" because every bundle already exported carries it.
LINEAR_MODEL_FORMAT = "linear-tfidf"
# The only preprocessors a model file may name.
PREPROCESSORS = {"clean_review": clean_review, "strip_tags": strip_tags}
# Settings of the integer-keyed n-gram vectorizer (imdb_sentiment.ngrams) that shape inference.
NGRAM_SETTINGS = ("max_n", "tf", "use_idf", "length_feature", "token_pattern", "negation_scope")
# Vectorizer settings that shape inference; fitting-only ones (min_df, max_df...) are not kept.
VECTORIZER_SETTINGS = (
    "analyzer",
    "binary",
    "lowercase",
    "ngram_range",
    "norm",
    "smooth_idf",
    "strip_accents",
    "sublinear_tf",
    "token_pattern",
    "use_idf",
)

# A model file's token pattern is compiled at load: only these, never any regex a file names
# (a crafted one could take exponential time on a review). scikit-learn's default for tfidf.
SKLEARN_TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # noqa: S105 (a regex, not a secret)
TOKEN_PATTERNS = {"ngram-ids": frozenset(SUPPORTED_PATTERNS)}
TOKEN_PATTERNS["tfidf"] = TOKEN_PATTERNS["ngram-ids"] | {SKLEARN_TOKEN_PATTERN}

Files = dict[str, bytes]


class ModelFormatError(ImdbSentimentError, ValueError):
    """The model files are not a model this code can rebuild."""


def _array(files: Files, name: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(files[name]), allow_pickle=False)
    except KeyError as error:
        raise ModelFormatError(f"model file {name} is missing") from error
    except ValueError as error:
        raise ModelFormatError(f"{name} is not a plain .npy array: {error}") from error


def _json(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode()


def _preprocessor_name(vectorizer: Any) -> str | None:
    if vectorizer.preprocessor is None:
        return None
    names = [key for key, fn in PREPROCESSORS.items() if fn is vectorizer.preprocessor]
    if not names:
        raise ModelFormatError(f"unknown preprocessor {vectorizer.preprocessor!r}")
    return names[0]


def _check_token_pattern(kind: str, pattern: Any) -> None:
    if pattern not in TOKEN_PATTERNS[kind]:
        raise ModelFormatError(
            f"token pattern {pattern!r} is not one the tokenizer supports; a {kind} model "
            f"may use {sorted(TOKEN_PATTERNS[kind])}"
        )


def _preprocessor(spec: dict[str, Any]) -> Any:
    name = spec["preprocessor"]
    if name is not None and name not in PREPROCESSORS:
        raise ModelFormatError(f"unknown preprocessor {name!r}")
    return PREPROCESSORS.get(name)


def dump_ngram_vectorizer(vectorizer: NgramVectorizer, name: str) -> tuple[dict[str, Any], Files]:
    """Token table (JSON), sorted n-gram keys and IDF (.npy): loads in milliseconds. With name
    masking, also the sorted token ids of the names (.npy); without it the files are unchanged."""
    spec = {
        "name": name,
        "kind": "ngram-ids",
        "settings": {key: getattr(vectorizer, key) for key in NGRAM_SETTINGS},
        "preprocessor": _preprocessor_name(vectorizer),
        "tokens": f"{name}.tokens.json",
        "keys": f"{name}.keys.npy",
        "idf": f"{name}.idf.npy",
    }
    files = {
        spec["tokens"]: _json(list(vectorizer.tokens_)),
        spec["keys"]: npy_bytes(vectorizer.keys_.astype(np.int64)),
        spec["idf"]: npy_bytes(vectorizer.idf_.astype(np.float64)),
    }
    name_ids = getattr(vectorizer, "name_ids_", ())
    if len(name_ids):
        spec["names"] = f"{name}.names.npy"
        files[spec["names"]] = npy_bytes(np.asarray(name_ids, dtype=np.int64))
    return spec, files


def _name_ids(spec: dict[str, Any], files: Files, n_tokens: int) -> np.ndarray:
    """The masked names' token ids; none for a model stored without name masking."""
    if spec.get("names") is None:
        return np.zeros(0, dtype=np.int64)
    ids = _array(files, spec["names"])
    if ids.dtype != np.int64 or ids.ndim != 1:
        raise ModelFormatError(f"{spec['names']} must be a 1-D array of int64 token ids")
    if len(ids) and (ids[0] < 1 or ids[-1] > n_tokens or not (ids[1:] > ids[:-1]).all()):
        raise ModelFormatError(
            f"{spec['names']} must hold distinct token ids in 1..{n_tokens}, sorted"
        )
    return ids


def load_ngram_vectorizer(spec: dict[str, Any], files: Files) -> NgramVectorizer:
    settings = dict(spec["settings"])
    unknown = set(settings) - set(NGRAM_SETTINGS)
    if unknown:
        raise ModelFormatError(f"unknown n-gram vectorizer settings {sorted(unknown)}")
    _check_token_pattern("ngram-ids", settings.get("token_pattern"))
    vectorizer = NgramVectorizer(**settings, preprocessor=_preprocessor(spec))
    try:
        vectorizer._check()
        tokens = json.loads(files[spec["tokens"]])
    except ValueError as error:
        raise ModelFormatError(f"bad n-gram vectorizer: {error}") from error
    vectorizer.tokens_ = tokens
    vectorizer.keys_ = _array(files, spec["keys"])
    vectorizer.idf_ = _array(files, spec["idf"])
    vectorizer.name_ids_ = _name_ids(spec, files, len(tokens))
    if vectorizer.keys_.dtype != np.int64:
        raise ModelFormatError(f"{spec['keys']} must hold int64 keys")
    if vectorizer.idf_.shape != vectorizer.keys_.shape:
        raise ModelFormatError(f"{spec['idf']} and {spec['keys']} differ in length")
    try:
        # The lookup tables, built now rather than on the first request. Building the n-gram
        # key table checks that the keys strictly increase.
        vectorizer.prepare()
    except ValueError as error:
        raise ModelFormatError(f"bad n-gram vectorizer ({spec['keys']}): {error}") from error
    return vectorizer


def dump_vectorizer(vectorizer: Any, name: str) -> tuple[dict[str, Any], Files]:
    """Spec and files of one fitted vectorizer; file names are prefixed with ``name``."""
    if isinstance(vectorizer, NgramVectorizer):
        return dump_ngram_vectorizer(vectorizer, name)
    if not isinstance(vectorizer, TfidfVectorizer):
        raise ModelFormatError(f"cannot store a {type(vectorizer).__name__}, only TfidfVectorizer")
    if vectorizer.tokenizer is not None or vectorizer.stop_words is not None:
        raise ModelFormatError("custom tokenizers and stop-word lists are not part of the format")
    preprocessor = _preprocessor_name(vectorizer)
    terms = vectorizer.get_feature_names_out().tolist()
    settings = {key: getattr(vectorizer, key) for key in VECTORIZER_SETTINGS}
    settings["ngram_range"] = list(settings["ngram_range"])
    spec = {
        "name": name,
        "settings": settings,
        "preprocessor": preprocessor,
        "vocabulary": f"{name}.vocabulary.json",
        "idf": f"{name}.idf.npy" if vectorizer.use_idf else None,
    }
    files = {spec["vocabulary"]: _json(terms)}
    if vectorizer.use_idf:
        files[spec["idf"]] = npy_bytes(vectorizer.idf_)
    return spec, files


def load_vectorizer(spec: dict[str, Any], files: Files) -> TfidfVectorizer | NgramVectorizer:
    kind = spec.get("kind", "tfidf")
    if kind == "ngram-ids":
        return load_ngram_vectorizer(spec, files)
    if kind != "tfidf":
        raise ModelFormatError(f"unknown vectorizer kind {kind!r}")
    try:
        settings = dict(spec["settings"])
        unknown = set(settings) - set(VECTORIZER_SETTINGS)
        if unknown:
            raise ModelFormatError(f"unknown vectorizer settings {sorted(unknown)}")
        _check_token_pattern("tfidf", settings.get("token_pattern", SKLEARN_TOKEN_PATTERN))
        settings["ngram_range"] = tuple(settings["ngram_range"])
        preprocessor = _preprocessor(spec)
        terms = json.loads(files[spec["vocabulary"]])
        vectorizer = TfidfVectorizer(**settings, vocabulary=terms, preprocessor=preprocessor)
        if spec["idf"] is not None:
            vectorizer.idf_ = _array(files, spec["idf"])
    except (KeyError, TypeError) as error:
        raise ModelFormatError(f"malformed vectorizer spec: {error!r}") from error
    return vectorizer


def dump_classifier(classifier: Any) -> tuple[dict[str, Any], Files]:
    """Any fitted binary linear classifier with a logistic link (LogisticRegression, SGD log-loss)."""
    coef = np.asarray(classifier.coef_, dtype=np.float64)
    if coef.ndim != 2 or coef.shape[0] != 1 or list(classifier.classes_) != [0, 1]:
        raise ModelFormatError("only binary linear classifiers with classes [0, 1] are supported")
    spec = {
        "kind": "logistic",
        "coef": "classifier.coef.npy",
        "intercept": float(np.asarray(classifier.intercept_).ravel()[0]),
    }
    return spec, {spec["coef"]: npy_bytes(coef)}


def load_classifier(spec: dict[str, Any], files: Files) -> LogisticRegression:
    if spec.get("kind") != "logistic":
        raise ModelFormatError(f"unknown classifier kind {spec.get('kind')!r}")
    return logistic_classifier(_array(files, spec["coef"]), float(spec["intercept"]))


def logistic_classifier(coef: np.ndarray, intercept: float) -> LogisticRegression:
    """A fitted binary LogisticRegression with these weights, whichever learner produced them.

    Its predict_proba is sigmoid(X @ coef + intercept): setting the fitted attributes rebuilds
    the model exactly.
    """
    classifier = LogisticRegression()
    classifier.coef_ = np.asarray(coef, dtype=np.float64).reshape(1, -1)
    classifier.intercept_ = np.array([float(intercept)])
    classifier.classes_ = np.array([0, 1])
    classifier.n_features_in_ = classifier.coef_.shape[1]
    return classifier


def dump_features(features: Any) -> tuple[dict[str, Any], Files]:
    """A fitted TfidfVectorizer, or a FeatureUnion of them, as a spec and its files."""
    union = isinstance(features, FeatureUnion)
    blocks = features.transformer_list if union else [("word", features)]
    files: Files = {}
    specs = []
    for name, vectorizer in blocks:
        spec, block_files = dump_vectorizer(vectorizer, name)
        specs.append(spec)
        files.update(block_files)
    return {"union": union, "blocks": specs}, files


def load_features(spec: dict[str, Any], files: Files) -> TfidfVectorizer | FeatureUnion:
    blocks = [(block["name"], load_vectorizer(block, files)) for block in spec["blocks"]]
    return FeatureUnion(blocks) if spec["union"] else blocks[0][1]


def feature_count(features: TfidfVectorizer | FeatureUnion) -> int:
    parts = (
        [v for _, v in features.transformer_list]
        if isinstance(features, FeatureUnion)
        else [features]
    )
    return sum(
        part.n_features_ if isinstance(part, NgramVectorizer) else len(part.vocabulary)
        for part in parts
    )


def dump_model(pipeline: Pipeline) -> Files:
    """All files of a model: ``model.json`` plus the arrays and vocabularies it names."""
    features_spec, files = dump_features(pipeline.steps[0][1])
    classifier_spec, classifier_files = dump_classifier(pipeline.steps[-1][1])
    files.update(classifier_files)
    files[MODEL_SPEC] = _json(
        {"kind": LINEAR_MODEL_FORMAT, "features": features_spec, "classifier": classifier_spec}
    )
    return files


def load_model(files: Files) -> Pipeline:
    try:
        spec = json.loads(files[MODEL_SPEC])
    except KeyError as error:
        raise ModelFormatError(f"{MODEL_SPEC} is missing") from error
    except json.JSONDecodeError as error:
        raise ModelFormatError(f"{MODEL_SPEC} is not valid JSON: {error}") from error
    if spec.get("kind") != LINEAR_MODEL_FORMAT:
        raise ModelFormatError(
            f"{MODEL_SPEC} describes a {spec.get('kind')!r} model, not {LINEAR_MODEL_FORMAT}"
        )
    try:
        features = load_features(spec["features"], files)
        classifier = load_classifier(spec["classifier"], files)
    except (KeyError, TypeError) as error:
        raise ModelFormatError(f"{MODEL_SPEC} is malformed: {error!r}") from error
    expected = feature_count(features)
    if classifier.n_features_in_ != expected:
        raise ModelFormatError(
            f"classifier expects {classifier.n_features_in_} features, vocabulary has {expected}"
        )
    return Pipeline([("features", features), ("classifier", classifier)])


def files_with_spec(spec_name: str, spec: dict[str, Any], files: Files) -> Files:
    """Bundle a spec with its files, for storing one part (features or classifier) on its own."""
    return {**files, spec_name: _json(spec)}


def read_spec(spec_name: str, files: Files) -> dict[str, Any]:
    try:
        return json.loads(files[spec_name])
    except KeyError as error:
        raise ModelFormatError(f"{spec_name} is missing") from error
