"""The AWS side read as an attacker would: private authenticated MLflow, HTTPS-only API,
pinned platform, scoped keys. Each test asserts one property on the parsed HCL."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from typing import Any

import pytest
from iam_policy import allowed, statements
from tfparse import MODULES, REPO, TF, one, parse_all, parse_dir, settings

BOOT = MODULES / "mlflow" / "user_data.sh.tftpl"


@pytest.fixture(scope="module")
def modules() -> dict[str, dict[str, Any]]:
    return parse_all()


def boot_script() -> str:
    return BOOT.read_text()


def mlflow_server_command(script: str) -> str:
    m = re.search(r"exec \S*mlflow server (.*?)\n(?!\s)", script, re.S)
    assert m, "no 'exec mlflow server' in the boot script"
    return " ".join(m.group(1).split())


# ------------------------------------------------------------------ MLflow: private


def test_mlflow_has_no_public_address(modules):
    for where, mod in modules.items():
        assert "aws_eip" not in mod["resource"] or where == "modules/network", (
            f"{where} has an Elastic IP"
        )
    nat_eips = modules["modules/network"]["resource"].get("aws_eip", {})
    assert set(nat_eips) <= {"nat"}, "only the NAT gateway may have an Elastic IP"
    inst = modules["modules/mlflow"]["resource"]["aws_instance"]["server"]
    assert inst["associate_public_ip_address"] is False
    assert inst["subnet_id"] == "var.private_subnet_ids[0]"
    assert "public_subnet_id" not in modules["modules/mlflow"]["variable"]
    assert parse_dir(TF)["module"]["mlflow"]["private_subnet_ids"] == (
        "module.network.private_subnet_ids"
    )
    # The private subnets route 0.0.0.0/0 to the NAT gateway, never the internet gateway.
    routes = modules["modules/network"]["resource"]["aws_route"]
    assert routes["private_nat"]["route_table_id"] == "aws_route_table.private.id"
    assert "gateway_id" not in routes["private_nat"]
    skipped = re.findall(r"checkov:skip=(\S+?):", "".join(p.read_text() for p in TF.rglob("*.tf")))
    assert "CKV_AWS_88" not in skipped, "the public-IP check must run, not be skipped"


def test_mlflow_is_reachable_only_by_tunnel_or_narrow_private_cidrs(modules):
    mlflow = modules["modules/mlflow"]["resource"]
    ingress = mlflow["aws_vpc_security_group_ingress_rule"]
    to_server = {
        n: r
        for n, r in ingress.items()
        if r["security_group_id"].startswith("aws_security_group.server")
    }
    assert set(to_server) == {"server_from_cidrs"}
    assert to_server["server_from_cidrs"]["for_each"] == "toset(var.allowed_cidrs)"
    assert "clients" not in mlflow["aws_security_group"], "no client security group path to MLflow"
    # With no allowed CIDR the server listens on loopback only (where the SSM tunnel lands).
    user_data = " ".join(mlflow["aws_instance"]["server"]["user_data"].split())
    assert "bind_host = local.bind_host" in user_data
    assert modules["modules/mlflow"]["locals"]["bind_host"] == (
        'length(var.allowed_cidrs) > 0 ? "0.0.0.0" : "127.0.0.1"'
    )
    assert "--host ${bind_host} --port 5000" in mlflow_server_command(boot_script())


def _cidr_rule(condition: str) -> int:
    """The minimum prefix length an HCL 'can(cidrnetmask(c)) && prefix >= N' rule demands."""
    assert "can(cidrnetmask(c))" in condition
    m = re.search(r'tonumber\(split\("/", c\)\[1\]\) >= (\d+)', condition)
    assert m, condition
    return int(m.group(1))


@pytest.mark.parametrize(
    ("cidr", "accepted"),
    [
        ("10.8.0.0/24", True),
        ("10.8.0.16/28", True),
        ("10.8.0.0/23", False),
        ("10.0.0.0/8", False),
        ("0.0.0.0/0", False),
    ],
)
def test_allowed_cidrs_must_be_24_or_narrower(cidr, accepted):
    root = one(parse_dir(TF)["variable"]["mlflow_allowed_cidrs"]["validation"])["condition"]
    module = one(parse_dir(MODULES / "mlflow")["variable"]["allowed_cidrs"]["validation"])[
        "condition"
    ]
    for condition in (root, module):
        verdict = ipaddress.ip_network(cidr).prefixlen >= _cidr_rule(condition)
        assert verdict is accepted, (cidr, condition)


# ---------------------------------------------------------- MLflow: authenticated, secrets outside state


def test_mlflow_runs_its_basic_auth_app(modules):
    script = boot_script()
    assert mlflow_server_command(script).startswith("--app-name basic-auth ")
    assert "export MLFLOW_AUTH_CONFIG_PATH=/opt/mlflow/basic_auth.ini" in script
    ini = re.search(r"<<'INI'\n(.*?)\nINI", script, re.S).group(1)
    assert "admin_username = admin" in ini
    assert "admin_password" not in ini, "the admin password must not be written to disk"
    assert "export MLFLOW_AUTH_ADMIN_PASSWORD" in script
    assert "default_permission = READ" in ini
    # The auth app refuses to start without a CSRF key: generated per start, never stored.
    assert "export MLFLOW_FLASK_SERVER_SECRET_KEY" in script
    assert 'MLFLOW_FLASK_SERVER_SECRET_KEY=$("$py" -c \'import secrets;' in script


def test_mlflow_credentials_are_generated_on_the_instance_not_in_state(modules):
    mlflow = modules["modules/mlflow"]["resource"]
    secrets_ = mlflow["aws_secretsmanager_secret"]
    assert set(secrets_) == {"admin", "ci", "feedback_db"}  # feedback_db: the feedback store URL
    for secret in secrets_.values():
        assert secret["kms_key_id"] == "var.kms_key_arn"
    for where, mod in modules.items():
        for rtype in ("aws_secretsmanager_secret_version", "random_password", "random_string"):
            assert rtype not in mod["resource"], f"{where}: {rtype} would put a secret in state"
    script = boot_script()
    assert "secrets.token_urlsafe(32)" in script
    assert "put_secret_value" in script and 'VersionStages=["AWSPENDING"]' in script
    user_data = " ".join(mlflow["aws_instance"]["server"]["user_data"].split())
    assert "admin_secret_arn = aws_secretsmanager_secret.admin.arn" in user_data
    assert "ci_secret_arn = aws_secretsmanager_secret.ci.arn" in user_data
    outputs = parse_dir(TF)["output"]
    assert outputs["mlflow_ci_secret_arn"]["value"] == "module.mlflow.ci_secret_arn"


def test_mlflow_server_role_cannot_delete_artifacts(modules):
    mlflow = modules["modules/mlflow"]
    values = {
        "var.artifact_bucket_arn": "arn:aws:s3:::mlflow-bucket",
        "var.kms_key_arn": "arn:aws:kms:eu-west-1:1:key/k",
        "data.aws_region.current.region": "eu-west-1",
        "aws_db_instance.this.master_user_secret[0].secret_arn": "arn:db-secret",
        "aws_secretsmanager_secret.admin.arn": "arn:admin",
        "aws_secretsmanager_secret.ci.arn": "arn:ci",
    }
    sts = statements(mlflow, "server", values)
    obj = "arn:aws:s3:::mlflow-bucket/mlflow/1/abc/artifacts/model.json"
    assert allowed(sts, "s3:PutObject", obj) and allowed(sts, "s3:GetObject", obj)
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration"):
        assert not allowed(sts, action, obj) and not allowed(
            sts, action, "arn:aws:s3:::mlflow-bucket"
        )
    # Overwritten versions expire by lifecycle instead (the shared bucket baseline).
    storage = modules["modules/storage"]["module"]["mlflow"]
    assert storage["source"] == "./bucket"
    rules = modules["modules/storage/bucket"]["resource"]["aws_s3_bucket_lifecycle_configuration"][
        "this"
    ]["rule"]
    assert any("noncurrent_version_expiration" in r for r in rules)


# ------------------------------------------------------------------ MLflow: database TLS, pinned packages


def test_database_connections_verify_the_rds_certificate():
    script = boot_script()
    assert "require" not in script
    # The feedback URL the API instances use verifies against the bundle the image carries.
    feedback = 'query={"sslmode": "verify-full", "sslrootcert": "/app/rds-ca-bundle.pem"}'
    assert feedback in script
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem'" in dockerfile
    assert "COPY --from=build /app/rds-ca-bundle.pem /app/rds-ca-bundle.pem" in dockerfile
    tls = "sslmode=verify-full&sslrootcert=/opt/mlflow/rds-ca-bundle.pem"
    assert f'tls="{tls}"' in script
    assert (
        'backend_uri="postgresql+psycopg2://${db_username}@${db_host}:${db_port}/${db_name}?$tls"'
        in script
    )
    assert f"/mlflow_auth?{tls}" in script  # the auth app's user store too
    assert 'sslmode="verify-full", sslrootcert="/opt/mlflow/rds-ca-bundle.pem"' in script
    assert re.search(
        r"curl -fsS --retry 5 -o /opt/mlflow/rds-ca-bundle.pem \\\n\s+"
        r'"https://truststore\.pki\.rds\.amazonaws\.com/\$\{region\}/\$\{region\}-bundle\.pem"',
        script,
    )


def test_boot_script_pins_every_package(modules):
    script = boot_script()
    installs = re.findall(r"pip install ((?:[^\n]*\\\n)*[^\n]*)", script)
    assert installs
    specs = [s for line in installs for s in re.findall(r'"([^"]+)"', line)]
    names = {re.split(r"[\[=<>!~]", s)[0].lower() for s in specs}
    assert {"mlflow", "flask-wtf", "psycopg2-binary", "boto3"} <= names
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+(\[\w+\])?==\$\{\w+\}", s) for s in specs), specs
    assert '"mlflow[auth]==${mlflow_version}"' in script, "basic-auth needs the auth extra"
    variables = modules["modules/mlflow"]["variable"]
    lock = (REPO / "uv.lock").read_text()
    for var, package in (
        ("psycopg2_version", "psycopg2-binary"),
        ("boto3_version", "boto3"),
        ("flask_wtf_version", "flask-wtf"),
    ):
        assert "validation" in variables[var]
        pinned = re.search(rf'name = "{package}"\nversion = "([^"]+)"', lock).group(1)
        assert variables[var]["default"] == pinned, f"{var} differs from uv.lock"
    root_mlflow = parse_dir(TF)["variable"]["mlflow_version"]["default"]
    assert root_mlflow == re.search(r'name = "mlflow"\nversion = "([^"]+)"', lock).group(1)


# ------------------------------------------------------------------ public endpoint


def test_api_is_https_only_with_a_redirect_from_80(modules):
    serving = modules["modules/serving"]
    env = serving["resource"]["aws_elastic_beanstalk_environment"]["this"]
    https = next(d["setting"] for d in env["dynamic"] if "setting" in d)
    assert one(https["content"])["namespace"] == "aws:elbv2:listener:443"
    for key in ("Protocol", "SSLCertificateArns", "SSLPolicy"):
        assert key in https["for_each"]
    assert '"HTTPS"' in https["for_each"] or "HTTPS" in https["for_each"]
    listener = serving["data"]["aws_lb_listener"]["http"]
    assert listener["port"] == 80
    assert listener["load_balancer_arn"] == "local.load_balancer_arn"
    rule = serving["resource"]["aws_lb_listener_rule"]["https_redirect"]
    assert rule["listener_arn"] == "data.aws_lb_listener.http[0].arn"
    assert rule["priority"] == 1
    action = one(rule["action"])
    assert action["type"] == "redirect"
    assert one(action["redirect"]) == {
        "protocol": "HTTPS",
        "port": "443",
        "status_code": "HTTP_301",
    }
    assert one(one(rule["condition"])["path_pattern"])["values"] == ["/*"]
    # Production refuses to plan without a certificate; only the dev profile may skip it.
    precondition = one(one(env["lifecycle"])["precondition"])
    assert precondition["condition"] == "local.https || !var.require_https"
    root = parse_dir(TF)
    assert root["module"]["serving"]["require_https"] == 'var.deployment_profile == "production"'
    checks = [v["condition"] for v in root["variable"]["eb_certificate_arn"]["validation"]]
    assert 'var.deployment_profile != "production" || var.eb_certificate_arn != null' in checks
    assert root["variable"]["deployment_profile"]["default"] == "production"


def test_alb_access_logs_go_to_the_logs_bucket(modules):
    env = settings(
        modules["modules/serving"]["resource"]["aws_elastic_beanstalk_environment"]["this"]
    )
    assert env[("aws:elbv2:loadbalancer", "AccessLogsS3Enabled")] == "true"
    assert env[("aws:elbv2:loadbalancer", "AccessLogsS3Bucket")] == "var.access_log_bucket"
    assert env[("aws:elbv2:loadbalancer", "AccessLogsS3Prefix")] == "var.access_log_prefix"
    call = parse_dir(TF)["module"]["serving"]
    assert call["access_log_bucket"] == "module.storage.access_log_bucket"
    assert call["access_log_prefix"] == "module.storage.alb_log_prefix"
    storage = modules["modules/storage"]
    policy = storage["data"]["aws_iam_policy_document"]["access_logs"]["statement"]
    delivery = [
        st
        for st in policy
        if st.get("effect", "Allow") == "Allow"
        and st["actions"] == ["s3:PutObject"]
        and "${local.alb_log_prefix}/AWSLogs/${local.account_id}/*" in st["resources"][0]
    ]
    principals = {p for st in delivery for p in one(st["principals"])["identifiers"]}
    assert principals == {
        "data.aws_elb_service_account.this.arn",
        "logdelivery.elasticloadbalancing.amazonaws.com",
    }


def test_waf_rate_rule_is_associated_with_the_load_balancer(modules):
    serving = modules["modules/serving"]
    acl = serving["resource"]["aws_wafv2_web_acl"]["api"]
    assert acl["scope"] == "REGIONAL"
    rate_rules = [r for r in acl["rule"] if "rate_based_statement" in one(r["statement"])]
    assert rate_rules, "no rate-based rule"
    rate = one(one(rate_rules[0]["statement"])["rate_based_statement"])
    assert rate["aggregate_key_type"] == "IP" and rate["limit"] == "var.waf_rate_limit"
    assert "block" in one(rate_rules[0]["action"])
    assoc = serving["resource"]["aws_wafv2_web_acl_association"]["api"]
    assert assoc["web_acl_arn"] == "aws_wafv2_web_acl.api.arn"
    assert assoc["resource_arn"] == "local.load_balancer_arn"
    assert serving["locals"]["load_balancer_arn"] == (
        "aws_elastic_beanstalk_environment.this.load_balancers[0]"
    )
    logging_ = serving["resource"]["aws_wafv2_web_acl_logging_configuration"]["api"]
    assert logging_["resource_arn"] == "aws_wafv2_web_acl.api.arn"


# ------------------------------------------------------------------ platform pinned


def test_platform_is_pinned_and_updates_only_in_the_window(modules):
    env = modules["modules/serving"]["resource"]["aws_elastic_beanstalk_environment"]["this"]
    assert "solution_stack_name" in one(env["lifecycle"])["ignore_changes"]
    s = settings(env)
    assert s[("aws:elasticbeanstalk:managedactions", "ManagedActionsEnabled")] == "true"
    assert (
        s[("aws:elasticbeanstalk:managedactions", "PreferredStartTime")] == "var.maintenance_window"
    )
    assert (
        s[("aws:elasticbeanstalk:managedactions:platformupdate", "InstanceRefreshEnabled")]
        == "false"
    )
    root = parse_dir(TF)
    assert root["module"]["serving"]["maintenance_window"] == "var.eb_maintenance_window"
    window = one(root["variable"]["eb_maintenance_window"]["validation"])["condition"]
    pattern = re.search(r'regex\("(.*)", var\.eb_maintenance_window\)', window).group(1)
    pattern = pattern.replace("\\\\", "\\")
    assert re.fullmatch(pattern, "Sun:03:00") and not re.fullmatch(pattern, "Sunday 3am")


# ------------------------------------------------------------------ the API has no path to MLflow


def test_api_instances_have_no_path_to_mlflow(modules):
    env = settings(
        modules["modules/serving"]["resource"]["aws_elastic_beanstalk_environment"]["this"]
    )
    # Their one extra group only identifies them to the database (feedback store): no rule
    # names the MLflow server's group, and its only egress is the database port.
    groups = env[("aws:autoscaling:launchconfiguration", "SecurityGroups")]
    assert groups == "aws_security_group.instances.id"
    serving = modules["modules/serving"]
    egress = serving["resource"]["aws_vpc_security_group_egress_rule"]
    assert [rule["security_group_id"] for rule in egress.values()] == [
        "aws_security_group.instances.id"
    ]
    (rule,) = egress.values()
    assert (rule["from_port"], rule["to_port"]) == (5432, 5432)
    assert rule["referenced_security_group_id"] == "var.feedback_db_security_group_id"
    mlflow = modules["modules/mlflow"]["resource"]
    for name, ingress in mlflow["aws_vpc_security_group_ingress_rule"].items():
        if ingress["security_group_id"] == "aws_security_group.server.id":
            assert "cidr_ipv4" in ingress, f"{name}: the MLflow server admits only private CIDRs"
    app_env = {n for (ns, n) in env if ns == "aws:elasticbeanstalk:application:environment"}
    assert not app_env & {"MLFLOW_TRACKING_URI", "IMDB_SENTIMENT_MODEL"}, (
        "instances must not resolve a registry alias at boot"
    )
    root = parse_dir(TF)
    assert "app_model_uri" not in root["variable"]
    from_mlflow = {k for k, v in root["module"]["serving"].items() if "module.mlflow" in str(v)}
    assert from_mlflow == {"feedback_db_secret_arn", "feedback_db_security_group_id"}
    values = {"var.kms_key_arn": "arn:key", "data.aws_region.current.region": "eu-west-1"}
    sts = statements(serving, "instance", values)
    assert not allowed(
        sts, "s3:GetObject", "arn:aws:s3:::imdb-sentiment-mlflow-artifacts-1/mlflow/x"
    )


# ------------------------------------------------------------------ keys


def _key_policy_docs(modules) -> set[tuple[str, str]]:
    out = set()
    for where, mod in modules.items():
        for key in mod["resource"].get("aws_kms_key", {}).values():
            m = re.fullmatch(r"data\.aws_iam_policy_document\.(\w+)\.json", key.get("policy", ""))
            if m:
                out.add((where, m.group(1)))
    return out


def kms_grants_without_via_service(modules) -> list[str]:
    key_policies = _key_policy_docs(modules)
    problems = []
    for where, mod in modules.items():
        for name, doc in mod["data"].get("aws_iam_policy_document", {}).items():
            if (where, name) in key_policies:
                continue  # a key policy: its principals are the scope
            for i, st in enumerate(doc.get("statement", [])):
                if st.get("effect", "Allow") != "Allow":
                    continue
                # Key use (Decrypt, GenerateDataKey, ...), not metadata reads.
                uses = [
                    a
                    for a in st.get("actions", [])
                    if a.lower().startswith("kms:")
                    and not a.split(":", 1)[1].startswith(("Describe", "Get", "List"))
                ]
                if not uses:
                    continue
                conds = [c["variable"] for c in st.get("condition", [])]
                if "kms:ViaService" not in conds:
                    problems.append(f"{where}: {name} statement {st.get('sid', i)}")
    return problems


def test_kms_grants_are_limited_to_their_service(modules):
    assert kms_grants_without_via_service(modules) == []
    assert _key_policy_docs(modules) == {("modules/storage", "kms")}


def test_kms_rule_detects_a_bare_grant():
    from tfparse import add_parsed, empty_module, parse_text

    mod = empty_module()
    add_parsed(
        mod,
        parse_text(
            'data "aws_iam_policy_document" "x" {\n  statement {\n    actions   = ["kms:Decrypt"]\n'
            '    resources = ["*"]\n  }\n}\n'
        ),
    )
    assert kms_grants_without_via_service({"m": mod}) == ["m: x statement 0"]


# ------------------------------------------------------------------ the boot script renders and lints


def rendered_boot_script(values: dict[str, str]) -> str:
    text = boot_script()
    assert "%{" not in text, "template directives are not expected in the boot script"
    out = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: values[m.group(1)], text)
    return out.replace("$${", "${")


def test_boot_script_template_gets_exactly_its_variables_and_fits_user_data(modules, tmp_path):
    placeholders = set(re.findall(r"(?<!\$)\$\{(\w+)\}", boot_script()))
    user_data = modules["modules/mlflow"]["resource"]["aws_instance"]["server"]["user_data"]
    passed = set(re.findall(r"(\w+)\s*=", user_data.split("{", 1)[1]))
    assert placeholders == passed
    values = {name: f"value-of-{name}" for name in placeholders}
    values.update(db_port="5432", mlflow_version="3.17.2", region="eu-west-1")
    script = rendered_boot_script(values)
    # EC2 refuses user data over 16 KB.
    assert len(script.encode()) < 16 * 1024
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not on PATH (apt-get install shellcheck)")
    path = tmp_path / "user_data.sh"
    path.write_text(script)
    done = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
