#!/usr/bin/env bash
# Queue one DVC experiment per combination of the given values, run them all, write
# `dvc exp show --md` to the output file and push the experiments (git refs and outputs) to
# origin and the default DVC remote. Fails if any experiment failed.
# Usage: sweep.sh "train.C=[1,4,16] featurize.min_df=range(2,6)" sweep.md
# Accepted values: a,b  [a,b]  choice(a,b)  range(start,stop[,step]); parsed in Python by
# `imdb-sentiment sweep-args`, never evaluated or spliced into a command line.
set -euo pipefail

if [[ $# -ne 2 || -z "$1" || -z "$2" ]]; then
  echo "error: usage: sweep.sh '<section.key=values ...>' <output.md>" >&2
  exit 2
fi
params="$1"
output="$2"
cli="${IMDB_SENTIMENT:-imdb-sentiment}"

if ! parsed="$("$cli" sweep-args "$params")"; then
  exit 2  # the parser printed why
fi
set_args=()
while IFS= read -r assignment; do
  set_args+=(-S "$assignment")
done <<< "$parsed"

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
# Every experiment of this baseline: refs to the git remote, outputs to the default DVC remote.
dvc exp push "${SWEEP_GIT_REMOTE:-origin}"
