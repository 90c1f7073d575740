"""The one loader for the exported model bundle.

A bundle is a folder (local path or any fsspec URL such as ``s3://bucket/models/imdb-sentiment``)::

    manifest.json   format version, sha256 of every file, params, metrics, data hash, profile
    model.json      the inference pipeline, raw review text -> probability (see model_format)
    *.npy, *.json   its vocabularies, IDF weights and coefficients

Loading checks the manifest's format version and every file's sha256 *before* it parses any of
them, and the model format holds only JSON and plain arrays: no pickle, no code named by a file.
The API, the batch flow and MLflow promotion all load through :func:`load_bundle` (registry URIs
through :func:`imdb_sentiment.registry.load_bundle`, which resolves them and then calls it); none
of them imports training code.
"""

from __future__ import annotations

from pathlib import Path

from imdb_sentiment.bundle.manifest import (
    BUNDLE_FORMAT_VERSION,
    CHECKED_LIBRARIES,
    MANIFEST_NAME,
    BundleError,
    library_versions,
    read_file,
    read_manifest,
    verified_files,
    warn_on_library_drift,
)
from imdb_sentiment.bundle.model import LABELS, Contribution, Explanation, SentimentModel
from imdb_sentiment.bundle.parallel import PARALLEL_MIN_BATCH
from imdb_sentiment.integrity import PinError, sha256_bytes, sha256_file, verify_pin
from imdb_sentiment.model_format import MODEL_SPEC, ModelFormatError, load_model

__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "CHECKED_LIBRARIES",
    "LABELS",
    "MANIFEST_NAME",
    "PARALLEL_MIN_BATCH",
    "BundleError",
    "Contribution",
    "Explanation",
    "SentimentModel",
    "library_versions",
    "load_bundle",
    "read_manifest",
    "sha256_bytes",
    "sha256_file",
]


def load_bundle(
    location: str | Path,
    scoring_workers: int = 1,
    expected_hash: str | None = None,
    *,
    source: str | None = None,
) -> SentimentModel:
    """Verify a bundle against its manifest, then load it. Raises BundleError on any problem.

    ``location`` is a folder or an fsspec URL (s3://...); registry URIs (models:/...) are
    resolved by :func:`imdb_sentiment.registry.load_bundle`, which then calls this.
    ``scoring_workers`` > 1 scores large batches in that many processes (see
    ``Settings.scoring_workers``); single reviews are always scored in-process.
    ``expected_hash`` (default: IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH when ``source`` is
    IMDB_SENTIMENT_MODEL) is DVC's hash of the folder as dvc.lock records it: any other is refused.
    ``source`` is the location the user gave (default: ``location``), kept as ``model.source``.
    """
    if not isinstance(scoring_workers, int) or scoring_workers < 1:
        raise ValueError(f"scoring_workers must be a positive integer, got {scoring_workers!r}")
    base = str(location).rstrip("/")
    if base.startswith("models:/"):
        raise BundleError(
            f"{base} is a registry URI: load it with imdb_sentiment.registry.load_bundle"
        )
    source = base if source is None else source
    manifest = read_manifest(base)
    files = manifest["files"]
    if not isinstance(files, dict) or MODEL_SPEC not in files:
        raise BundleError(f"{base}/{MANIFEST_NAME} does not list {MODEL_SPEC}")
    payloads = verified_files(base, manifest)
    try:  # DVC's hash covers the manifest's bytes too
        verify_pin(
            source,
            lambda: {**payloads, MANIFEST_NAME: read_file(f"{base}/{MANIFEST_NAME}")},
            expected_hash,
        )
    except PinError as error:
        raise BundleError(str(error)) from error
    warn_on_library_drift(manifest, base)
    try:
        pipeline = load_model(payloads)
    except ModelFormatError as error:
        raise BundleError(f"{base}: {error}") from error
    return SentimentModel(
        pipeline=pipeline, manifest=manifest, source=source, scoring_workers=scoring_workers
    )
