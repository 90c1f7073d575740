"""The MLflow model registry, seen from serving: resolve, fetch and promote registered bundles.

A registered version of ``imdb-sentiment`` is an MLflow pyfunc model whose one artifact is the
exported bundle folder (manifest.json + model files). :func:`load_bundle` is the loader for
callers that take a model location from the user: a registry URI
(``models:/imdb-sentiment@champion``) goes through :func:`fetch_registered_bundle` to a local
cache, and the folder is then verified and loaded by :func:`imdb_sentiment.bundle.load_bundle`
exactly like a local bundle; any other location goes straight to that loader. Promotion moves
the ``champion`` alias (MLflow stages are deprecated) and compares validation metrics only.

This module imports no training code, and mlflow only inside the functions that need it (the
import costs seconds).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdb_sentiment import bundle
from imdb_sentiment.bundle import MANIFEST_NAME, BundleError, SentimentModel
from imdb_sentiment.integrity import sha256_file
from imdb_sentiment.settings import Settings

REGISTRY_SCHEME = "models:/"
CANDIDATE_ALIAS = "candidate"
CHAMPION_ALIAS = "champion"
# Model version tags written at registration (see imdb_sentiment.tracking).
BUNDLE_VERSION_TAG = "bundle_version"
MANIFEST_SHA256_TAG = "manifest_sha256"
VALIDATION_KEY_TAG = "validation_key"
VAL_METRIC_PREFIX = "val."
# A dead team server must cost seconds, not minutes of retries; no progress bars in stage logs.
# Users can still override any of them in the environment.
MLFLOW_DEFAULTS = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
# Metrics where a smaller value is the better model; every other metric is "higher is better".
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})
PROMOTION_METRICS = (
    frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"}) | LOWER_IS_BETTER
)
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class RegistryError(BundleError):
    """The registry cannot give what was asked (unknown model/alias, server unreachable, ...)."""


def load_bundle(
    location: str | Path, scoring_workers: int = 1, expected_hash: str | None = None
) -> SentimentModel:
    """Load a bundle from a folder, an fsspec URL or a registry URI (models:/name@alias,
    models:/name/version). Raises BundleError (RegistryError for the registry) on any problem.

    A registry URI is first downloaded to a local cache; the rest, including the arguments, is
    :func:`imdb_sentiment.bundle.load_bundle`, and the model's ``source`` is ``location``.
    """
    source = str(location).rstrip("/")
    folder = fetch_registered_bundle(source) if source.startswith(REGISTRY_SCHEME) else source
    return bundle.load_bundle(folder, scoring_workers, expected_hash, source=source)


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else the project's SQLite store (DVC_ROOT when DVC runs the stage).

    DVC sets DVC_ROOT to the main repository even for queued/temp experiments that run in a copy
    under .dvc/tmp/exps, so every experiment of a project lands in the same local store.
    """
    explicit = os.environ.get("MLFLOW_TRACKING_URI")
    if explicit:
        return explicit
    root = Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()
    return f"sqlite:///{root / 'mlflow.db'}"


def mlflow_module() -> Any:
    """Import mlflow configured for this project: tracking URI and short HTTP timeouts."""
    for key, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(key, value)
    import mlflow

    exported = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri())
    # set_tracking_uri also exports the URI to os.environ for child processes; undo that, or the
    # project default (which follows the working directory / DVC_ROOT) would stick to the first
    # project this process touched and leak into every `dvc` or stage it starts later.
    if exported is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = exported
    return mlflow


