#!/usr/bin/env bash
# Build the API image, tag it with the git SHA and push it to ECR.
# Prints `image=<uri>:<sha>` (for $GITHUB_OUTPUT). Needs docker and AWS credentials.
# Usage: build_push.sh <ecr-repository-name> <git-sha>
set -euo pipefail

repository="${1:?usage: build_push.sh <ecr-repository-name> <git-sha>}"
sha="${2:?usage: build_push.sh <ecr-repository-name> <git-sha>}"
region="${AWS_REGION:?set AWS_REGION}"

if [[ ! "$sha" =~ ^[0-9a-f]{40}$ ]]; then
  echo "error: '$sha' is not a full git SHA" >&2
  exit 2
fi
if [[ ! -f models/imdb-sentiment/manifest.json ]]; then
  echo "error: models/imdb-sentiment is missing: dvc pull export first" >&2
  exit 2
fi

uri="$(aws ecr describe-repositories --region "$region" --repository-names "$repository" \
  --query 'repositories[0].repositoryUri' --output text)"
registry="${uri%%/*}"
aws ecr get-login-password --region "$region" \
  | docker login --username AWS --password-stdin "$registry" >&2

image="$uri:$sha"
docker build --pull \
  --label "org.opencontainers.image.revision=$sha" \
  --label "imdb-sentiment.model-version=$(python3 -c 'import json; print(json.load(open("models/imdb-sentiment/manifest.json"))["version"])')" \
  --tag "$image" . >&2
docker push "$image" >&2
echo "image=$image"
