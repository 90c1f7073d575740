#!/usr/bin/env bash
# Queue one DVC experiment per combination of the given -S values, run them all, and write
# `dvc exp show --md` to the output file. Fails if any experiment failed.
# Usage: sweep.sh "train.C=1,4,16 featurize.min_df=2,5" sweep.md
set -euo pipefail

if [[ $# -ne 2 || -z "$1" || -z "$2" ]]; then
  echo "error: usage: sweep.sh '<section.key=v1,v2 ...>' <output.md>" >&2
  exit 2
fi
params="$1"
output="$2"

# The values come from a workflow trigger: accept only plain `section.key=value[,value...]`.
set_args=()
read -r -a assignments <<< "$params"
for assignment in "${assignments[@]}"; do
  if [[ ! "$assignment" =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+=[A-Za-z0-9_.,:+-]+$ ]]; then
    echo "error: '$assignment' is not section.key=value[,value...]" >&2
    exit 2
  fi
  set_args+=(-S "$assignment")
done

dvc exp run --queue "${set_args[@]}"
dvc exp run --run-all --jobs 1
# --run-all exits 0 even when an experiment failed: the queue status tells.
status="$(dvc queue status)"
echo "$status"
if grep -q -E '\bFailed\b' <<< "$status"; then
  echo "error: at least one experiment failed (dvc queue logs <name>)" >&2
  exit 1
fi
{
  echo "## Sweep: $params"
  echo
  dvc exp show --md --only-changed --no-pager
} > "$output"
