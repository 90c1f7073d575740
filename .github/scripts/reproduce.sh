#!/usr/bin/env bash
# CI's pipeline step: fetch whatever the remote has for this dvc.lock, recompute only what
# changed, push the new outputs. Run after dvc_remote.sh.
# `dvc repro --pull --allow-missing` alone is not enough in dvc 3.67: when a changed stage needs
# outputs of unchanged upstream stages (export reads data/split), it does not pull them.
set -euo pipefail

dvc="${DVC:-.venv/bin/dvc}"
# Stages run `python stages/...`: that must be the project's interpreter, as in `make pipeline`.
if [[ -d .venv/bin ]]; then
  export PATH="$PWD/.venv/bin:$PATH"
fi

"$dvc" pull --allow-missing
"$dvc" repro --pull --allow-missing
"$dvc" push
