"""The scripts and gates CI runs, run here for real: in temporary git/DVC repos, with a fake
`aws`/`docker` only where the real ones need an AWS account or a Docker engine."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.dvc_project import project_env, run
from helpers.support import ROOT

from imdb_sentiment.gates import GateError, check_metrics, sweep_arguments
from imdb_sentiment.integrity import folder_md5

SCRIPTS = ROOT / ".github" / "scripts"
CLI = str(Path(sys.executable).with_name("imdb-sentiment"))


def _script(name: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args],
        cwd=cwd,
        env={**project_env(Path("unused")), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


# ---------------------------------------------------------------- stale dvc.lock


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    """A git repo with a one-stage DVC pipeline, reproduced and committed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = project_env(Path("unused"))
    run(["git", "init", "--quiet", "--initial-branch=main"], repo, env)
    run(["dvc", "init", "--quiet"], repo, env)
    (repo / "params.yaml").write_text("greeting: hello\n")
    stage = {"cmd": "echo ${greeting} > out.txt", "params": ["greeting"], "outs": ["out.txt"]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"say": stage}}))
    run(["dvc", "repro"], repo, env)
    run(["git", "add", "--all"], repo, env)
    run(["git", "commit", "--quiet", "-m", "pipeline"], repo, env)
    return repo


def test_stale_dvc_lock_fails_and_says_how_to_fix_it(dvc_repo: Path) -> None:
    env = project_env(Path("unused"))
    assert _script("check_lock.sh", dvc_repo).returncode == 0
    # A params change committed without running the pipeline: CI's `dvc repro` rewrites the lock.
    (dvc_repo / "params.yaml").write_text("greeting: bonjour\n")
    run(["git", "commit", "--quiet", "-am", "change params only"], dvc_repo, env)
    run(["dvc", "repro"], dvc_repo, env)
    stale = _script("check_lock.sh", dvc_repo)
    assert stale.returncode == 1
    assert "dvc.lock is stale" in stale.stderr
    assert "run `make pipeline` and commit dvc.lock" in stale.stderr


# ---------------------------------------------------------------- quality floors


def _floors(tmp_path: Path, floors: dict) -> Path:
    path = tmp_path / "floors.yaml"
    path.write_text(yaml.safe_dump({"floors": floors}))
    return path


def test_quality_floors_pass_fail_and_never_skip(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "m.json").write_text(json.dumps({"test": {"accuracy": 0.93}}))
    ok = _floors(tmp_path, {"metrics/m.json": {"test.accuracy": 0.92}})
    assert check_metrics(ok, tmp_path) == ["ok   metrics/m.json test.accuracy = 0.93 (floor 0.92)"]
    for floors, reason in [
        ({"metrics/m.json": {"test.accuracy": 0.95}}, "FAIL metrics/m.json test.accuracy"),
        ({"metrics/m.json": {"val.accuracy": 0.5}}, "val.accuracy = None"),
        ({"metrics/missing.json": {"test.accuracy": 0.5}}, "cannot read it"),
    ]:
        with pytest.raises(GateError, match=reason):
            check_metrics(_floors(tmp_path, floors), tmp_path)


def test_the_committed_metrics_meet_the_committed_floors() -> None:
    lines = check_metrics(SCRIPTS / "metric_floors.yaml", ROOT)
    assert any("metrics/short_reviews.json test.accuracy" in line for line in lines)
    assert any("metrics/metrics.json test.accuracy" in line for line in lines)


def test_check_metrics_command_fails_below_a_floor_and_writes_the_summary(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "m.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    floors = _floors(tmp_path, {"metrics/m.json": {"test.accuracy": 0.92}})
    summary = tmp_path / "summary.md"
    done = subprocess.run(
        [CLI, "check-metrics", "--floors", str(floors)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)},
        timeout=60,
    )
    assert done.returncode == 1 and "quality floor not met" in done.stderr
    assert "FAIL metrics/m.json test.accuracy = 0.5" in summary.read_text()


# ---------------------------------------------------------------- sweep input


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("train.C=1,4,16", ["train.C=1,4,16"]),
        ("train.C=[1, 4, 16]", ["train.C=1,4,16"]),
        ("train.model=choice(linear_svm, sgd)", ["train.model=linear_svm,sgd"]),
        ("featurize.min_df=range(2,6)", ["featurize.min_df=2,3,4,5"]),
        ("featurize.min_df=range(10, 0, -5) train.alpha=1e-5", [
            "featurize.min_df=10,5", "train.alpha=1e-5"
        ]),
        ("train.class_weight=[null,balanced]", ["train.class_weight=null,balanced"]),
    ],
)  # fmt: skip
def test_sweep_input_accepts_lists_choice_and_range(spec: str, expected: list[str]) -> None:
    assert sweep_arguments(spec) == expected