def parse_registry_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/name@alias`` or ``models:/name/3`` -> (name, alias, version)."""
    match = _URI.match(uri)
    if not match:
        raise RegistryError(
            f"{uri!r} is not a registry URI: use models:/<name>@<alias> or models:/<name>/<version>"
        )
    return match["name"], match["alias"], match["version"]


def _model_version(client: Any, name: str, alias: str | None, version: str | None) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, version)
    except MlflowException as error:
        wanted = f"alias {alias!r}" if alias is not None else f"version {version}"
        raise RegistryError(
            f"registered model {name!r} has no {wanted} at {tracking_uri()}: {error.message}"
        ) from error


def _bundle_folder(model_dir: Path) -> Path:
    """Where the pyfunc model keeps the bundle, as its MLmodel file records it: a relative path
    that must stay inside the model folder (no absolute path, no ``..``, no symlink out)."""
    import yaml  # an mlflow dependency

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    try:
        subpath = mlmodel["flavors"]["python_function"]["artifacts"]["bundle"]["path"]
    except (KeyError, TypeError) as error:
        raise RegistryError(f"{model_dir}/MLmodel does not name a bundle artifact") from error
    root = model_dir.resolve()
    folder = (root / str(subpath)).resolve()
    if (
        Path(str(subpath)).is_absolute()
        or ".." in Path(str(subpath)).parts
        or root not in (folder.parents)
    ):
        raise RegistryError(
            f"{model_dir}/MLmodel puts the bundle at {subpath!r}, outside the model folder"
        )
    return folder


def fetch_registered_bundle(uri: str, cache_dir: Path | None = None) -> Path:
    """Download the bundle of a registered model version (once) and return its local folder.

    The cache is keyed by tracking server, model name and version number; the caller
    (``load_bundle``) verifies every file's sha256 against the manifest on each load, and the
    manifest's own sha256 must equal the one recorded when the version was registered.
    """
    name, alias, number = parse_registry_uri(uri)
    mlflow = mlflow_module()
    try:
        model_version = _model_version(mlflow.MlflowClient(), name, alias, number)
    except RegistryError:
        raise
    except Exception as error:  # connection refused, timeouts, bad credentials ...
        raise RegistryError(
            f"cannot reach the model registry at {tracking_uri()}: {error}"
        ) from error
    expected = model_version.tags.get(MANIFEST_SHA256_TAG)
    if not expected:
        raise RegistryError(
            f"{uri} (version {model_version.version}) has no {MANIFEST_SHA256_TAG} tag, so "
            "nothing ties its files to what was registered; refusing to load it"
        )
    server = hashlib.sha256(tracking_uri().encode()).hexdigest()[:12]
    root = Path(cache_dir or Settings().registry_cache) / server / name
    target = root / str(model_version.version)
    if not (target / MANIFEST_NAME).exists():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
        try:
            model_dir = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{model_version.version}", dst_path=str(staging)
                )
            )
            bundle = _bundle_folder(model_dir)
            if not (bundle / MANIFEST_NAME).exists():
                raise RegistryError(f"{uri} (version {model_version.version}) holds no bundle")
            if target.exists() and not (target / MANIFEST_NAME).exists():
                shutil.rmtree(target, ignore_errors=True)  # a leftover without a manifest
            try:
                bundle.rename(target)
            except OSError:
                # Another process finished the same download first; its copy is as good.
                if not (target / MANIFEST_NAME).exists():
                    raise
        except RegistryError:
            raise
        except Exception as error:
            raise RegistryError(f"cannot download {uri}: {error}") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    # The manifest holds every file's sha256, so matching it to the tag recorded at registration
    # ties the cached files to the registered version (load_bundle then checks the files).
    actual = sha256_file(target / MANIFEST_NAME)
    if actual != expected:
        raise RegistryError(
            f"{uri}: the manifest in {target} has sha256 {actual} but version "
            f"{model_version.version} was registered with {expected}; refusing to load it"
        )
    return target


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    candidate: str | None = None
    champion: str | None = None


def _metric_name(metric: str) -> str:
    """Accept ``roc_auc`` or ``val.roc_auc``; refuse test metrics and unknown names."""
    split, _, name = metric.rpartition(".")
    if split not in ("", "val") or name not in PROMOTION_METRICS:
        if split == "test" or metric.startswith("test"):
            raise RegistryError(
                f"refusing to promote on {metric!r}: the test split is for the final report, "
                "never for choosing a model; use a validation metric"
            )
        raise RegistryError(
            f"unknown promotion metric {metric!r}: choose one of {sorted(PROMOTION_METRICS)}"
        )
    return name


def _val_metric(version: Any, name: str) -> float:
    value = version.tags.get(f"{VAL_METRIC_PREFIX}{name}")
    if value is None:
        raise RegistryError(
            f"version {version.version} of {version.name} records no validation {name}"
        )
    return float(value)


def promote(
    name: str,
    metric: str = "roc_auc",
    min_improvement: float = 0.001,
    allow_different_validation: bool = False,
    evidence: Callable[[str, str, str], tuple[bool, str]] | None = None,
) -> Decision:
    """Move the champion alias to the candidate if it beats the champion by ``min_improvement``
    and, when given, ``evidence(name, version, bundle_version)`` passes (production evidence)."""
    metric = _metric_name(metric)
    if min_improvement < 0:
        raise RegistryError("--min-improvement must be >= 0")
    mlflow = mlflow_module()
    client = mlflow.MlflowClient()
    candidate = _model_version(client, name, CANDIDATE_ALIAS, None)
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except mlflow.exceptions.MlflowException:
        champion = None
    new = _val_metric(candidate, metric)
    label = f"{name} version {candidate.version} (bundle {candidate.tags.get(BUNDLE_VERSION_TAG)})"
    if evidence is not None:
        bundle = str(candidate.tags.get(BUNDLE_VERSION_TAG))
        passed, used = evidence(name, str(candidate.version), bundle)
        if not passed:
            champion_version = None if champion is None else champion.version
            return Decision(
                False, f"not promoted: {label}: {used}", candidate.version, champion_version
            )
        note = f"\n{used}"
    else:
        note = "\nproduction evidence: none asked for (validation gate only)"
    if champion is None:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, candidate.version)
        return Decision(
            True,
            f"no champion yet: {label} becomes champion (val {metric} {new}){note}",
            candidate.version,
            None,
        )
    if champion.version == candidate.version:
        return Decision(
            False, f"{label} is already the champion", candidate.version, champion.version
        )
    if not allow_different_validation and candidate.tags.get(
        VALIDATION_KEY_TAG
    ) != champion.tags.get(VALIDATION_KEY_TAG):
        return Decision(
            False,
            f"not promoted: the candidate (version {candidate.version}) was validated on other "
            f"data or another split than the champion (version {champion.version}), so their "
            "metrics are not comparable (pass --allow-different-validation to compare anyway)",
            candidate.version,
            champion.version,
        )
    old = _val_metric(champion, metric)
    gain = (old - new) if metric in LOWER_IS_BETTER else (new - old)
    comparison = (
        f"val {metric}: candidate version {candidate.version} {new} vs champion version "
        f"{champion.version} {old} (improvement {gain:+.6f}, required {min_improvement})"
    )
    if gain >= min_improvement and gain > 0:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, candidate.version)
        return Decision(True, f"promoted: {comparison}{note}", candidate.version, champion.version)
    return Decision(False, f"not promoted: {comparison}{note}", candidate.version, champion.version)
