"""Static checks of infra/terraform: parse the HCL and assert wiring and security posture.

No AWS and no Terraform binary are needed: python-hcl2 parses the files. The two
tests that shell out (terraform fmt, checkov) skip when their tool is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tfparse import (
    MODULES,
    REPO,
    TF,
    add_parsed,
    empty_module,
    module_dirs,
    one,
    parse_all,
    parse_dir,
    parse_text,
    settings,
)

# Names fixed by the lead; other issues rely on them.
API_HEALTH_ROUTE = "/ready"  # readiness: a hung model turns the instance red
PROJECT = "imdb-sentiment"
WORLD = {"0.0.0.0/0", "::/0"}


@pytest.fixture(scope="module")
def modules() -> dict[str, dict[str, Any]]:
    return parse_all()


# --------------------------------------------------------------------------- rule helpers
# Each helper returns a list of violations so that the negative tests below can
# prove it actually detects a bad configuration.


def bucket_violations(mod: dict[str, Any]) -> list[str]:
    res = mod["resource"]
    problems = []

    def companions(rtype: str, bucket: str) -> list[dict[str, Any]]:
        ref = f"aws_s3_bucket.{bucket}.id"
        return [b for b in res.get(rtype, {}).values() if b.get("bucket") == ref]

    for name in res.get("aws_s3_bucket", {}):
        ver = companions("aws_s3_bucket_versioning", name)
        if not ver or one(ver[0]["versioning_configuration"])["status"] != "Enabled":
            problems.append(f"{name}: versioning not enabled")
        enc = companions("aws_s3_bucket_server_side_encryption_configuration", name)
        if not enc:
            problems.append(f"{name}: no default encryption")
        else:
            algo = one(one(enc[0]["rule"])["apply_server_side_encryption_by_default"])[
                "sse_algorithm"
            ]
            if algo not in {"aws:kms", "AES256"}:
                problems.append(f"{name}: unexpected encryption {algo}")
        pab = companions("aws_s3_bucket_public_access_block", name)
        flags = (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
        if not pab or not all(pab[0].get(f) is True for f in flags):
            problems.append(f"{name}: public access not fully blocked")
        own = companions("aws_s3_bucket_ownership_controls", name)
        if not own or one(own[0]["rule"])["object_ownership"] != "BucketOwnerEnforced":
            problems.append(f"{name}: ACLs not disabled")
        life = companions("aws_s3_bucket_lifecycle_configuration", name)
        if not life or not any("noncurrent_version_expiration" in r for r in life[0]["rule"]):
            problems.append(f"{name}: no lifecycle rule for old versions")
        pol = companions("aws_s3_bucket_policy", name)
        if not pol:
            problems.append(f"{name}: no bucket policy")
        else:
            doc_name = pol[0]["policy"].split(".")[2]  # data.aws_iam_policy_document.<name>.json
            doc = mod["data"]["aws_iam_policy_document"][doc_name]
            if not any(
                st.get("effect") == "Deny"
                and any(
                    c["variable"] == "aws:SecureTransport" and c["values"] == ["false"]
                    for c in st.get("condition", [])
                )
                for st in doc["statement"]
            ):
                problems.append(f"{name}: policy does not deny non-TLS access")
    return problems


def resolve(value: Any, mod: dict[str, Any]) -> Any:
    """Follow a bare local.<name> reference within the module."""
    if isinstance(value, str) and (m := re.fullmatch(r"local\.(\w+)", value)):
        return mod["locals"].get(m.group(1), value)
    return value


def _covers(from_port: Any, to_port: Any, port: int) -> bool:
    try:
        return int(from_port) <= port <= int(to_port)
    except (TypeError, ValueError):
        return True  # a computed port range might cover anything: count it


def world_open_violations(mod: dict[str, Any], ports: tuple[int, ...] = (22, 5000)) -> list[str]:
    res = mod["resource"]
    problems = []
    rules = []
    for name, rule in res.get("aws_vpc_security_group_ingress_rule", {}).items():
        rules.append(
            (
                name,
                rule.get("ip_protocol"),
                resolve(rule.get("from_port"), mod),
                resolve(rule.get("to_port"), mod),
                [rule.get("cidr_ipv4"), rule.get("cidr_ipv6")],
            )
        )
    for name, rule in res.get("aws_security_group_rule", {}).items():
        if rule.get("type") == "ingress":
            rules.append(
                (
                    name,
                    rule.get("protocol"),
                    rule.get("from_port"),
                    rule.get("to_port"),
                    rule.get("cidr_blocks", []) + rule.get("ipv6_cidr_blocks", []),
                )
            )
    for name, sg in res.get("aws_security_group", {}).items():
        for ing in sg.get("ingress", []):
            rules.append(
                (
                    name,
                    ing.get("protocol"),
                    ing.get("from_port"),
                    ing.get("to_port"),
                    ing.get("cidr_blocks", []) + ing.get("ipv6_cidr_blocks", []),
                )
            )
    for name, proto, lo, hi, cidrs in rules:
        if any(c in WORLD for c in cidrs if c):
            for port in ports:
                if str(proto) in {"-1", "all"} or _covers(lo, hi, port):
                    problems.append(f"{name}: port {port} open to the world")
    return problems


# --------------------------------------------------------------------------- layout and hygiene


def test_layout_has_root_and_all_modules():
    for name in ("storage", "network", "mlflow", "serving", "ci_access"):
        for f in ("main.tf", "variables.tf", "outputs.tf"):
            assert (MODULES / name / f).is_file(), f"modules/{name}/{f} missing"
    root = parse_dir(TF)
    assert set(root["module"]) == {"storage", "network", "mlflow", "serving", "ci_access"}
    for name, call in root["module"].items():
        assert call["source"] == f"./modules/{name}"


def test_provider_and_terraform_versions_pinned():
    root = parse_dir(TF)
    (tf,) = root["terraform"]
    assert tf["required_version"] == ">= 1.10.0"  # S3 native locking
    aws = one(tf["required_providers"])["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert aws["version"].startswith("~> 6.")
    assert "s3" in one(tf["backend"]), "state must live in the S3 backend"


def test_backend_example_uses_native_locking_and_no_secrets_committed():
    backend = parse_text((TF / "backend.hcl.example").read_text())
    assert backend["use_lockfile"] is True
    assert backend["encrypt"] is True
    assert "dynamodb_table" not in backend
    tfvars = parse_text((TF / "terraform.tfvars.example").read_text())
    assert not [k for k in tfvars if re.search(r"password|secret|token|access_key", k, re.I)]
    assert tfvars["github_repository"].count("/") == 1
    ignored = (REPO / ".gitignore").read_text()
    for pattern in (
        "*.tfstate",
        ".terraform/",
        "infra/terraform/backend.hcl",
        "infra/terraform/*.tfvars",
    ):
        assert pattern in ignored
    tracked = subprocess.run(
        ["git", "ls-files", "infra"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert not re.search(r"\.tfstate|/backend\.hcl$|\.tfvars$", tracked, re.M)


def test_every_variable_has_description_and_type(modules):
    for where, mod in modules.items():
        for name, var in mod["variable"].items():
            assert var.get("description"), f"{where}: variable {name} has no description"
            assert var.get("type"), f"{where}: variable {name} has no type"


def test_no_secret_variables_or_outputs(modules):
    for where, mod in modules.items():
        for name in mod["variable"]:
            # An ARN names a secret; it is not one.
            assert name.endswith("_secret_arn") or not re.search(r"password|secret", name, re.I), (
                f"{where}: variable {name} looks like a secret"
            )
        for name, out in mod["output"].items():
            value = str(out["value"])
            assert "secret_string" not in value and "password" not in value.lower(), (
                f"{where}: output {name}"
            )
    for path in TF.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"(?i)(password|secret)\s*=\s*\"[^\"$]", text), (
                f"literal secret in {path}"
            )


def test_root_outputs_wire_the_project():
    outputs = parse_dir(TF)["output"]
    for name in (
        "mlflow_instance_id",
        "mlflow_ci_secret_arn",
        "mlflow_admin_secret_arn",
        "dvc_remote_url",
        "dvc_pr_remote_url",
        "dvc_bucket",
        "mlflow_artifact_bucket",
        "batch_bucket",
        "eb_versions_bucket",
        "beanstalk_url",
        "ecr_repository_url",
        "ecr_repository_name",
        "eb_application_name",
        "eb_environment_name",
        "pull_request_role_arn",
        "pipeline_role_arn",
        "deploy_role_arn",
        "sweep_role_arn",
        "plan_role_arn",
    ):
        assert name in outputs, f"output {name} missing"
        assert outputs[name]["description"]
    assert outputs["dvc_remote_url"]["value"] == "s3://${module.storage.dvc_bucket}/dvc"


def test_variables_validate_their_inputs():
    variables = parse_dir(TF)["variable"]
    for name in (
        "project",
        "github_repository",
        "mlflow_allowed_cidrs",
        "eb_deployment_policy",
        "eb_certificate_arn",
        "deployment_profile",
        "eb_maintenance_window",
        "github_production_environment",
    ):
        assert "validation" in variables[name], f"{name} has no validation"
    assert variables["project"]["default"] == PROJECT
    policy = one(variables["eb_deployment_policy"]["validation"])["condition"]
    assert "AllAtOnce" not in policy and "Immutable" in policy


# --------------------------------------------------------------------------- storage


def test_all_buckets_have_the_security_baseline(modules):
    found = 0
    for where, mod in modules.items():
        found += len(mod["resource"].get("aws_s3_bucket", {}))
        assert bucket_violations(mod) == [], where
    assert found >= 2  # the shared bucket module and the access-log bucket


def test_bucket_module_encrypts_with_kms_and_logs_access(modules):
    bucket = modules["modules/storage/bucket"]["resource"]
    enc = one(
        one(bucket["aws_s3_bucket_server_side_encryption_configuration"]["this"]["rule"])[
            "apply_server_side_encryption_by_default"
        ]
    )
    assert enc["sse_algorithm"] == "aws:kms" and enc["kms_master_key_id"] == "var.kms_key_arn"
    assert bucket["aws_s3_bucket_logging"]["this"]["target_bucket"] == "var.access_log_bucket"


def test_storage_creates_the_project_buckets(modules):
    storage = modules["modules/storage"]
    calls = storage["module"]
    assert set(calls) == {"dvc", "mlflow", "batch", "eb_versions"}
    for call in calls.values():
        assert call["source"] == "./bucket"
        assert call["kms_key_arn"] == "aws_kms_key.data.arn"
    assert storage["resource"]["aws_kms_key"]["data"]["enable_key_rotation"] is True


# ---------------------------------------------------------------- network, security groups


def test_no_security_group_opens_ssh_or_mlflow_to_the_world(modules):
    for where, mod in modules.items():
        assert world_open_violations(mod) == [], where


def test_no_ssh_ingress_at_all(modules):
    for where, mod in modules.items():
        for name, rule in mod["resource"].get("aws_vpc_security_group_ingress_rule", {}).items():
            lo, hi = resolve(rule.get("from_port"), mod), resolve(rule.get("to_port"), mod)
            assert not _covers(lo, hi, 22), f"{where}: {name} allows SSH"
        for name, inst in mod["resource"].get("aws_instance", {}).items():
            assert "key_name" not in inst, f"{where}: {name} has an SSH key pair"


# --------------------------------------------------------------------------- MLflow


def test_rds_private_encrypted_with_managed_password(modules):
    db = modules["modules/mlflow"]["resource"]["aws_db_instance"]["this"]
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    assert db["manage_master_user_password"] is True
    assert "password" not in db and "password_wo" not in db
    assert db["db_subnet_group_name"] == "aws_db_subnet_group.this.name"
    assert db["skip_final_snapshot"] is False
    subnet_group = modules["modules/mlflow"]["resource"]["aws_db_subnet_group"]["this"]
    assert subnet_group["subnet_ids"] == "var.private_subnet_ids"
    assert (
        parse_dir(TF)["module"]["mlflow"]["private_subnet_ids"]
        == "module.network.private_subnet_ids"
    )
    params = {
        p["name"]: p["value"]
        for p in modules["modules/mlflow"]["resource"]["aws_db_parameter_group"]["this"][
            "parameter"
        ]
    }
    assert params["rds.force_ssl"] == "1"


def test_mlflow_service_command_and_wiring(modules):
    mlflow = modules["modules/mlflow"]["resource"]
    inst = mlflow["aws_instance"]["server"]
    user_data = " ".join(inst["user_data"].split())
    assert "templatefile(" in user_data and "user_data.sh.tftpl" in user_data
    assert "artifact_bucket = var.artifact_bucket" in user_data
    assert "db_secret_arn = aws_db_instance.this.master_user_secret[0].secret_arn" in user_data
    assert parse_dir(TF)["module"]["mlflow"]["artifact_bucket"] == "module.storage.mlflow_bucket"

    script = (MODULES / "mlflow" / "user_data.sh.tftpl").read_text()
    command = re.search(r"exec \S*mlflow server (.*?)\n(?!\s)", script, re.S)
    assert command, "no 'exec mlflow server' in the boot script"
    args = command.group(1)
    assert "--app-name basic-auth --host ${bind_host} --port 5000" in args
    assert '--artifacts-destination "s3://${artifact_bucket}/mlflow"' in args
    assert "--workers 1" in args
    assert '--backend-store-uri "$backend_uri"' in args
    assert 'backend_uri="postgresql+psycopg2://' in script
    assert "export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in script
    # Started by systemd on every boot, not by hand.
    assert "WantedBy=multi-user.target" in script
    assert "Restart=always" in script
    assert "systemctl enable --now mlflow.service" in script
    # The password comes from Secrets Manager at start and never sits in the URI or on disk.
    assert 'read_secret "${db_secret_arn}" password' in script
    assert "export PGPASSWORD" in script
    assert not re.search(r"psycopg2://[^\"]*:[^\"@]*@", script), "password in the backend URI"


def test_mlflow_instance_hardening_and_scoped_role(modules):
    mlflow = modules["modules/mlflow"]
    inst = mlflow["resource"]["aws_instance"]["server"]
    assert one(inst["metadata_options"])["http_tokens"] == "required"
    assert one(inst["root_block_device"])["encrypted"] is True
    attachments = mlflow["resource"]["aws_iam_role_policy_attachment"]
    assert attachments["server_ssm"]["policy_arn"].endswith("policy/AmazonSSMManagedInstanceCore")
    doc = mlflow["data"]["aws_iam_policy_document"]["server"]
    s3_resources = [
        r
        for st in doc["statement"]
        if any(a.startswith("s3:") for a in st["actions"])
        for r in st["resources"]
    ]
    assert s3_resources and all(
        r.startswith("var.artifact_bucket_arn") or r.startswith("${var.artifact_bucket_arn}")
        for r in s3_resources
    )
    assert all(r != "*" for st in doc["statement"] for r in st["resources"])


# --------------------------------------------------------------------------- serving


def test_beanstalk_health_check_matches_api_route(modules):
    serving = modules["modules/serving"]
    assert serving["locals"]["health_check_path"] == API_HEALTH_ROUTE
    env = settings(serving["resource"]["aws_elastic_beanstalk_environment"]["this"])
    assert (
        env[("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath")]
        == "local.health_check_path"
    )
    assert env[("aws:elasticbeanstalk:healthreporting:system", "SystemType")] == "enhanced"
    assert env[("aws:elasticbeanstalk:environment", "EnvironmentType")] == "LoadBalanced"
    assert env[("aws:elasticbeanstalk:environment", "LoadBalancerType")] == "application"
    assert env[("aws:elasticbeanstalk:command", "DeploymentPolicy")] == "var.deployment_policy"


def test_api_code_declares_the_health_route_when_present():
    sources = [p for d in ("src", "app") for p in (REPO / d).rglob("*.py")]
    apps = [p for p in sources if "FastAPI(" in p.read_text()]
    if not apps:
        pytest.skip("no FastAPI app in src/ or app/ yet; the Beanstalk side is checked above")
    routes = [p for p in sources if re.search(rf"""["']{API_HEALTH_ROUTE}["']""", p.read_text())]
    assert routes, f"the API must serve GET {API_HEALTH_ROUTE} (Beanstalk health check)"


def test_beanstalk_instances_private_and_imdsv2_only(modules):
    serving = modules["modules/serving"]["resource"]
    env = settings(serving["aws_elastic_beanstalk_environment"]["this"])
    assert env[("aws:ec2:vpc", "AssociatePublicIpAddress")] == "false"
    assert env[("aws:ec2:vpc", "Subnets")] == 'join(",", var.private_subnet_ids)'
    assert env[("aws:autoscaling:launchconfiguration", "DisableIMDSv1")] == "true"
    assert (
        env[("aws:autoscaling:launchconfiguration", "IamInstanceProfile")]
        == "aws_iam_instance_profile.instance.name"
    )
    doc = modules["modules/serving"]["data"]["aws_iam_policy_document"]["instance"]
    pull = next(st for st in doc["statement"] if st["sid"] == "PullAppImage")
    assert pull["resources"] == ["aws_ecr_repository.this.arn"]


def test_ecr_immutable_and_scanned(modules):
    repo = modules["modules/serving"]["resource"]["aws_ecr_repository"]["this"]
    assert repo["name"] == "var.project"
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert one(repo["image_scanning_configuration"])["scan_on_push"] is True


# --------------------------------------------------------------------------- CI access


def _trust_statements(ci: dict[str, Any], doc: str) -> list[dict[str, Any]]:
    return ci["data"]["aws_iam_policy_document"][doc]["statement"]


def subject_violations(subject_expr: str | list[str]) -> list[str]:
    """Every OIDC subject must be repo:<exactly this repo>:..., without wildcards."""
    problems = []
    if isinstance(subject_expr, list):
        subjects = subject_expr
    else:
        subjects = re.findall(r'"(repo:[^"]*)"', subject_expr) or [subject_expr]
    for s in subjects:
        if not s.startswith("repo:${var.github_repository}:"):
            problems.append(f"{s}: not limited to var.github_repository")
        if "*" in s:
            problems.append(f"{s}: wildcard")
    return problems


def test_oidc_trust_limited_to_repository(modules):
    ci = modules["modules/ci_access"]
    subjects = ci["locals"]["subjects"]
    assert subject_violations(list(subjects.values())) == []
    assert ci["locals"]["oidc_host"] == "token.actions.githubusercontent.com"
    assert (
        "[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+"
        in one(ci["variable"]["github_repository"]["validation"])["condition"]
    )


def test_deploy_role_permissions_are_scoped(modules):
    ci = modules["modules/ci_access"]
    docs = ci["data"]["aws_iam_policy_document"]
    deploy = {st["sid"]: st for st in docs["beanstalk_deploy"]["statement"]}
    assert deploy["EcrPushAppImage"]["resources"] == ["var.ecr_repository_arn"]
    assert "ecr:PutImage" in deploy["EcrPushAppImage"]["actions"]
    assert set(deploy["BeanstalkDeploy"]["actions"]) == {
        "elasticbeanstalk:CreateApplicationVersion",
        "elasticbeanstalk:UpdateEnvironment",
    }
    assert deploy["UploadAppVersionBundle"]["resources"] == ["${var.eb_versions_bucket_arn}/*"]
    for name, doc in docs.items():
        for st in doc.get("statement", []):
            if st.get("effect", "Allow") == "Allow" and st.get("resources") == ["*"]:
                assert all(
                    a == "ecr:GetAuthorizationToken" or re.search(r":(Describe|List)", a)
                    for a in st["actions"]
                ), (name, st.get("sid"))
    assert docs["mlflow_artifacts_read"]["statement"][1]["actions"] == ["s3:GetObject"]


# --------------------------------------------------------------------------- the helpers can fail

BAD_HCL = """
resource "aws_s3_bucket" "loose" {
  bucket = "x"
}
resource "aws_s3_bucket_public_access_block" "loose" {
  bucket                  = aws_s3_bucket.loose.id
  block_public_acls       = true
  block_public_policy     = false
  ignore_public_acls      = true
  restrict_public_buckets = true
}
resource "aws_security_group" "open" {
  ingress {
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
resource "aws_vpc_security_group_ingress_rule" "mlflow" {
  from_port   = 5000
  to_port     = 5000
  ip_protocol = "tcp"
  cidr_ipv4   = "0.0.0.0/0"
}
"""


def test_rule_helpers_detect_bad_configuration():
    merged = empty_module()
    add_parsed(merged, parse_text(BAD_HCL))
    problems = bucket_violations(merged)
    for expected in (
        "versioning",
        "encryption",
        "public access",
        "ACLs",
        "lifecycle",
        "bucket policy",
    ):
        assert any(expected in p for p in problems), (expected, problems)
    opened = world_open_violations(merged)
    assert "open: port 22 open to the world" in opened
    assert "mlflow: port 5000 open to the world" in opened
    assert subject_violations(["repo:${var.github_repository}:*"])
    assert subject_violations('concat(["repo:someone/else:ref:refs/heads/main"], [])')


# --------------------------------------------------------------------------- external tools


def test_terraform_fmt():
    if shutil.which("terraform") is None:
        pytest.skip("terraform binary not on PATH; the GitHub workflow runs fmt/validate")
    proc = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(TF)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_checkov_has_no_failed_checks():
    if shutil.which("checkov") is None:
        pytest.skip("checkov not on PATH (uv tool install checkov==3.3.30)")
    proc = subprocess.run(
        ["bash", str(REPO / "infra" / "checkov.sh")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "Failed checks: 0" in proc.stdout


# ---------------------------------------------------------------- references (validate would catch)


def _tf_text(directory: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))


def reference_violations(directory: Path, mod: dict[str, Any]) -> list[str]:
    """Undeclared var./local./resource/data/module references within one module."""
    text = re.sub(r"(?m)^\s*#.*$", "", _tf_text(directory))
    problems = []
    for name in set(re.findall(r"\bvar\.(\w+)", text)) - set(mod["variable"]):
        problems.append(f"var.{name} not declared")
    for name in set(re.findall(r"\blocal\.(\w+)", text)) - set(mod["locals"]):
        problems.append(f"local.{name} not declared")
    declared = {(t, n) for t, named in mod["resource"].items() for n in named}
    for rtype, name in set(re.findall(r"(?<![.\w])(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b", text)):
        if (rtype, name) not in declared:
            problems.append(f"{rtype}.{name} not declared")
    data = {(t, n) for t, named in mod["data"].items() for n in named}
    for rtype, name in set(re.findall(r"\bdata\.(aws_[a-z0-9_]+)\.([a-z0-9_]+)", text)):
        if (rtype, name) not in data:
            problems.append(f"data.{rtype}.{name} not declared")
    for name in set(re.findall(r"\bmodule\.(\w+)\.", text)) - set(mod["module"]):
        problems.append(f"module.{name} not declared")
    return problems


def test_references_resolve_in_every_module():
    for directory in module_dirs():
        assert reference_violations(directory, parse_dir(directory)) == [], directory


def test_module_calls_match_module_interfaces():
    for directory in module_dirs():
        mod = parse_dir(directory)
        text = _tf_text(directory)
        for call_name, call in mod["module"].items():
            child = parse_dir((directory / call["source"]).resolve())
            args = set(call) - {"source", "depends_on", "count", "for_each", "providers"}
            assert args <= set(child["variable"]), (
                f"{call_name}: unknown inputs {args - set(child['variable'])}"
            )
            required = {n for n, v in child["variable"].items() if "default" not in v}
            assert required <= args, f"{call_name}: missing inputs {required - args}"
            for out in set(re.findall(rf"\bmodule\.{call_name}\.(\w+)", text)):
                assert out in child["output"], f"module.{call_name}.{out} is not an output"


def test_reference_check_detects_typos(tmp_path):
    (tmp_path / "main.tf").write_text(
        'variable "a" {\n  type = string\n}\n'
        'resource "aws_s3_bucket" "b" {\n  bucket = var.typo\n}\n'
        'output "o" {\n  value = aws_s3_bucket.missing.id\n}\n'
    )
    problems = reference_violations(tmp_path, parse_dir(tmp_path))
    assert "var.typo not declared" in problems
    assert "aws_s3_bucket.missing not declared" in problems