def test_sweep_input_is_bounded() -> None:
    with pytest.raises(GateError, match="more than 64 experiments"):
        sweep_arguments("train.C=range(0,10) train.alpha=range(0,10)")
    with pytest.raises(GateError, match="longer than"):
        sweep_arguments("train.C=" + "1," * 600 + "1")


# ---------------------------------------------------------------- DVC remotes


def test_pull_request_remotes_push_to_the_quarantine_and_verify_main(dvc_repo: Path) -> None:
    env = {"DVC": str(Path(sys.executable).with_name("dvc"))}
    done = _script("dvc_remote.sh", dvc_repo, "pr", "s3://b/dvc", "s3://b/dvc-pr", **env)
    assert done.returncode == 0, done.stderr
    config = (dvc_repo / ".dvc" / "config.local").read_text()
    assert "remote = pr" in config
    assert "url = s3://b/dvc-pr" in config and "verify = true" in config
    same = _script("dvc_remote.sh", dvc_repo, "pr", "s3://b/dvc", "s3://b/dvc", **env)
    assert same.returncode == 2 and "must not be main's remote" in same.stderr
    main = _script("dvc_remote.sh", dvc_repo, "main", "s3://b/dvc", **env)
    assert (
        main.returncode == 0 and "remote = team" in (dvc_repo / ".dvc" / "config.local").read_text()
    )


def test_the_committed_team_remote_verifies_downloads() -> None:
    config = (ROOT / ".dvc" / "config").read_text()
    team = config[config.index("['remote \"team\"']") :].split("['remote")[1]
    assert "verify = true" in team


# ---------------------------------------------------------------- MLflow tunnel

FAKE_AWS = """#!/usr/bin/env python3
import http.server, os, sys
args = sys.argv[1:]
if args[:2] == ["secretsmanager", "get-secret-value"]:
    print(os.environ["FAKE_SECRET"])
elif args[:2] == ["ssm", "start-session"]:
    port = int(args[args.index("--parameters") + 1].split("localPortNumber=")[1])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Health)
    server.timeout = 1
    for _ in range(20):  # bounded: the test needs one /health answer
        server.handle_request()
else:
    sys.exit(f"unexpected aws {args}")
"""


def test_mlflow_tunnel_exports_masked_credentials_and_never_prints_the_password(
    tmp_path: Path,
) -> None:
    aws = tmp_path / "aws"
    _executable(aws, FAKE_AWS)
    github_env = tmp_path / "github_env"
    password = "s3cr3t-Pa55"
    done = _script(
        "mlflow_tunnel.sh",
        tmp_path,
        "i-0123456789abcdef0",
        "arn:aws:secretsmanager:eu-west-1:1:secret:mlflow",
        GITHUB_ENV=str(github_env),
        AWS_CLI=str(aws),
        RUNNER_TEMP=str(tmp_path),
        FAKE_SECRET=json.dumps({"username": "ci", "password": password}),
    )
    assert done.returncode == 0, done.stderr
    output = (done.stdout + done.stderr).replace(f"::add-mask::{password}", "")
    assert f"::add-mask::{password}" in done.stdout and password not in output
    exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert exported["MLFLOW_TRACKING_USERNAME"] == "ci"
    assert exported["MLFLOW_TRACKING_PASSWORD"] == password
    assert exported["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")


def test_mlflow_tunnel_refuses_a_secret_that_could_inject_environment_lines(
    tmp_path: Path,
) -> None:
    aws = tmp_path / "aws"
    _executable(aws, FAKE_AWS)
    github_env = tmp_path / "github_env"
    done = _script(
        "mlflow_tunnel.sh",
        tmp_path,
        "i-0123456789abcdef0",
        "arn",
        GITHUB_ENV=str(github_env),
        AWS_CLI=str(aws),
        FAKE_SECRET=json.dumps({"username": "ci", "password": "x\nLD_PRELOAD=/tmp/evil.so"}),
    )
    assert done.returncode != 0 and "single-line password" in done.stderr
    assert not github_env.exists() or "LD_PRELOAD" not in github_env.read_text()


def test_mlflow_tunnel_without_an_instance_falls_back_to_the_local_registry(
    tmp_path: Path,
) -> None:
    github_env = tmp_path / "github_env"
    done = _script("mlflow_tunnel.sh", tmp_path, "", "", GITHUB_ENV=str(github_env))
    assert done.returncode == 0 and "local MLflow store" in done.stdout
    assert github_env.read_text() == f"MLFLOW_TRACKING_URI=sqlite:///{tmp_path}/mlflow.db\n"
    bad = _script("mlflow_tunnel.sh", tmp_path, "i-1;id", "arn", GITHUB_ENV=str(github_env))
    assert bad.returncode == 2 and "not an EC2 instance id" in bad.stderr


# ---------------------------------------------------------------- image build

