"""The team DVC remote on S3 (a real moto_server): push, fresh clone, pull, repro without recomputing.

This is what CI does on every pull request (`dvc repro --pull --allow-missing`, `dvc push`).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from helpers.dvc_project import commit, init_project, run
from helpers.support import ROOT, STAGES

REPRODUCE = ROOT / ".github" / "scripts" / "reproduce.sh"
DVC = str(Path(sys.executable).with_name("dvc"))


def use_team_remote(repo: Path, env: dict[str, str], bucket: str, endpoint: str) -> None:
    """What a team member or CI does: real URL and endpoint in the git-ignored config.local."""
    run(["dvc", "remote", "modify", "--local", "team", "url", f"s3://{bucket}/dvc"], repo, env)
    run(["dvc", "remote", "modify", "--local", "team", "endpointurl", endpoint], repo, env)
    run(["dvc", "remote", "default", "--local", "team"], repo, env)


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def delete_cache_and_outputs(repo: Path) -> None:
    for path in (".dvc/cache", "data", "models"):
        shutil.rmtree(repo / path, ignore_errors=True)


@pytest.mark.slow
def test_push_then_pull_and_repro_in_a_fresh_clone_recomputes_nothing(
    tmp_path: Path, sample_archive: Path, moto_server: str, s3_bucket: str
) -> None:
    origin = tmp_path / "origin"
    env = init_project(origin, sample_archive)
    # The committed config: a local default remote beside the clone, the team remote on S3.
    config = {
        key: run(["dvc", "config", key], origin, env).stdout.strip()
        for key in ("core.remote", "remote.local.url", "remote.team.url")
    }
    assert config["core.remote"] == "local"
    assert config["remote.local.url"] == str(origin.parent / "imdb-sentiment-dvc-remote")
    assert re.fullmatch(r"s3://imdb-sentiment-dvc-[^/]+/dvc", config["remote.team.url"])

    first = run(["dvc", "repro"], origin, env)
    assert stages_run(first.stdout) == set(STAGES)
    commit(origin, env, "pipeline")
    use_team_remote(origin, env, s3_bucket, moto_server)
    run(["dvc", "push"], origin, env)
    assert "config.local" not in run(["git", "ls-files", ".dvc"], origin, env).stdout

    clone = tmp_path / "clone"
    run(["git", "clone", "--quiet", str(origin), str(clone)], tmp_path, env)
    use_team_remote(clone, env, s3_bucket, moto_server)
    assert not (clone / "models" / "imdb-sentiment").exists()
    assert not (clone / ".dvc" / "cache").exists()

    run(["dvc", "pull"], clone, env)
    manifest = clone / "models" / "imdb-sentiment" / "manifest.json"
    assert manifest.read_bytes() == (origin / "models/imdb-sentiment/manifest.json").read_bytes()
    assert "up to date" in run(["dvc", "status"], clone, env).stdout

    # CI's command on a checkout with nothing local: every stage's results come from the remote.
    delete_cache_and_outputs(clone)
    repro = run(["dvc", "repro", "--pull", "--allow-missing"], clone, env)
    assert stages_run(repro.stdout) == set(), repro.stdout

    # A changed training param, through CI's own script: only what depends on it re-runs,
    # upstream data comes from S3, and the new outputs go back to S3.
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["train"]["C"] *= 2  # any value but the default
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    delete_cache_and_outputs(clone)
    changed = run(["bash", str(REPRODUCE)], clone, {**env, "DVC": DVC})
    assert stages_run(changed.stdout) == {"train", "evaluate", "export"}, changed.stdout
    assert (clone / "models" / "imdb-sentiment" / "manifest.json").is_file()
    assert (
        "Cache and remote 'team' are in sync."
        in run(["dvc", "status", "--cloud"], clone, env).stdout
    )
