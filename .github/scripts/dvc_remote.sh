#!/usr/bin/env bash
# Point this checkout at the team DVC remotes; URLs go into the git-ignored .dvc/config.local.
#   dvc_remote.sh main <main-url>          main's reviewed outputs: remote `team`, the default
#   dvc_remote.sh pr <main-url> <pr-url>   pull requests and sweeps: remote `pr` (quarantine) is
#                                          the default and gets every push; `team` stays for
#                                          reading main's outputs (the PR role cannot write it)
# DVC_S3_ENDPOINT sets an S3 endpoint (tests: moto). Credentials come from the AWS chain (CI: OIDC).
set -euo pipefail

usage="usage: dvc_remote.sh main <main-url> | dvc_remote.sh pr <main-url> <pr-url>"
if [[ "${1:-}" == *://* ]]; then
  set -- main "$@"  # the one-argument form: main's remote (a team member's laptop)
fi
mode="${1:?$usage}"
main_url="${2:?$usage}"
dvc="${DVC:-.venv/bin/dvc}"

configure() {  # <remote> <url>
  "$dvc" remote add --local --force "$1" "$2"
  if [[ -n "${DVC_S3_ENDPOINT:-}" ]]; then
    "$dvc" remote modify --local "$1" endpointurl "$DVC_S3_ENDPOINT"
  fi
}

configure team "$main_url"
# Whatever is pulled from main's remote is re-hashed on download (also set in .dvc/config).
"$dvc" remote modify --local team verify true
case "$mode" in
  main)
    "$dvc" remote default --local team
    ;;
  pr)
    pr_url="${3:?$usage}"
    if [[ "$pr_url" == "$main_url" ]]; then
      echo "error: the quarantine remote must not be main's remote ($main_url)" >&2
      exit 2
    fi
    configure pr "$pr_url"
    "$dvc" remote default --local pr
    ;;
  *)
    echo "error: $usage" >&2
    exit 2
    ;;
esac
"$dvc" remote list
