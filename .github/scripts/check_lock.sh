#!/usr/bin/env bash
# Run after `dvc repro`: if it changed dvc.lock, the commit's dvc.lock did not describe its own
# code, params and data (someone changed them without running the pipeline). Fails with the fix.
set -euo pipefail

if ! git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  echo "error: not inside a git work tree" >&2
  exit 2
fi
if ! git ls-files --error-unmatch dvc.lock > /dev/null 2>&1; then
  echo "error: dvc.lock is not committed: run \`make pipeline\` and commit dvc.lock" >&2
  exit 1
fi
if ! git diff --quiet -- dvc.lock; then
  git --no-pager diff --stat -- dvc.lock >&2
  echo "::error file=dvc.lock::dvc.lock is stale: dvc repro changed it. Run \`make pipeline\` and commit dvc.lock." >&2
  echo "error: dvc.lock is stale (the pipeline's code, params or data changed without it): run \`make pipeline\` and commit dvc.lock" >&2
  exit 1
fi
echo "dvc.lock is up to date"
