"""MLflow tracking for the pipeline stages: runs, DVC lineage tags and model registration.

DVC stays the source of truth: the stages write their outputs and metrics exactly as before and
MLflow only receives copies. Nothing here writes into a DVC output, and git revision, wall-clock
times and run ids live only in MLflow, so dvc.lock stays byte-reproducible.

One MLflow run per trained model and configuration: train, evaluate and export each find the run
whose ``run_key`` tag matches theirs (a hash of the classifier's files, every param, the git
revision and the DVC experiment name) and add to it, so a run in the UI holds the params, the
training and evaluation metrics, the plots and the registered model of one DVC state.

An unreachable tracking server never fails a stage unless IMDB_SENTIMENT_STRICT_TRACKING=1:
the stage logs a warning and carries on (its metrics are in DVC anyway).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from imdb_sentiment import __version__
from imdb_sentiment.bundle import MANIFEST_NAME
from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.paths import (
    CLASSIFIER,
    DVC_LOCK,
    FEATURES,
    PARAMS_FILE,
    RAW_REVIEWS,
    SPLITS,
)
from imdb_sentiment.registry import (
    BUNDLE_VERSION_TAG,
    CANDIDATE_ALIAS,
    MANIFEST_SHA256_TAG,
    VAL_METRIC_PREFIX,
    VALIDATION_KEY_TAG,
    mlflow_module,
    tracking_uri,
)
from imdb_sentiment.settings import Settings

logger = logging.getLogger(__name__)

# The pipeline outputs that identify the data a run used, as recorded in dvc.lock.
LINEAGE_OUTPUTS = tuple(path.as_posix() for path in (RAW_REVIEWS, SPLITS, FEATURES, CLASSIFIER))
RUN_KEY_TAG = "run_key"
HEALTH_TIMEOUT_SECONDS = 5
T = TypeVar("T")


class TrackingError(ImdbSentimentError, RuntimeError):
    """MLflow tracking failed and IMDB_SENTIMENT_STRICT_TRACKING asks for that to be fatal."""


def guarded(action: str, work: Callable[[], T]) -> T | None:
    """Run ``work`` unless tracking is off; on failure warn and continue, or raise when strict."""
    settings = Settings()
    if not settings.tracking:
        return None
    try:
        _check_reachable(tracking_uri())
        return work()
    except Exception as error:
        if settings.strict_tracking:
            raise TrackingError(f"MLflow {action} failed at {tracking_uri()}: {error}") from error
        logger.warning(
            "MLflow %s skipped: %s (tracking URI %s). The stage continues and its outputs and "
            "metrics are in DVC; set IMDB_SENTIMENT_STRICT_TRACKING=1 to make this fatal.",
            action,
            error,
            tracking_uri(),
        )
        return None


def _check_reachable(uri: str) -> None:
    """Fail within seconds if an HTTP tracking server is down, instead of retrying for minutes."""
    if not uri.startswith(("http://", "https://")):
        return
    health = f"{uri.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(health, timeout=HEALTH_TIMEOUT_SECONDS):  # noqa: S310 - http(s)
            return
    except urllib.error.HTTPError:
        return  # it answered: let the real calls report what is wrong (auth, ...)
    except OSError as error:
        raise ConnectionError(f"tracking server {uri} is unreachable ({error})") from error


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def git_revision() -> str | None:
    # A DVC experiment runs on a temporary commit; its baseline is the revision users know.
    return os.environ.get("DVC_EXP_BASELINE_REV") or _git("rev-parse", "HEAD")


def dvc_lock_hashes(path: Path = DVC_LOCK) -> dict[str, str]:
    """md5 of the pipeline outputs a run used, from dvc.lock, when DVC is running this stage.

    DVC writes each stage's lock entry as soon as the stage finishes, so upstream entries describe
    the data in the workspace now. Outside DVC (a stage run by hand) dvc.lock may be stale, so
    nothing is recorded then.
    """
    current = os.environ.get("DVC_STAGE")
    if not current or not path.exists():
        return {}
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    hashes = {}
    for name, entry in stages.items():
        if name == current:
            continue
        for out in entry.get("outs", []):
            if out.get("path") in LINEAGE_OUTPUTS and "md5" in out:
                hashes[out["path"]] = out["md5"]
    return hashes


def _files_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(directory)}\n".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def lineage() -> dict[str, Any]:
    """Everything that ties a run to one DVC state, plus the key that names that state."""
    params = yaml.safe_load(PARAMS_FILE.read_text()) if PARAMS_FILE.exists() else {}
    classifier = _files_digest(CLASSIFIER) if CLASSIFIER.is_dir() else None
    revision = git_revision()
    changes = _git("status", "--porcelain", "--untracked-files=no")
    experiment = os.environ.get("DVC_EXP_NAME")
    key_source = {"params": params, "classifier": classifier, "git": revision, "exp": experiment}
    key = hashlib.sha256(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:16]
    tags = {
        RUN_KEY_TAG: key,
        "git.revision": revision or "unknown",
        "git.dirty": "unknown" if changes is None else str(bool(changes)).lower(),
        "dvc.exp_name": experiment or "",
        "classifier.sha256": classifier or "",
        "imdb_sentiment.version": __version__,
        **{f"dvc.lock.{path}": md5 for path, md5 in dvc_lock_hashes().items()},
    }
    return {"key": key, "params": params, "tags": tags, "experiment": experiment, "git": revision}


def _start_run(mlflow: Any, info: dict[str, Any]) -> Any:
    """Resume the run of this DVC state, or start it."""
    experiment = mlflow.set_experiment(Settings().mlflow_experiment)
    found = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.{RUN_KEY_TAG} = '{info['key']}'",
        max_results=1,
        output_format="list",
    )
    if found:
        return mlflow.start_run(run_id=found[0].info.run_id)
    label = info["experiment"] or "workspace"
    name = f"{label}@{(info['git'] or 'nogit')[:7]}-{info['key'][:6]}"
    return mlflow.start_run(run_name=name)


def _log_common(mlflow: Any, info: dict[str, Any]) -> None:
    mlflow.set_tags(info["tags"])
    logged = mlflow.active_run().data.params
    fresh = {k: v for k, v in _flatten(info["params"]) if k not in logged}
    # Same run key => same params, so values logged earlier never conflict.
    for start in range(0, len(fresh), 100):
        chunk = dict(list(fresh.items())[start : start + 100])
        mlflow.log_params(
            {k: json.dumps(v) if isinstance(v, list) else v for k, v in chunk.items()}
        )
    for file in (PARAMS_FILE, DVC_LOCK):
        if file.exists():
            mlflow.log_artifact(str(file), artifact_path="dvc")


def log_stage(
    stage: str,
    metrics: Mapping[str, Path] | None = None,
    artifacts: tuple[Path, ...] = (),
) -> str | None:
    """Log this stage to its run: all params, lineage tags, metrics files and artifacts.

    ``metrics`` maps a name prefix to a DVC metrics JSON file ({"fit": metrics/train/metrics.json}
    logs ``fit.val.accuracy``; an empty prefix logs ``val.accuracy``). Returns the run id.
    """

    def work() -> str:
        mlflow = mlflow_module()
        info = lineage()
        with _start_run(mlflow, info) as run:
            _log_common(mlflow, info)
            mlflow.set_tag(f"stage.{stage}", "done")
            values = {}
            for prefix, path in (metrics or {}).items():
                for name, value in _flatten(json.loads(Path(path).read_text())):
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        values[f"{prefix}.{name}" if prefix else name] = float(value)
            if values:
                mlflow.log_metrics(values)
            for path in artifacts:
                if Path(path).is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=f"{stage}/{Path(path).name}")
                elif Path(path).exists():
                    mlflow.log_artifact(str(path), artifact_path=stage)
            return run.info.run_id

    return guarded(f"logging of stage {stage}", work)


def validation_key(manifest: Mapping[str, Any]) -> str:
    """Same key <=> same validation reviews: same raw data and same split params."""
    source = {
        "reviews": manifest.get("data", {}).get("reviews_sha256"),
        "split": manifest.get("params", {}).get("split"),
    }
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]


def _version_tags(manifest: Mapping[str, Any], manifest_sha256: str, info: dict) -> dict[str, str]:
    metrics = manifest.get("metrics", {})
    tags = {
        BUNDLE_VERSION_TAG: str(manifest["version"]),
        MANIFEST_SHA256_TAG: manifest_sha256,
        VALIDATION_KEY_TAG: validation_key(manifest),
        "threshold": str(manifest.get("threshold")),
        "git.revision": info["git"] or "unknown",
        "dvc.exp_name": info["experiment"] or "",
    }
    for split in ("val", "test"):  # test is recorded for the report; promotion never reads it
        for name, value in metrics.get(split, {}).items():
            prefix = VAL_METRIC_PREFIX if split == "val" else "test."
            tags[f"{prefix}{name}"] = str(value)
    return tags


def register_bundle(bundle_dir: Path) -> str | None:
    """Register the exported bundle as a new version of its model with alias ``candidate``.

    A bundle whose manifest is already registered (an unchanged re-export) gets no duplicate
    version: the alias moves to the existing one. Returns the version number.
    """

    def work() -> str:
        mlflow = mlflow_module()
        manifest_bytes = (bundle_dir / MANIFEST_NAME).read_bytes()
        manifest = json.loads(manifest_bytes)
        manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
        name = manifest["name"]
        client = mlflow.MlflowClient()
        info = lineage()
        existing = [
            version
            for version in client.search_model_versions(f"name = '{name}'")
            if version.tags.get(MANIFEST_SHA256_TAG) == manifest_sha256
        ]
        if existing:
            number = str(existing[0].version)
            logger.info("%s bundle %s is already version %s", name, manifest["version"], number)
        else:
            number = _log_registered_model(mlflow, client, bundle_dir, manifest, info)
            for key, value in _version_tags(manifest, manifest_sha256, info).items():
                client.set_model_version_tag(name, number, key, value)
        client.set_registered_model_alias(name, CANDIDATE_ALIAS, number)
        print(f"registered {name} bundle {manifest['version']} as version {number} @candidate")
        return number

    return guarded("model registration", work)


# What the registered model needs to load and score with nothing of this project installed: its
# code travels in the model (code_paths), these distributions come from PyPI at the installed
# (uv.lock) versions.
SERVING_DISTRIBUTIONS = (
    "mlflow",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "fsspec",
    "pydantic",
    "pydantic-settings",
)
EXAMPLE_REVIEW = "A wonderful, moving film with superb acting."


def serving_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in SERVING_DISTRIBUTIONS]


def _log_registered_model(
    mlflow: Any, client: Any, bundle_dir: Path, manifest: dict, info: dict
) -> str:
    import numpy as np
    import pandas as pd

    from imdb_sentiment import mlflow_model

    val = manifest.get("metrics", {}).get("val", {})
    example = pd.DataFrame({"text": [EXAMPLE_REVIEW]})
    signature = mlflow.models.infer_signature(example, np.array([0.5]))  # text -> P(positive)
    with _start_run(mlflow, info), tempfile.TemporaryDirectory() as scratch:
        _log_common(mlflow, info)
        mlflow.set_tag("stage.export", "done")
        mlflow.log_dict(manifest, f"export/{MANIFEST_NAME}")
        code = Path(scratch) / "imdb_sentiment"
        shutil.copytree(
            Path(mlflow_model.__file__).parent,
            code,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        logged = mlflow.pyfunc.log_model(
            name="model",
            python_model=mlflow_model.__file__,
            artifacts={"bundle": str(bundle_dir)},
            code_paths=[str(code)],
            signature=signature,
            input_example=example,
            registered_model_name=manifest["name"],
            # Explicit requirements: inferring them costs seconds and a subprocess.
            pip_requirements=serving_requirements(),
        )
    number = str(logged.registered_model_version)
    client.update_model_version(
        manifest["name"],
        number,
        description=(
            f"bundle {manifest['version']}: val "
            + ", ".join(f"{k} {v}" for k, v in val.items() if k != "rows")
            + f"; params {json.dumps(manifest.get('params', {}).get('train', {}))}"
        ),
    )
    return number
