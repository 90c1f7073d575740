"""What each GitHub Actions identity may do, decided by evaluating its IAM policies from the parsed HCL.

The evaluator (iam_policy.py) errs towards granting, so "not allowed" below is a
proof over every statement, wildcard and source document, not a text search.
"""

from __future__ import annotations

from typing import Any

import pytest
from iam_policy import (
    Statement,
    allowed,
    grants_in_service,
    role_statements,
    statements,
    wildcard,
)
from tfparse import MODULES, TF, one, parse_dir, parse_text

ACCOUNT = "123456789012"
REGION = "eu-west-1"
DVC_BUCKET = f"imdb-sentiment-dvc-{ACCOUNT}"
MLFLOW_BUCKET = f"imdb-sentiment-mlflow-artifacts-{ACCOUNT}"
INSTANCE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
CI_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:imdb-sentiment-mlflow-ci-AbCdEf"
ADMIN_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:imdb-sentiment-mlflow-admin-XyZ"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111-2222"

# Concrete values for the module's inputs and data sources.
VALUES: dict[str, Any] = {
    "var.project": "imdb-sentiment",
    "var.partition": "aws",
    "var.github_repository": "owner/imdb-sentiment",
    "var.deploy_branch": "main",
    "var.production_environment": "production",
    "var.sweep_environment": "sweep",
    "var.plan_environment": "plan",
    "var.dvc_bucket_arn": f"arn:aws:s3:::{DVC_BUCKET}",
    "var.mlflow_bucket_arn": f"arn:aws:s3:::{MLFLOW_BUCKET}",
    "var.eb_versions_bucket_arn": f"arn:aws:s3:::imdb-sentiment-eb-versions-{ACCOUNT}",
    "var.ecr_repository_arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/imdb-sentiment",
    "var.eb_application_name": "imdb-sentiment",
    "var.eb_environment_name": "imdb-sentiment-prod",
    "var.eb_pass_role_arns": [
        f"arn:aws:iam::{ACCOUNT}:role/imdb-sentiment-eb-instance",
        f"arn:aws:iam::{ACCOUNT}:role/imdb-sentiment-eb-service",
    ],
    "var.kms_key_arn": KMS_KEY,
    "var.mlflow_instance_arn": INSTANCE,
    "var.mlflow_ci_secret_arn": CI_SECRET,
    "var.state_bucket": f"imdb-sentiment-tfstate-{ACCOUNT}",
    "var.state_key": "imdb-sentiment/terraform.tfstate",
    "local.region": REGION,
    "local.account_id": ACCOUNT,
}

MAIN_OBJECT = f"arn:aws:s3:::{DVC_BUCKET}/dvc/files/md5/3f/0a1b2c3d4e5f"
PR_OBJECT = f"arn:aws:s3:::{DVC_BUCKET}/dvc-pr/files/md5/3f/0a1b2c3d4e5f"
WRITES = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectAcl",
    "s3:PutObjectTagging",
    "s3:RestoreObject",
)
ROLES = ("pull_request", "pipeline", "deploy", "sweep", "plan")


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return parse_dir(MODULES / "ci_access")


def role(ci: dict[str, Any], name: str) -> list[Statement]:
    return role_statements(ci, name, VALUES)


# ------------------------------------------------------------------ quarantine of PR and sweep outputs


@pytest.mark.parametrize("name", ["pull_request", "sweep"])
def test_pr_and_sweep_roles_cannot_write_mains_dvc_prefix(ci, name):
    sts = role(ci, name)
    granted = [a for a in WRITES if allowed(sts, a, MAIN_OBJECT)]
    assert granted == [], f"{name} may {granted} on main's dvc/ prefix"
    # Also not through a bucket-level grant of everything.
    assert not allowed(sts, "s3:PutObject", f"arn:aws:s3:::{DVC_BUCKET}/dvc/x")
    assert not allowed(sts, "s3:PutBucketPolicy", f"arn:aws:s3:::{DVC_BUCKET}")


@pytest.mark.parametrize("name", ["pull_request", "sweep"])
def test_pr_and_sweep_roles_read_main_and_write_the_quarantine(ci, name):
    sts = role(ci, name)
    assert allowed(sts, "s3:GetObject", MAIN_OBJECT)
    assert allowed(sts, "s3:PutObject", PR_OBJECT)
    assert allowed(sts, "s3:GetObject", PR_OBJECT)
    assert allowed(sts, "kms:GenerateDataKey", KMS_KEY)
    # No deletes even in the quarantine: pushes only add content-addressed objects.
    assert not allowed(sts, "s3:DeleteObject", PR_OBJECT)


def test_sweep_role_is_data_only(ci):
    sts = role(ci, "sweep")
    for service in ("ecr", "elasticbeanstalk", "cloudformation", "autoscaling", "ec2", "iam"):
        assert grants_in_service(sts, service) == [], f"sweep role grants {service}"
    assert not allowed(sts, "iam:PassRole", VALUES["var.eb_pass_role_arns"][0])
    assert not allowed(sts, "ecr:PutImage", VALUES["var.ecr_repository_arn"])
    assert not allowed(sts, "ecr:GetAuthorizationToken", "*")
    assert not allowed(
        sts,
        "elasticbeanstalk:UpdateEnvironment",
        f"arn:aws:elasticbeanstalk:{REGION}:{ACCOUNT}:environment/imdb-sentiment/imdb-sentiment-prod",
    )
    assert not allowed(sts, "secretsmanager:GetSecretValue", CI_SECRET)
    assert not allowed(sts, "ssm:StartSession", INSTANCE)


