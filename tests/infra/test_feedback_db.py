"""The production feedback store: its own database and user on the RDS server, its URL in a
Secrets Manager secret that Beanstalk hands the app as IMDB_SENTIMENT_FEEDBACK_DB."""

from __future__ import annotations

from typing import Any

import pytest
from iam_policy import allowed, statements
from tfparse import MODULES, TF, parse_all, parse_dir, settings


@pytest.fixture(scope="module")
def modules() -> dict[str, dict[str, Any]]:
    return parse_all()


def test_the_feedback_url_reaches_the_app_from_a_secret_never_a_plain_setting(modules) -> None:
    env = settings(
        modules["modules/serving"]["resource"]["aws_elastic_beanstalk_environment"]["this"]
    )
    secret_setting = (
        "aws:elasticbeanstalk:application:environmentsecrets",
        "IMDB_SENTIMENT_FEEDBACK_DB",
    )
    assert env[secret_setting] == "var.feedback_db_secret_arn"
    assert ("aws:elasticbeanstalk:application:environment", "IMDB_SENTIMENT_FEEDBACK_DB") not in env
    root = parse_dir(TF)["module"]
    assert root["serving"]["feedback_db_secret_arn"] == "module.mlflow.feedback_db_secret_arn"
    mlflow = modules["modules/mlflow"]["resource"]
    secret = mlflow["aws_secretsmanager_secret"]["feedback_db"]
    assert secret["kms_key_id"] == "var.kms_key_arn"
    # Created empty: no secret version in Terraform, so the URL is in no plan or state.
    for where, mod in modules.items():
        assert "aws_secretsmanager_secret_version" not in mod["resource"], where


def test_the_instances_may_read_only_the_feedback_secret(modules) -> None:
    serving = modules["modules/serving"]
    values = {
        "var.feedback_db_secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:p-feedback-db",
        "var.kms_key_arn": "arn:key",
        "data.aws_region.current.region": "eu-west-1",
    }
    sts = statements(serving, "feedback_secret", values)
    feedback = values["var.feedback_db_secret_arn"]
    assert allowed(sts, "secretsmanager:GetSecretValue", feedback)
    other = "arn:aws:secretsmanager:eu-west-1:1:secret:p-mlflow-admin"
    assert not allowed(sts, "secretsmanager:GetSecretValue", other)
    assert not allowed(sts, "secretsmanager:PutSecretValue", feedback)


def test_the_database_admits_the_api_instances_on_its_port_only(modules) -> None:
    rules = modules["modules/mlflow"]["resource"]["aws_vpc_security_group_ingress_rule"]
    rule = rules["db_from_feedback_clients"]
    assert rule["security_group_id"] == "aws_security_group.db.id"
    assert rule["referenced_security_group_id"] == "each.value"
    assert (rule["from_port"], rule["to_port"]) == ("local.db_port", "local.db_port")
    assert "cidr_ipv4" not in rule
    root = parse_dir(TF)["module"]
    clients = root["mlflow"]["feedback_client_security_group_ids"]
    assert clients == ["module.serving.instance_security_group_id"]


def test_the_boot_script_creates_a_separate_database_and_user_once() -> None:
    script = (MODULES / "mlflow" / "user_data.sh.tftpl").read_text()
    block = script[script.index("# The feedback store") :]
    assert "ROLE feedback LOGIN PASSWORD" in block
    assert "CREATE DATABASE feedback OWNER feedback" in block
    assert "REVOKE ALL ON DATABASE feedback FROM PUBLIC" in block
    assert "REVOKE CONNECT ON DATABASE ${db_name}, mlflow_auth FROM PUBLIC" in block
    assert "secrets.token_urlsafe(32)" in block
    # Only when the secret has no value yet: a replaced instance keeps the password.
    assert "except sm.exceptions.ResourceNotFoundException:" in block
    assert 'put_secret_value(SecretId="${feedback_secret_arn}"' in block
    assert '"postgresql+psycopg2"' in block and 'database="feedback"' in block
