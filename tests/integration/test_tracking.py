"""MLflow tracking and registry with the local default store (SQLite in the project folder).

The session's ``sample_pipeline`` ran the real stage scripts with nothing configured, so they
logged to ``<workdir>/mlflow.db``: these tests read what a user would find there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers.support import ROOT, environment, free_port, run_stages

from imdb_sentiment.bundle import BundleError
from imdb_sentiment.registry import load_bundle

TEXTS = ["A wonderful, moving film with superb acting.", "Dull, predictable and far too long."]
NAME = "imdb-sentiment"


def _flatten(values: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.fixture
def store(sample_pipeline: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the sample pipeline's MLflow store, selected by MLFLOW_TRACKING_URI."""
    db = tmp_path / "mlflow.db"
    shutil.copy2(sample_pipeline / "mlflow.db", db)
    with environment(
        MLFLOW_TRACKING_URI=f"sqlite:///{db}",
        IMDB_SENTIMENT_REGISTRY_CACHE=str(tmp_path / "cache"),
    ):
        yield db


def _client():
    from imdb_sentiment.registry import mlflow_module

    return mlflow_module().MlflowClient()


def _runs(client) -> list:
    experiment = client.get_experiment_by_name(NAME)
    return client.search_runs([experiment.experiment_id])


def test_stages_log_one_run_with_params_metrics_plots_and_lineage(
    sample_pipeline: Path, store: Path
) -> None:
    (run,) = _runs(_client())
    params = yaml.safe_load((sample_pipeline / "params.yaml").read_text())
    expected_params = {
        key: json.dumps(value) if isinstance(value, list) else str(value)
        for key, value in _flatten(params).items()
    }
    assert run.data.params == expected_params
    evaluation = json.loads((sample_pipeline / "metrics" / "metrics.json").read_text())
    training = json.loads((sample_pipeline / "metrics" / "train" / "metrics.json").read_text())
    for name, value in _flatten(evaluation).items():
        assert run.data.metrics[name] == pytest.approx(value)
    for name, value in _flatten(training).items():
        assert run.data.metrics[f"fit.{name}"] == pytest.approx(value)
    tags = run.data.tags
    assert {tags[f"stage.{stage}"] for stage in ("train", "evaluate", "export")} == {"done"}
    classifier = sample_pipeline / "data" / "train" / "classifier"
    digest = hashlib.sha256()
    for file in sorted(p for p in classifier.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(classifier)}\n".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    assert tags["classifier.sha256"] == digest.hexdigest()
    artifacts = {a.path for a in _client().list_artifacts(run.info.run_id, "evaluate/plots")}
    assert "evaluate/plots/roc_val.csv" in artifacts
    assert "evaluate/plots/confusion_test.csv" in artifacts