def test_pull_request_role_reaches_nothing_but_dvc(ci):
    sts = role(ci, "pull_request")
    services = {p.split(":", 1)[0] for st in sts if st.effect == "Allow" for p in st.actions}
    assert services == {"s3", "kms"}
    assert not allowed(sts, "s3:GetObject", f"arn:aws:s3:::{MLFLOW_BUCKET}/mlflow/1/model.json")


# ------------------------------------------------------------------ main's pipeline and the deploy


def test_pipeline_role_writes_main_and_reaches_mlflow_only_through_port_forwarding(ci):
    sts = role(ci, "pipeline")
    assert allowed(sts, "s3:PutObject", MAIN_OBJECT)
    assert not allowed(sts, "s3:DeleteObject", MAIN_OBJECT)
    assert allowed(sts, "secretsmanager:GetSecretValue", CI_SECRET)
    assert not allowed(sts, "secretsmanager:GetSecretValue", ADMIN_SECRET)
    port_forward = f"arn:aws:ssm:{REGION}::document/AWS-StartPortForwardingSession"
    assert allowed(sts, "ssm:StartSession", INSTANCE)
    assert allowed(sts, "ssm:StartSession", port_forward)
    for other in ("SSM-SessionManagerRunShell", "AWS-StartSSHSession", "AWS-RunShellScript"):
        assert not allowed(sts, "ssm:StartSession", f"arn:aws:ssm:{REGION}::document/{other}")
    assert not allowed(sts, "ssm:SendCommand", INSTANCE)
    assert not allowed(
        sts, "ssm:StartSession", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0ffffffffffffffff"
    )
    assert grants_in_service(sts, "ecr") == [] and grants_in_service(sts, "iam") == []


