#!/usr/bin/env bash
# Reach the private team MLflow from a CI job: an SSM port-forwarding session to the MLflow
# instance on a free loopback port, basic-auth credentials from Secrets Manager (JSON with
# username and password). Appends MLFLOW_TRACKING_URI/_USERNAME/_PASSWORD to $GITHUB_ENV after
# masking the password; never prints it. Needs the AWS CLI with the Session Manager plugin.
# Without an instance id: the runner's local registry (sqlite), see docs/release.md.
# Usage: mlflow_tunnel.sh <instance-id or ""> <secret-arn> [mlflow-port]
set -euo pipefail

instance="${1:-}"
secret_arn="${2:-}"
remote_port="${3:-5000}"
env_file="${GITHUB_ENV:?set GITHUB_ENV}"
aws="${AWS_CLI:-aws}"

if [[ -z "$instance" ]]; then
  echo "::notice::MLFLOW_INSTANCE_ID is not set: the registry is a local MLflow store on this runner (no history from earlier runs; docs/release.md)"
  echo "MLFLOW_TRACKING_URI=sqlite:///$PWD/mlflow.db" >> "$env_file"
  exit 0
fi
if [[ ! "$instance" =~ ^(i|mi)-[0-9a-f]{8,17}$ ]]; then
  echo "error: '$instance' is not an EC2 instance id" >&2
  exit 2
fi
if [[ -z "$secret_arn" || ! "$remote_port" =~ ^[0-9]{1,5}$ ]]; then
  echo "error: set MLFLOW_CI_SECRET_ARN (and a numeric port)" >&2
  exit 2
fi

if [[ -z "${AWS_CLI:-}" ]] && ! command -v session-manager-plugin > /dev/null; then
  echo "error: the AWS CLI's Session Manager plugin is not installed on this runner" >&2
  exit 2
fi
secret="$("$aws" secretsmanager get-secret-value --secret-id "$secret_arn" \
  --query SecretString --output text)"
# Parsed without printing; a value with a line break could inject lines into $GITHUB_ENV.
read_field() {
  SECRET="$secret" python3 -c '
import json, os, sys
value = json.loads(os.environ["SECRET"]).get(sys.argv[1])
if not isinstance(value, str) or not value or any(c in value for c in "\r\n"):
    sys.exit(f"error: the MLflow secret has no single-line {sys.argv[1]}")
print(value)' "$1"
}
username="$(read_field username)"
password="$(read_field password)"
echo "::add-mask::$password"
unset secret

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="${RUNNER_TEMP:-/tmp}/mlflow-tunnel.log"
"$aws" ssm start-session --target "$instance" --document-name AWS-StartPortForwardingSession \
  --parameters "portNumber=$remote_port,localPortNumber=$port" > "$log" 2>&1 &
# Bounded wait: any HTTP answer from /health means the tunnel is up (auth is checked later).
for _ in $(seq 1 45); do
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/health"; then
    {
      echo "MLFLOW_TRACKING_URI=http://127.0.0.1:$port"
      echo "MLFLOW_TRACKING_USERNAME=$username"
      echo "MLFLOW_TRACKING_PASSWORD=$password"
    } >> "$env_file"
    echo "MLflow reachable through SSM at http://127.0.0.1:$port"
    exit 0
  fi
  sleep 2
done
echo "error: no MLflow answer through the SSM tunnel to $instance within 90 s:" >&2
tail -n 20 "$log" >&2
exit 1
