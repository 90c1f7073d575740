#!/usr/bin/env bash
# Security scan of the Terraform code. Exits non-zero when any check fails.
# Install once: uv tool install checkov==3.3.30
# Skips are inline (#checkov:skip=ID:reason) next to the resource they concern.
# --skip-download: the checks ship with checkov; nothing is fetched from Prisma Cloud.
set -euo pipefail
cd "$(dirname "$0")/.."
exec checkov -d infra/terraform --framework terraform --quiet --compact --skip-download "$@"
