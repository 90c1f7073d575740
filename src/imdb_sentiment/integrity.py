"""Hashes that tie a bundle to its manifest and to git.

* sha256 of each file, recorded in the bundle's manifest (the bundle agrees with itself);
* DVC's md5 of the whole bundle folder, recorded in ``dvc.lock`` on the commit that produced it
  (the bundle is the one that commit reviewed). Whoever can rewrite files in a DVC remote can
  rewrite a manifest too, but not a reviewed commit on main.

DVC 3 (``hash: md5``) hashes a folder as the md5 of a JSON listing, ``json.dumps`` with sorted
keys of ``[{"md5": <file md5>, "relpath": <posix path>}, ...]`` sorted by path, plus ``.dir``
(``dvc_data.hashfile.tree.Tree.as_bytes``). :func:`tree_md5` computes exactly that.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import fsspec

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.paths import BUNDLE, DVC_LOCK

BUNDLE_OUT = BUNDLE.as_posix()
_DIR_HASH = re.compile(r"^[0-9a-f]{32}\.dir$")


class PinError(ImdbSentimentError, ValueError):
    """The bundle is not the one git pins, or the pin cannot be read."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with fsspec.open(str(path), "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def tree_md5(file_md5s: Mapping[str, str]) -> str:
    """DVC 3's hash of a folder from its files' md5s (relative posix path -> md5 hex)."""
    listing = [{"md5": file_md5s[path], "relpath": path} for path in sorted(file_md5s)]
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"  # noqa: S324 - DVC's own hash, not for security


def payload_md5(files: Mapping[str, bytes]) -> str:
    """DVC's folder hash of a folder holding exactly ``files`` (name -> content)."""
    return tree_md5({name: hashlib.md5(data).hexdigest() for name, data in files.items()})  # noqa: S324


def folder_md5(folder: str | Path) -> str:
    """DVC's hash of a local folder, every file in it included."""
    root = Path(folder)
    if not root.is_dir():
        raise PinError(f"{root} is not a folder")
    md5s = {}
    for path in root.rglob("*"):
        if path.is_file():
            digest = hashlib.md5()  # noqa: S324
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            md5s[path.relative_to(root).as_posix()] = digest.hexdigest()
    return tree_md5(md5s)


def locked_md5(out: str = BUNDLE_OUT, lock: str | Path = DVC_LOCK) -> str:
    """The md5 that ``dvc.lock`` records for the output ``out`` (a folder: ``<md5>.dir``)."""
    import yaml

    try:
        stages = (yaml.safe_load(Path(lock).read_text()) or {}).get("stages", {})
    except (OSError, yaml.YAMLError) as error:
        raise PinError(f"cannot read {lock}: {error}") from error
    for stage in stages.values():
        for entry in stage.get("outs", []):
            if entry.get("path") == out:
                value = str(entry.get("md5", ""))
                if not _DIR_HASH.match(value):
                    raise PinError(f"{lock} records {value!r} for {out}, not a folder md5")
                return value
    raise PinError(f"{lock} records no output {out}: run `make pipeline` and commit dvc.lock")


def check_expected(actual: str, expected: str, what: str) -> None:
    if actual != expected.strip():
        raise PinError(
            f"{what} has DVC hash {actual} but {expected.strip()} is expected (dvc.lock of the "
            "deployed commit): this is not the reviewed bundle; refusing to load it"
        )


def verify_pin(
    source: str, files: Callable[[], Mapping[str, bytes]], expected: str | None = None
) -> None:
    """Refuse a bundle whose DVC hash is not ``expected``, or, for the bundle
    IMDB_SENTIMENT_MODEL names, not IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH (set in the image)."""
    if expected is None:
        from imdb_sentiment.settings import Settings

        settings = Settings()
        if source.rstrip("/") == settings.model.rstrip("/"):
            expected = settings.expected_bundle_hash
    if expected:
        check_expected(payload_md5(files()), expected, f"bundle {source}")
