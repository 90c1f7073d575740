"""The Dockerfile (no Docker engine here): lint, security scan, and what the image will run."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.api_server import DOCKERFILE, container_command
from helpers.support import ROOT

CHECKOV = shutil.which("checkov") or shutil.which("checkov", path=str(Path.home() / ".local/bin"))


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    rows = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in rows if line and not line.startswith("#")]  # type: ignore[misc]


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.skipif(
    CHECKOV is None and not os.environ.get("CI"),
    reason="checkov is not installed (uv tool install checkov==3.3.30)",
)
def test_checkov_finds_no_failed_checks() -> None:
    assert CHECKOV, "checkov must be installed in CI (.ci/run)"
    result = subprocess.run(
        [
            CHECKOV,
            "-f",
            str(DOCKERFILE),
            "--framework",
            "dockerfile",
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=600,
    )
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    assert report["results"]["failed_checks"] == [], result.stdout
    passed = {check["check_id"] for check in report["results"]["passed_checks"]}
    # Non-root user and a HEALTHCHECK are among what was verified, not merely absent from failures.
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= passed
    assert result.returncode == 0


def test_the_image_runs_the_command_the_tests_start() -> None:
    assert container_command() == [
        "imdb-sentiment", "serve", "--host", "0.0.0.0", "--port", "8000"
    ]  # fmt: skip


def test_image_layout_port_user_and_health_check() -> None:
    instructions = _instructions()
    final_stage = instructions[max(i for i, row in enumerate(instructions) if row[0] == "FROM") :]
    keys = [key for key, _ in final_stage]
    values = dict(final_stage)
    assert values["EXPOSE"] == "8000"
    assert values["USER"] not in ("root", "0")
    assert "http://127.0.0.1:8000/health" in values["HEALTHCHECK"]
    assert keys.index("USER") < keys.index("CMD")
    copies = [value for key, value in final_stage if key == "COPY"]
    assert "models/imdb-sentiment/ /app/models/imdb-sentiment/" in copies
    assert "IMDB_SENTIMENT_MODEL=/app/models/imdb-sentiment" in values["ENV"]
    # Dependencies come from the lock file, never re-resolved.
    syncs = [value for key, value in instructions if key == "RUN" and "uv sync" in value]
    assert syncs and all("--frozen" in value and "--no-dev" in value for value in syncs)
    # The interpreter line the lock is tested with (requires-python >=3.11,<3.13).
    base_images = [value for key, value in instructions if key == "FROM"]
    assert all(re.match(r"python:3\.11\.\d+-slim", image) for image in base_images)


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "src",
        "app",
        "models/imdb-sentiment",
    }


def test_every_stage_uses_one_full_patch_tag_that_dependabot_keeps_moving() -> None:
    import yaml

    base_images = {value.split()[0] for key, value in _instructions() if key == "FROM"}
    # One image for build and run, pinned to a full patch version (a moving "3.11-slim" would
    # change under a rebuild without review); it is not the Dec 2023 3.11.7 any more.
    (image,) = base_images
    version = re.match(r"python:3\.11\.(\d+)-slim-\w+$", image)
    assert version and int(version.group(1)) > 7
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert {"docker", "github-actions", "uv"} <= set(ecosystems)
    assert all(update["directory"] == "/" for update in ecosystems.values())
    # Patch releases of 3.11 only: the lock targets 3.11.
    ignored = ecosystems["docker"]["ignore"][0]
    assert ignored["dependency-name"] == "python"
    assert "version-update:semver-minor" in ignored["update-types"]
