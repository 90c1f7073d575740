#!/usr/bin/env bash
# CI's pipeline step: fetch whatever the remotes have for this dvc.lock, recompute only what
# changed, push the new outputs to the default remote. Run after dvc_remote.sh.
# With the quarantine remote `pr` as default (pull requests), main's outputs are read from
# `team` first and every push goes to `pr` only.
# `dvc repro --pull --allow-missing` alone is not enough in dvc 3.67: when a changed stage needs
# outputs of unchanged upstream stages (export reads data/split), it does not pull them.
set -euo pipefail

dvc="${DVC:-.venv/bin/dvc}"
# Stages run `python stages/...`: that must be the project's interpreter, as in `make pipeline`.
if [[ -d .venv/bin ]]; then
  export PATH="$PWD/.venv/bin:$PATH"
fi

if [[ "$("$dvc" config core.remote)" == pr ]]; then
  "$dvc" pull --allow-missing --remote team
fi
"$dvc" pull --allow-missing
"$dvc" repro --pull --allow-missing
"$dvc" push