def test_deploy_role_reads_main_never_writes_it_and_deploys(ci):
    sts = role(ci, "deploy")
    assert allowed(sts, "s3:GetObject", MAIN_OBJECT)
    assert [a for a in WRITES if allowed(sts, a, MAIN_OBJECT)] == []
    assert not allowed(sts, "s3:GetObject", PR_OBJECT), "deploy must never read the quarantine"
    assert allowed(sts, "ecr:PutImage", VALUES["var.ecr_repository_arn"])
    # build_push.sh waits for the scan and refuses HIGH/CRITICAL findings.
    assert allowed(sts, "ecr:DescribeImageScanFindings", VALUES["var.ecr_repository_arn"])
    assert allowed(sts, "iam:PassRole", VALUES["var.eb_pass_role_arns"][0])
    assert not allowed(sts, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")
    assert allowed(sts, "secretsmanager:GetSecretValue", CI_SECRET)
    assert allowed(sts, "ssm:StartSession", INSTANCE)
    assert not allowed(sts, "secretsmanager:GetSecretValue", ADMIN_SECRET)


def test_plan_role_is_read_only_and_never_reads_secrets_or_data(ci):
    sts = role(ci, "plan")
    verbs = {
        p.split(":", 1)[1] for st in sts if st.effect == "Allow" for p in st.actions if ":" in p
    }
    writes = [v for v in verbs if not v.startswith(("Get", "List", "Describe"))]
    assert writes == [], f"plan role may {writes}"
    assert all(st.not_actions is None for st in sts)
    state = f"arn:aws:s3:::{VALUES['var.state_bucket']}/{VALUES['var.state_key']}"
    assert allowed(sts, "s3:GetObject", state)
    assert not allowed(sts, "s3:PutObject", state)
    assert not allowed(sts, "secretsmanager:GetSecretValue", CI_SECRET)
    assert not allowed(sts, "s3:GetObject", MAIN_OBJECT)
    assert not allowed(sts, "ssm:StartSession", INSTANCE)
    # Not AWS ReadOnlyAccess: nothing is attached, and no Allow is a service-wide wildcard.
    assert not ci["resource"].get("aws_iam_role_policy_attachment")
    assert not [p for st in sts if st.effect == "Allow" for p in st.actions if p.endswith(":*")]


# ------------------------------------------------------------------ one exact subject per role


def test_each_role_trusts_exactly_one_subject(ci):
    subjects = ci["locals"]["subjects"]
    repo = "repo:${var.github_repository}"
    assert subjects == {
        "pull_request": f"{repo}:pull_request",
        "pipeline": f"{repo}:ref:refs/heads/${{var.deploy_branch}}",
        "deploy": f"{repo}:environment:${{var.production_environment}}",
        "sweep": f"{repo}:environment:${{var.sweep_environment}}",
        "plan": f"{repo}:environment:${{var.plan_environment}}",
    }
    trust = ci["data"]["aws_iam_policy_document"]["trust"]
    assert trust["for_each"] == "local.subjects"
    (st,) = trust["statement"]
    assert st["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    conds = {c["variable"]: c for c in st["condition"]}
    assert conds["${local.oidc_host}:aud"]["values"] == ["sts.amazonaws.com"]
    sub = conds["${local.oidc_host}:sub"]
    assert sub["test"] == "StringEquals" and sub["values"] == ["each.value"]
    roles = ci["resource"]["aws_iam_role"]
    assert set(roles) == set(ROLES)
    for name in ROLES:
        assert roles[name]["assume_role_policy"] == (
            f'data.aws_iam_policy_document.trust["{name}"].json'
        )
    for var in ("production_environment", "sweep_environment", "plan_environment"):
        assert "validation" in ci["variable"][var], f"{var} must reject wildcards"


def test_role_arns_are_outputs_with_the_shared_names():
    outputs = parse_dir(TF)["output"]
    for name in ROLES:
        assert outputs[f"{name}_role_arn"]["value"] == f"module.ci_access.{name}_role_arn"
    assert outputs["dvc_remote_url"]["value"] == "s3://${module.storage.dvc_bucket}/dvc"
    assert outputs["dvc_pr_remote_url"]["value"] == "s3://${module.storage.dvc_bucket}/dvc-pr"
    assert outputs["mlflow_instance_id"]["value"] == "module.mlflow.instance_id"
    assert outputs["mlflow_ci_secret_arn"]["value"] == "module.mlflow.ci_secret_arn"
    ci_call = parse_dir(TF)["module"]["ci_access"]
    assert ci_call["mlflow_instance_arn"] == "module.mlflow.instance_arn"
    assert ci_call["mlflow_ci_secret_arn"] == "module.mlflow.ci_secret_arn"
    assert ci_call["production_environment"] == "var.github_production_environment"


# ------------------------------------------------------------------ the evaluator itself can say yes and no

SAMPLE = """
data "aws_iam_policy_document" "wide" {
  statement {
    actions   = ["s3:*"]
    resources = ["${var.bucket}/*"]
  }
  statement {
    effect    = "Deny"
    actions   = ["s3:Delete*"]
    resources = ["${var.bucket}/keep/*"]
  }
  statement {
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    not_actions = ["iam:*"]
    resources   = ["${var.unknown}"]
  }
}
data "aws_iam_policy_document" "composed" {
  source_policy_documents = [data.aws_iam_policy_document.wide.json]
}
resource "aws_iam_role" "r" {
  name = "r"
}
resource "aws_iam_role_policy" "r" {
  role   = aws_iam_role.r.id
  policy = data.aws_iam_policy_document.composed.json
}
resource "aws_iam_role" "managed" {
  name = "m"
}
resource "aws_iam_role_policy_attachment" "m" {
  role       = aws_iam_role.managed.name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}
"""


def test_policy_evaluator_follows_wildcards_denies_and_sources():
    from tfparse import add_parsed, empty_module

    mod = empty_module()
    add_parsed(mod, parse_text(SAMPLE))
    values = {"var.bucket": "arn:aws:s3:::b"}
    sts = role_statements(mod, "r", values)
    assert allowed(sts, "s3:PutObject", "arn:aws:s3:::b/dvc/x")  # s3:* over b/*
    assert allowed(sts, "S3:putobject", "arn:aws:s3:::b/dvc/x")  # actions ignore case
    assert not allowed(sts, "s3:DeleteObject", "arn:aws:s3:::b/keep/x")  # unconditional Deny
    assert allowed(sts, "s3:DeleteObject", "arn:aws:s3:::b/other/x")
    # An unknown interpolation may be anything, and NotAction grants all but iam:*.
    assert allowed(sts, "ecr:PutImage", "arn:aws:ecr:eu-west-1:1:repository/x")
    assert not allowed(sts, "iam:PassRole", "arn:aws:iam::1:role/x")
    assert grants_in_service(sts, "ecr")
    # A managed policy is unknown content: assume it grants everything.
    assert allowed(role_statements(mod, "managed", values), "iam:PassRole", "*")
    assert wildcard("arn:aws:s3:::b/dvc/*", "arn:aws:s3:::b/dvc/a/b")
    assert not wildcard("arn:aws:s3:::b/dvc/*", "arn:aws:s3:::b/dvc-pr/a")
    assert wildcard("a?c", "abc") and not wildcard("a?c", "abbc")
    assert statements(mod, "missing", values)[0].actions == ["*"]
    assert one([{"x": 1}]) == {"x": 1}


def test_composed_role_policies_have_unique_statement_ids(ci):
    """Terraform rejects source_policy_documents whose statements share a sid."""
    docs = ci["data"]["aws_iam_policy_document"]
    for name in ROLES:
        sids: list[str] = []
        for source in docs[name].get("source_policy_documents", []):
            source_doc = docs[source.split(".")[2]]
            sids += [st["sid"] for st in source_doc["statement"] if "sid" in st]
        sids += [st["sid"] for st in docs[name].get("statement", []) if "sid" in st]
        assert len(sids) == len(set(sids)), f"{name}: duplicate sids {sids}"
