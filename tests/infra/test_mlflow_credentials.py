"""The MLflow server's credential helper, run for real: the script the boot template installs,
against a real `mlflow server --app-name basic-auth` and Secrets Manager on moto_server.

It proves the design that keeps passwords out of Terraform state: secrets are created empty,
the instance fills them on first boot, creates the CI user, and rotates both passwords with
AWSPENDING -> MLflow -> AWSCURRENT so a failure half-way changes nothing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from helpers.support import free_port, running_process
from tfparse import MODULES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TEMPLATE = (MODULES / "mlflow" / "user_data.sh.tftpl").read_text()
REGION = "us-east-1"


def heredoc(marker_line: str, end: str) -> str:
    """The body of `cat > ... <<'END'` that starts at ``marker_line`` in the boot template."""
    m = re.search(re.escape(marker_line) + r"\n(.*?)\n" + end + r"\n", TEMPLATE, re.S)
    assert m, marker_line
    return m.group(1)


def render(text: str, **values: str) -> str:
    out = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)
    return out.replace("$${", "${")


def auth_status(url: str, user: str, password: str) -> int:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(
        f"{url}/api/2.0/mlflow/experiments/search?max_results=1",
        headers={"Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


class Helper:
    def __init__(self, script: Path, env: dict[str, str]) -> None:
        self.script = script
        self.env = env

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(self.script), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture
def secrets_(moto_server: str) -> dict[str, str]:
    sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_server)
    # Created without a value, as Terraform does: nothing to leak into state.
    return {
        user: sm.create_secret(Name=f"imdb-sentiment-mlflow-{user}-{uuid.uuid4().hex[:8]}")["ARN"]
        for user in ("admin", "ci")
    }


def current_value(moto_server: str, arn: str) -> dict[str, str]:
    sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_server)
    resp = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    return json.loads(resp["SecretString"])


@pytest.fixture
def mlflow_with_auth(
    tmp_path: Path, moto_server: str, secrets_: dict[str, str]
) -> Iterator[tuple[str, Helper]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = tmp_path / "mlflow-credentials"
    script.write_text(
        render(
            heredoc("cat > /opt/mlflow/bin/mlflow-credentials <<'PY'", "PY"),
            region=REGION,
            admin_secret_arn=secrets_["admin"],
            ci_secret_arn=secrets_["ci"],
        )
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server, "MLFLOW_LOCAL_URL": url}
    helper = Helper(script, env)

    # First boot, before MLflow starts: the admin secret gets a generated value.
    done = helper("ensure-admin")
    assert done.returncode == 0, done.stderr
    admin = current_value(moto_server, secrets_["admin"])
    assert admin["username"] == "admin" and len(admin["password"]) >= 32

    # The boot template's auth settings, with a local user store instead of PostgreSQL.
    ini = heredoc("cat > /opt/mlflow/basic_auth.ini <<'INI'", "INI")
    ini = re.sub(r"(?m)^database_uri = .*$", f"database_uri = sqlite:///{tmp_path}/auth.db", ini)
    (tmp_path / "basic_auth.ini").write_text(ini)
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp_path}/mlflow.db",
        "--workers",
        "1",
    ]
    server_env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin["password"],
        # The boot script generates this per start; the test only needs some value.
        "MLFLOW_FLASK_SERVER_SECRET_KEY": os.urandom(16).hex(),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    with running_process(
        command, tmp_path / "server.log", f"{url}/health", env=server_env, timeout=240
    ):
        yield url, helper


def test_first_boot_creates_users_and_rotation_replaces_their_passwords(
    mlflow_with_auth: tuple[str, Helper], moto_server: str, secrets_: dict[str, str]
) -> None:
    url, helper = mlflow_with_auth
    admin = current_value(moto_server, secrets_["admin"])
    assert auth_status(url, "admin", admin["password"]) == 200
    assert auth_status(url, "admin", "wrong") == 401

    done = helper("ensure-ci")
    assert done.returncode == 0, done.stderr
    ci = current_value(moto_server, secrets_["ci"])
    assert ci["username"] == "ci"
    assert auth_status(url, "ci", ci["password"]) == 200
    assert ci["password"] not in done.stdout + done.stderr, "the helper must not print passwords"

    # A second boot leaves a filled secret alone.
    assert helper("ensure-ci").returncode == 0
    assert current_value(moto_server, secrets_["ci"]) == ci

    for user, old in (("ci", ci), ("admin", admin)):
        done = helper("rotate", user)
        assert done.returncode == 0, done.stderr
        new = current_value(moto_server, secrets_[user])
        assert new["password"] != old["password"]
        assert auth_status(url, user, new["password"]) == 200
        assert auth_status(url, user, old["password"]) == 401


def test_a_failed_rotation_keeps_the_current_password(
    mlflow_with_auth: tuple[str, Helper], moto_server: str, secrets_: dict[str, str]
) -> None:
    url, helper = mlflow_with_auth
    assert helper("ensure-ci").returncode == 0
    ci = current_value(moto_server, secrets_["ci"])
    # MLflow refuses the change (the admin secret no longer matches MLflow's admin).
    sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_server)
    sm.put_secret_value(
        SecretId=secrets_["admin"],
        SecretString=json.dumps({"username": "admin", "password": "not-the-admin-password"}),
    )
    done = helper("rotate", "ci")
    assert done.returncode != 0
    assert current_value(moto_server, secrets_["ci"]) == ci
    assert auth_status(url, "ci", ci["password"]) == 200


def test_the_helper_rejects_unknown_commands(tmp_path: Path) -> None:
    script = tmp_path / "mlflow-credentials"
    script.write_text(
        render(
            heredoc("cat > /opt/mlflow/bin/mlflow-credentials <<'PY'", "PY"),
            region=REGION,
            admin_secret_arn="arn:a",
            ci_secret_arn="arn:c",
        )
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    done = Helper(script, env)("rotate", "root")
    assert done.returncode != 0 and "ensure-admin" in done.stderr
