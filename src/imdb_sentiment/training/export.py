"""Export: compose the fitted vectorizer and classifier into one bundle that serving can trust.

The bundle is verified through the same loader serving uses before it replaces the previous one:
it must load, and on raw validation text it must reproduce the probabilities the evaluate stage
measured from precomputed features (so training/serving skew cannot sneak in).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from imdb_sentiment import __version__
from imdb_sentiment.bundle import (
    BUNDLE_FORMAT_VERSION,
    LABELS,
    MANIFEST_NAME,
    library_versions,
    load_bundle,
    sha256_bytes,
)
from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.files import replace_dir
from imdb_sentiment.model_format import dump_model
from imdb_sentiment.profile import build_profile
from imdb_sentiment.training.io import write_json

# Raw-text and feature-matrix scoring agree to float rounding; anything larger is skew.
PARITY_TOLERANCE = 1e-9


class ExportError(ImdbSentimentError, RuntimeError):
    """The composed bundle does not behave like the model that was evaluated."""


def compose(vectorizer: Any, classifier: Any) -> Pipeline:
    return Pipeline([("features", vectorizer), ("classifier", classifier)])


def export_bundle(
    pipeline: Pipeline,
    output: Path,
    *,
    name: str,
    threshold: float,
    params: dict[str, Any],
    metrics: dict[str, Any],
    data: dict[str, Any],
    reference_texts: list[str],
    reference_probabilities: np.ndarray,
    parity_sample: int,
    profile_probabilities: np.ndarray | None = None,
    not_sure: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Write ``output/`` (manifest.json + model files) atomically and return the manifest.

    ``reference_probabilities`` are the exported model's probabilities for ``reference_texts``
    (validation reviews), computed from the stored feature matrix. ``profile_probabilities``
    (default: the bundle's own scores) go into the drift reference profile: when the exported
    model was refitted on those reviews, pass the scores of a model that never saw them.
    ``not_sure`` ({"low": ..., "high": ...}) is the band of probabilities in which a client should
    answer "not sure" rather than a label (chosen on validation by the evaluate stage).
    """
    model_files = dump_model(pipeline)
    listing = {
        file_name: {"sha256": sha256_bytes(data), "bytes": len(data)}
        for file_name, data in sorted(model_files.items())
    }
    # Content-addressed: the same model always gets the same version, on any machine.
    version = hashlib.sha256(
        "".join(f"{n}:{e['sha256']}\n" for n, e in listing.items()).encode()
    ).hexdigest()[:12]
    manifest: dict[str, Any] = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "name": name,
        "version": version,
        "labels": list(LABELS),
        "threshold": threshold,
        **({"not_sure": not_sure} if not_sure is not None else {}),
        "files": listing,
        "params": params,
        "metrics": metrics,
        "data": data,
        "libraries": {"python": platform.python_version(), **library_versions()},
        "exported_by": f"imdb-sentiment {__version__}",
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for file_name, data in model_files.items():
            (staging / file_name).write_bytes(data)
        write_json(staging / MANIFEST_NAME, manifest)
        model = load_bundle(staging)
        probabilities = model.predict_proba(reference_texts)
        check = slice(0, parity_sample)
        gap = float(
            np.max(np.abs(probabilities[check] - reference_probabilities[check]), initial=0.0)
        )
        if gap > PARITY_TOLERANCE:
            raise ExportError(
                f"the bundle scores raw text differently from the evaluated model (max gap {gap:.3g})"
            )
        manifest["reference_profile"] = build_profile(
            reference_texts,
            probabilities if profile_probabilities is None else profile_probabilities,
            model.oov_rates(reference_texts),
            threshold,
        )
        write_json(staging / MANIFEST_NAME, manifest)
        load_bundle(staging)
        staging.chmod(0o755)  # mkdtemp makes 0700
        replace_dir(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
