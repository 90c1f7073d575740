"""A real git + DVC checkout of the project in a temporary folder, for the CI/CD tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.support import ROOT, copy_project, write_params

VENV_BIN = str(Path(sys.executable).parent)


def project_env(archive: Path, **extra: str) -> dict[str, str]:
    """Environment for dvc and its stages: this venv first on PATH, the sample archive, no telemetry."""
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "IMDB_ARCHIVE": str(archive),
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        **extra,
    }


def run(
    args: list[str], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    if args[0] == "dvc":
        args = [sys.executable, "-m", "dvc", *args[1:]]
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def init_project(directory: Path, archive: Path) -> dict[str, str]:
    """Copy the project (small params) into a new git repo on branch main with the project's
    own .dvc/config, and commit it. Returns the environment to run dvc in it."""
    env = project_env(archive)
    copy_project(directory)
    write_params(directory)
    run(["git", "init", "--quiet", "--initial-branch=main"], directory, env)
    run(["dvc", "init", "--quiet"], directory, env)
    shutil.copy2(ROOT / ".dvc" / "config", directory / ".dvc" / "config")
    commit(directory, env, "project")
    return env


def commit(directory: Path, env: dict[str, str], message: str) -> None:
    run(["git", "add", "--all"], directory, env)
    run(["git", "commit", "--quiet", "--allow-empty", "-m", message], directory, env)
