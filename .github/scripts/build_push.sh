#!/usr/bin/env bash
# Build the API image with the pinned bundle, tag it with the git SHA, push it to ECR, and fail
# on HIGH or CRITICAL findings of ECR's image scan. Prints `image=<uri>:<sha>` (for $GITHUB_OUTPUT).
# Needs docker, the AWS CLI and credentials; the project's venv for the dvc.lock check.
# Usage: build_push.sh <ecr-repository-name> <git-sha> <model-version> <bundle-hash>
#   model-version and bundle-hash come from `imdb-sentiment release` (the champion, resolved once).
set -euo pipefail

usage="usage: build_push.sh <ecr-repository-name> <git-sha> <model-version> <bundle-hash>"
repository="${1:?$usage}"
sha="${2:?$usage}"
model_version="${3:?$usage}"
bundle_hash="${4:?$usage}"
region="${AWS_REGION:?set AWS_REGION}"
python="${PYTHON:-.venv/bin/python}"

if [[ ! "$sha" =~ ^[0-9a-f]{40}$ ]]; then
  echo "error: '$sha' is not a full git SHA" >&2
  exit 2
fi
if [[ ! "$model_version" =~ ^[0-9]+$ || ! "$bundle_hash" =~ ^[0-9a-f]{32}\.dir$ ]]; then
  echo "error: model version '$model_version' or bundle hash '$bundle_hash' is malformed" >&2
  exit 2
fi
if [[ ! -f models/imdb-sentiment/manifest.json ]]; then
  echo "error: models/imdb-sentiment is missing: dvc pull export first" >&2
  exit 2
fi
# The folder must be what dvc.lock on this commit records, and what `release` resolved.
"$python" - "$bundle_hash" <<'PY'
import sys

from imdb_sentiment.integrity import PinError, check_expected, folder_md5, locked_md5

try:
    locked = locked_md5()
    check_expected(sys.argv[1], locked, "the release's bundle hash")
    check_expected(folder_md5("models/imdb-sentiment"), locked, "models/imdb-sentiment")
except PinError as error:
    sys.exit(f"error: {error}")
PY
bundle_version="$("$python" -c 'import json; print(json.load(open("models/imdb-sentiment/manifest.json"))["version"])')"

uri="$(aws ecr describe-repositories --region "$region" --repository-names "$repository" \
  --query 'repositories[0].repositoryUri' --output text)"
registry="${uri%%/*}"
aws ecr get-login-password --region "$region" \
  | docker login --username AWS --password-stdin "$registry" >&2

image="$uri:$sha"
docker build --pull \
  --build-arg "BUNDLE_HASH=$bundle_hash" \
  --build-arg "MODEL_REGISTRY_VERSION=$model_version" \
  --label "org.opencontainers.image.revision=$sha" \
  --label "imdb-sentiment.model-version=$bundle_version" \
  --tag "$image" . >&2
docker push "$image" >&2

# ECR scans on push (infra/terraform); wait for it, then refuse HIGH and CRITICAL findings.
aws ecr wait image-scan-complete --region "$region" --repository-name "$repository" \
  --image-id "imageTag=$sha" >&2
counts="$(aws ecr describe-image-scan-findings --region "$region" --repository-name "$repository" \
  --image-id "imageTag=$sha" --query 'imageScanFindings.findingSeverityCounts' --output json)"
if ! COUNTS="$counts" "$python" -c '
import json, os, sys
counts = json.loads(os.environ["COUNTS"] or "null") or {}
bad = {k: v for k, v in counts.items() if k in ("HIGH", "CRITICAL") and v}
sys.exit(f"error: the image scan found {bad}: not deploying" if bad else 0)'; then
  exit 1
fi
echo "image scan: $counts" >&2
echo "image=$image"