def test_export_registers_the_bundle_as_candidate_with_its_manifest(
    small_bundle: Path, store: Path
) -> None:
    client = _client()
    version = client.get_model_version_by_alias(NAME, "candidate")
    manifest_bytes = (small_bundle / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    assert version.tags["bundle_version"] == manifest["version"]
    assert version.tags["manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert float(version.tags["val.roc_auc"]) == manifest["metrics"]["val"]["roc_auc"]
    (run,) = _runs(client)
    assert version.run_id == run.info.run_id
    # The model version's artifacts hold the bundle byte for byte.
    model = load_bundle(f"models:/{NAME}/{version.version}")
    assert model.version == manifest["version"]
    assert model.source == f"models:/{NAME}/{version.version}"


def test_unchanged_re_export_creates_no_duplicate_version(
    sample_pipeline: Path,
    sample_archive: Path,
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    workdir = tmp_path / "pipeline"
    shutil.copytree(sample_pipeline, workdir, ignore=shutil.ignore_patterns("mlflow.db"))
    run_stages(workdir, sample_archive, stages=("export",))
    assert "as version 1 @candidate" in capsys.readouterr().out
    versions = _client().search_model_versions(f"name = '{NAME}'")
    assert len(versions) == 1
    assert len(_runs(_client())) == 1


def test_champion_from_the_registry_predicts_like_the_local_bundle(
    small_bundle: Path, store: Path
) -> None:
    from imdb_sentiment.cli import main

    assert main(["promote"]) == 0
    registered = load_bundle(f"models:/{NAME}@champion")
    local = load_bundle(small_bundle)
    np.testing.assert_array_equal(registered.predict_proba(TEXTS), local.predict_proba(TEXTS))
    assert registered.manifest == local.manifest


def test_tampered_registry_cache_is_refused(store: Path, tmp_path: Path) -> None:
    model = load_bundle(f"models:/{NAME}@candidate")
    cached = next((tmp_path / "cache").rglob("manifest.json")).parent
    classifier = cached / "classifier.coef.npy"
    classifier.write_bytes(classifier.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(BundleError, match="does not match the sha256"):
        load_bundle(f"models:/{NAME}@candidate")
    manifest = json.loads((cached / "manifest.json").read_text())
    manifest["threshold"] = 0.1
    (cached / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="was registered with"):
        load_bundle(f"models:/{NAME}@candidate")
    assert model.threshold != 0.1


def test_unknown_alias_or_bad_uri_is_a_clear_error(store: Path) -> None:
    with pytest.raises(BundleError, match="has no alias 'nonexistent'"):
        load_bundle(f"models:/{NAME}@nonexistent")
    with pytest.raises(BundleError, match="not a registry URI"):
        load_bundle("models:/imdb-sentiment")


def _stage_in_copy(
    sample_pipeline: Path, workdir: Path, stage: str, **env: str
) -> subprocess.CompletedProcess:
    shutil.copytree(sample_pipeline, workdir, ignore=shutil.ignore_patterns("mlflow.db", "mlruns"))
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / f"{stage}.py")],
        cwd=workdir,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_dead_tracking_server_warns_and_the_stage_succeeds(
    sample_pipeline: Path, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = _stage_in_copy(sample_pipeline, tmp_path / "w", "train", MLFLOW_TRACKING_URI=dead)
    assert done.returncode == 0, done.stderr
    assert "MLflow logging of stage train skipped" in done.stderr
    assert "IMDB_SENTIMENT_STRICT_TRACKING=1" in done.stderr
    assert (tmp_path / "w" / "metrics" / "train" / "metrics.json").exists()
    assert not (tmp_path / "w" / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_dead_tracking_server_fails_the_stage_when_tracking_is_strict(
    sample_pipeline: Path, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = _stage_in_copy(
        sample_pipeline,
        tmp_path / "w",
        "export",
        MLFLOW_TRACKING_URI=dead,
        IMDB_SENTIMENT_STRICT_TRACKING="1",
    )
    assert done.returncode == 1
    assert f"error: MLflow model registration failed at {dead}" in done.stderr
    assert "Traceback" not in done.stderr


def test_serving_side_registry_code_imports_no_training_code(
    sample_pipeline: Path, store: Path
) -> None:
    probe = (
        "import sys\n"
        "import imdb_sentiment.bundle\n"
        "assert 'mlflow' not in sys.modules, 'importing the loader must not import mlflow'\n"
        "from imdb_sentiment.registry import load_bundle\n"
        f"load_bundle('models:/{NAME}@candidate')\n"
        "leaked = [m for m in sys.modules if m.startswith(('imdb_sentiment.training', "
        "'imdb_sentiment.tracking', 'dvc', 'dvclive'))]\n"
        "assert not leaked, leaked\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


def _sh(*command: str, cwd: Path, **env: str) -> str:
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_dvc_runs_map_to_mlflow_runs_and_dvc_lock_stays_reproducible(
    sample_archive: Path, tmp_path: Path
) -> None:
    """Real `dvc repro` and `dvc exp run` in a fresh git repo, tracking with nothing configured."""
    from helpers.support import copy_project, write_params

    repo = copy_project(tmp_path / "repo")
    write_params(repo)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "IMDB_ARCHIVE": str(sample_archive),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        _sh("git", "init", "-q", cwd=repo, **env)
        _sh("dvc", "init", "-q", cwd=repo, **env)
        _sh("git", "add", "-A", cwd=repo, **env)
        _sh("git", "commit", "-qm", "project", cwd=repo, **env)
        _sh("dvc", "repro", cwd=repo, IMDB_SENTIMENT_TRACKING="false", **env)
        lock_without_tracking = (repo / "dvc.lock").read_bytes()
        # Re-run the tracked stages with tracking on (the default): DVC's record must not change.
        _sh(
            "dvc",
            "repro",
            "--force",
            "--single-item",
            "train",
            "evaluate",
            "export",
            cwd=repo,
            **env,
        )
        assert (repo / "dvc.lock").read_bytes() == lock_without_tracking

        # The default store is the project's mlflow.db, which git ignores.
        assert (repo / "mlflow.db").exists()
        status = _sh("git", "status", "--porcelain", "--ignored=no", cwd=repo, **env)
        assert "mlflow" not in status and "mlruns" not in status

        with environment(MLFLOW_TRACKING_URI=f"sqlite:///{repo / 'mlflow.db'}"):
            (run,) = _runs(_client())
        lock = yaml.safe_load(lock_without_tracking)["stages"]
        tags = run.data.tags
        assert tags["git.revision"] == _sh("git", "rev-parse", "HEAD", cwd=repo).strip()
        assert tags["dvc.lock.data/raw/reviews.parquet"] == lock["ingest"]["outs"][0]["md5"]
        assert tags["dvc.lock.data/features"] == lock["featurize"]["outs"][0]["md5"]
        assert tags["dvc.lock.data/train/classifier"] == lock["train"]["outs"][0]["md5"]

        _sh("dvc", "exp", "run", "-n", "stronger-reg", "-S", "train.C=0.5", cwd=repo, **env)
        with environment(MLFLOW_TRACKING_URI=f"sqlite:///{repo / 'mlflow.db'}"):
            client = _client()
            runs = {r.data.tags["dvc.exp_name"]: r for r in _runs(client)}
            candidate = client.get_model_version_by_alias(NAME, "candidate")
        assert set(runs) == {"", "stronger-reg"}
        assert runs["stronger-reg"].data.params["train.C"] == "0.5"
        assert candidate.run_id == runs["stronger-reg"].info.run_id
        assert str(candidate.version) == "2"
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def test_the_default_store_follows_the_project_and_does_not_leak_to_child_processes(
    tmp_path: Path,
) -> None:
    from contextlib import chdir

    from imdb_sentiment.registry import mlflow_module

    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        for project in ("one", "two"):
            (tmp_path / project).mkdir()
            with chdir(tmp_path / project):
                mlflow = mlflow_module()
                assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / project / 'mlflow.db'}"
                assert "MLFLOW_TRACKING_URI" not in os.environ
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def test_a_version_without_its_manifest_tag_is_refused(store: Path) -> None:
    client = _client()
    version = client.get_model_version_by_alias(NAME, "candidate")
    client.delete_model_version_tag(NAME, version.version, "manifest_sha256")
    with pytest.raises(BundleError, match="has no manifest_sha256 tag"):
        load_bundle(f"models:/{NAME}/{version.version}")


@pytest.mark.parametrize("subpath", ["../../outside", "/etc", "artifacts/../../x"])
def test_a_bundle_path_outside_the_model_folder_is_refused(tmp_path: Path, subpath: str) -> None:
    from imdb_sentiment.registry import RegistryError, _bundle_folder

    model_dir = tmp_path / "model"
    (model_dir / "artifacts" / "bundle").mkdir(parents=True)
    mlmodel = {"flavors": {"python_function": {"artifacts": {"bundle": {"path": subpath}}}}}
    (model_dir / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(RegistryError, match="outside the model folder"):
        _bundle_folder(model_dir)
    mlmodel["flavors"]["python_function"]["artifacts"]["bundle"]["path"] = "artifacts/bundle"
    (model_dir / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    assert _bundle_folder(model_dir) == (model_dir / "artifacts" / "bundle").resolve()
