"""The bundle's manifest and files: read them (local path or fsspec URL) and verify them.

Every file's sha256 is checked against the manifest before anything parses it; the manifest's
format version and the library versions it records are checked too.
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fsspec

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.integrity import sha256_bytes

BUNDLE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
# Libraries whose versions must match for predictions to mean what the metrics say
# (distribution name -> module).
CHECKED_LIBRARIES = {"scikit-learn": "sklearn", "numpy": "numpy", "scipy": "scipy"}


class BundleError(ImdbSentimentError, RuntimeError):
    """The bundle is missing, tampered with or incompatible with this code."""


def library_versions() -> dict[str, str]:
    # From the imported modules: importlib.metadata scans every installed distribution, ~16 ms
    # of a fresh process's bundle load.
    return {
        name: importlib.import_module(module).__version__
        for name, module in CHECKED_LIBRARIES.items()
    }


def read_file(url: str) -> bytes:
    try:
        with fsspec.open(url, "rb") as handle:
            return handle.read()
    except FileNotFoundError as error:
        raise BundleError(f"bundle file {url} does not exist") from error


def read_manifest(location: str | Path) -> dict[str, Any]:
    url = f"{str(location).rstrip('/')}/{MANIFEST_NAME}"
    try:
        with fsspec.open(url, "rb") as handle:
            manifest = json.loads(handle.read())
    except FileNotFoundError as error:
        raise BundleError(f"no model bundle at {location}: {MANIFEST_NAME} is missing") from error
    except json.JSONDecodeError as error:
        raise BundleError(f"{url} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict):
        raise BundleError(f"{url} must hold a JSON object")
    version = manifest.get("format_version")
    if version != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{url} has bundle format version {version!r}; this code reads version "
            f"{BUNDLE_FORMAT_VERSION}: re-export the model or upgrade imdb-sentiment"
        )
    for key in ("name", "version", "files"):
        if key not in manifest:
            raise BundleError(f"{url} lacks the required field {key!r}")
    return manifest


def verified_files(base: str, manifest: Mapping[str, Any]) -> dict[str, bytes]:
    """The bytes of every file the manifest lists, each checked against its sha256."""
    files = manifest["files"]
    payloads = {}
    for name, entry in files.items():
        if "/" in name or name.startswith("."):
            raise BundleError(f"{base}/{MANIFEST_NAME} lists a file outside the bundle: {name!r}")
        data = read_file(f"{base}/{name}")
        if sha256_bytes(data) != entry.get("sha256"):
            raise BundleError(
                f"{base}/{name} does not match the sha256 in its manifest: the bundle was "
                "modified or is incomplete; refusing to load it"
            )
        payloads[name] = data
    return payloads


def warn_on_library_drift(manifest: dict[str, Any], base: str) -> None:
    recorded = manifest.get("libraries", {})
    installed = library_versions()
    drift = {
        name: (recorded[name], installed[name])
        for name in CHECKED_LIBRARIES
        if name in recorded and recorded[name] != installed[name]
    }
    if drift:
        details = ", ".join(f"{name} {was} -> {now}" for name, (was, now) in drift.items())
        warnings.warn(
            f"{base} was exported with other library versions ({details}); "
            "predictions may differ from the recorded metrics",
            stacklevel=3,
        )