FAKE_TOOL = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$*" in
  *describe-repositories*) echo "123.dkr.ecr.eu-west-1.amazonaws.com/imdb-sentiment" ;;
  *get-login-password*) echo token ;;
  # Like the real one, login reads the password; otherwise `aws ... |` may die of SIGPIPE.
  *--password-stdin*) cat > /dev/null ;;
  *describe-image-scan-findings*) echo "$SCAN_COUNTS" ;;
  # Like the real one, read the password: exiting first would SIGPIPE the `aws ... |` writer.
  *--password-stdin*) cat > /dev/null ;;
esac
"""


@pytest.fixture
def image_project(small_bundle: Path, tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(small_bundle, project / "models" / "imdb-sentiment")
    out = {"path": "models/imdb-sentiment", "md5": folder_md5(small_bundle)}
    lock = {"schema": "2.0", "stages": {"export": {"outs": [out]}}}
    (project / "dvc.lock").write_text(yaml.safe_dump(lock))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("aws", "docker"):
        _executable(bin_dir / tool, FAKE_TOOL)
    return project


def _build_push(project: Path, bundle_hash: str, scan: str) -> subprocess.CompletedProcess:
    calls = project / "calls.log"
    return _script(
        "build_push.sh",
        project,
        "imdb-sentiment",
        "a" * 40,
        "7",
        bundle_hash,
        PATH=f"{project.parent / 'bin'}:{os.environ['PATH']}",
        PYTHON=sys.executable,
        AWS_REGION="eu-west-1",
        CALLS=str(calls),
        SCAN_COUNTS=scan,
    )


def test_image_build_pins_the_bundle_and_labels_the_model_version(
    image_project: Path, small_bundle: Path
) -> None:
    pinned = folder_md5(small_bundle)
    done = _build_push(image_project, pinned, '{"LOW": 3}')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(":" + "a" * 40)
    build = next(line for line in (image_project / "calls.log").read_text().splitlines()
                 if line.startswith("docker build"))  # fmt: skip
    assert f"BUNDLE_HASH={pinned}" in build and "MODEL_REGISTRY_VERSION=7" in build


def test_image_build_refuses_a_bundle_dvc_lock_does_not_pin(image_project: Path) -> None:
    manifest = image_project / "models" / "imdb-sentiment" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"threshold"', '"threshold" ', 1))
    lock_hash = yaml.safe_load((image_project / "dvc.lock").read_text())["stages"]["export"]
    done = _build_push(image_project, lock_hash["outs"][0]["md5"], "{}")
    assert done.returncode == 1
    assert folder_md5(manifest.parent) in done.stderr and lock_hash["outs"][0]["md5"] in done.stderr
    assert not (image_project / "calls.log").exists(), "nothing built or pushed"


def test_image_with_high_or_critical_findings_is_not_deployed(
    image_project: Path, small_bundle: Path
) -> None:
    done = _build_push(image_project, folder_md5(small_bundle), '{"HIGH": 1, "LOW": 2}')
    assert done.returncode == 1 and "the image scan found {'HIGH': 1}" in done.stderr
    assert "image=" not in done.stdout


# ---------------------------------------------------------------- quarantine, end to end


def _keys(endpoint: str, bucket: str, prefix: str) -> set[str]:
    import boto3

    pages = boto3.client("s3", endpoint_url=endpoint).get_paginator("list_objects_v2")
    return {
        item["Key"]
        for page in pages.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    }


@pytest.mark.slow
def test_a_pull_request_reads_main_outputs_and_writes_only_the_quarantine(
    tmp_path: Path, sample_archive: Path, moto_server: str, s3_bucket: str
) -> None:
    from helpers.dvc_project import commit, init_project

    main_url, pr_url = f"s3://{s3_bucket}/dvc", f"s3://{s3_bucket}/dvc-pr"
    scripts_env = {
        "DVC": str(Path(sys.executable).with_name("dvc")),
        "DVC_S3_ENDPOINT": moto_server,
    }
    origin = tmp_path / "origin"
    env = init_project(origin, sample_archive)
    run(["dvc", "repro"], origin, env)
    commit(origin, env, "pipeline")
    assert _script("dvc_remote.sh", origin, "main", main_url, **scripts_env).returncode == 0
    run(["dvc", "push"], origin, env)
    main_before = _keys(moto_server, s3_bucket, "dvc/")
    assert main_before

    clone = tmp_path / "pr"
    run(["git", "clone", "--quiet", str(origin), str(clone)], tmp_path, env)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["train"]["C"] *= 2  # the pull request's change
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _script("dvc_remote.sh", clone, "pr", main_url, pr_url, **scripts_env).returncode == 0
    done = _script("reproduce.sh", clone, **scripts_env, IMDB_ARCHIVE=str(sample_archive))
    assert done.returncode == 0, done.stderr
    # Upstream stages came from main's remote; only what the change touches re-ran.
    assert "Running stage 'featurize'" not in done.stdout
    assert "Running stage 'train'" in done.stdout
    assert _keys(moto_server, s3_bucket, "dvc/") == main_before, "main's remote was written"
    assert _keys(moto_server, s3_bucket, "dvc-pr/"), "nothing reached the quarantine"
