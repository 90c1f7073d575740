#!/usr/bin/env bash
# Point this checkout at the team DVC remote: the URL goes into the git-ignored .dvc/config.local.
# Credentials are not handled here: DVC finds them through the AWS chain (CI: the OIDC role).
# Usage: dvc_remote.sh s3://bucket/dvc [endpoint-url]
set -euo pipefail

url="${1:?usage: dvc_remote.sh <s3-url> [endpoint-url]}"
endpoint="${2:-}"
dvc="${DVC:-.venv/bin/dvc}"

"$dvc" remote modify --local team url "$url"
if [[ -n "$endpoint" ]]; then
  "$dvc" remote modify --local team endpointurl "$endpoint"
fi
"$dvc" remote default --local team
"$dvc" remote list
