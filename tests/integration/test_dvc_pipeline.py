"""The pipeline through real `dvc` commands in a temporary git repo, on the sample archive."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers.support import copy_project, write_params

from imdb_sentiment.bundle import load_bundle

pytestmark = pytest.mark.slow

STAGES = ["ingest", "split", "featurize", "train", "evaluate", "export"]


class Repo:
    def __init__(self, path: Path, archive: Path) -> None:
        self.path = path
        bin_dir = str(Path(sys.executable).parent)
        # The queue worker and stage commands find `dvc` and `python` on PATH, as in an activated venv.
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "IMDB_ARCHIVE": str(archive),
        }

    def run(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            args, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=600
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout + result.stderr

    def json(self, *args: str) -> object:
        """A command's JSON output (stdout only: DVC may warn on stderr)."""
        result = subprocess.run(
            args, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def ran(self, output: str) -> list[str]:
        return re.findall(r"Running stage '(\w+)'", output)

    def set_param(self, dotted: str, value: object) -> None:
        section, key = dotted.split(".")
        params = yaml.safe_load((self.path / "params.yaml").read_text())
        params[section][key] = value
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, sample_archive: Path) -> Iterator[Repo]:
    path = copy_project(tmp_path_factory.mktemp("dvc") / "project")
    write_params(path)
    repo = Repo(path, sample_archive)
    repo.run("git", "init", "-q", "-b", "main")
    repo.run("git", "config", "user.email", "test@example.com")
    repo.run("git", "config", "user.name", "test")
    repo.run("dvc", "init", "-q")
    repo.run("dvc", "config", "core.analytics", "false")
    repo.run("git", "add", "-A")
    repo.run("git", "commit", "-qm", "pipeline")
    output = repo.run("dvc", "repro")
    assert repo.ran(output) == STAGES
    repo.run("git", "add", "-A")
    repo.run("git", "commit", "-qm", "first run")
    yield repo


def test_repro_builds_a_loadable_bundle_and_declared_metrics(repo: Repo) -> None:
    model = load_bundle(repo.path / "models" / "imdb-sentiment")
    assert model.predict_proba(["a fine film"]).shape == (1,)
    metrics = repo.json("dvc", "metrics", "show", "--json")
    values = metrics[""]["data"]["metrics/metrics.json"]["data"]
    assert set(values) == {"val", "test"} and 0 <= values["test"]["accuracy"] <= 1
    plots = repo.json("dvc", "plots", "show", "--json")
    assert {"ROC curve", "Precision-recall curve", "Confusion matrix (test)"} <= set(plots["data"])
    artifacts = yaml.safe_load((repo.path / "dvc.yaml").read_text())["artifacts"]
    assert artifacts["imdb-sentiment"]["path"] == "models/imdb-sentiment"


def test_second_repro_is_a_no_op(repo: Repo) -> None:
    output = repo.run("dvc", "repro")
    assert repo.ran(output) == []
    assert "Data and pipelines are up to date" in output


def test_changing_a_train_param_reruns_only_train_evaluate_export(repo: Repo) -> None:
    repo.set_param("train.C", 2.0)
    try:
        output = repo.run("dvc", "repro")
        assert repo.ran(output) == ["train", "evaluate", "export"]
    finally:
        repo.run("git", "checkout", "params.yaml", "dvc.lock", "metrics")
        repo.run("dvc", "checkout", "-q")


def test_from_scratch_repro_reproduces_the_committed_lock(repo: Repo) -> None:
    for folder in ("data/raw", "data/split", "data/features", "data/train", "models", ".dvc/cache"):
        shutil.rmtree(repo.path / folder, ignore_errors=True)
    output = repo.run("dvc", "repro", "--force")
    assert repo.ran(output) == STAGES
    assert repo.run("git", "status", "--porcelain") == ""


def test_experiments_and_a_queued_sweep(repo: Repo) -> None:
    head = repo.run("git", "rev-parse", "HEAD")
    repo.run("dvc", "exp", "run", "-n", "strong-reg", "-S", "train.C=0.5")
    repo.run("dvc", "exp", "run", "--queue", "-S", "train.C=0.25,4")
    repo.run("dvc", "exp", "run", "--run-all", "-j", "1")
    status = repo.run("dvc", "queue", "status")
    assert "Failed" not in status, status
    table = repo.json("dvc", "exp", "show", "--json")
    experiments = [exp for commit in table for exp in (commit.get("experiments") or [])]
    values = sorted(
        exp["revs"][0]["data"]["params"]["params.yaml"]["data"]["train"]["C"] for exp in experiments
    )
    assert values == [0.25, 0.5, 4]
    assert any(exp["name"] == "strong-reg" for exp in experiments)
    # Experiments live in refs of their own: the branch's history is untouched.
    assert repo.run("git", "rev-parse", "HEAD") == head
