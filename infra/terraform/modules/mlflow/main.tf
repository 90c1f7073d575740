data "aws_region" "current" {}

# Latest Amazon Linux 2023 (arm64) from AWS's public SSM parameter.
data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  db_port = 5432
  # Loopback only, unless private CIDRs were allowed in: the SSM tunnel lands on 127.0.0.1.
  bind_host = length(var.allowed_cidrs) > 0 ? "0.0.0.0" : "127.0.0.1"
}

# ---------------------------------------------------------------- security groups

# The server sits in a private subnet without a public address. People and CI
# reach it through an SSM port-forwarding session, which connects to
# 127.0.0.1:5000 on the instance and needs no inbound rule at all. The only
# optional ingress is from var.allowed_cidrs (private ranges reaching the VPC
# over a VPN or peering, /24 or narrower). The API instances have no path to it.
resource "aws_security_group" "server" {
  name        = "${var.project}-mlflow-server"
  description = "MLflow tracking server: no inbound except optional private CIDRs on 5000; no SSH"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "db" {
  name        = "${var.project}-mlflow-db"
  description = "MLflow PostgreSQL: port 5432 from the MLflow server only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "server_from_cidrs" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = aws_security_group.server.id
  description       = "MLflow API/UI from an allowed private CIDR"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 5000
  to_port           = 5000
}

resource "aws_vpc_security_group_egress_rule" "server_https" {
  security_group_id = aws_security_group.server.id
  description       = "HTTPS through the NAT gateway: PyPI, the RDS CA bundle and AWS APIs (SSM, Secrets Manager, S3)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "server_db" {
  security_group_id            = aws_security_group.server.id
  description                  = "PostgreSQL backend store"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
}

resource "aws_vpc_security_group_ingress_rule" "db_from_server" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the MLflow server"
  referenced_security_group_id = aws_security_group.server.id
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
}

# The feedback store (POST /feedback) is its own database and user on this
# server. This is the API instances' only path into the VPC's data tier: the DB
# port, from their security group, to this database server. MLflow itself
# stays out of their reach (its server's group has no rule for them).
resource "aws_vpc_security_group_ingress_rule" "db_from_feedback_clients" {
  for_each = toset(var.feedback_client_security_group_ids)

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the API instances (feedback database only)"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
}

# ---------------------------------------------------------------- database

resource "aws_db_subnet_group" "this" {
  name       = "${var.project}-mlflow"
  subnet_ids = var.private_subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.project}-mlflow-pg17"
  family = "postgres17"

  # Refuse unencrypted client connections.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Log schema changes and slow queries (>1 s), not every statement.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.project}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is opt-in (var.db_multi_az) because it doubles the database cost of a small reference deployment; daily backups are kept.
  identifier     = "${var.project}-mlflow"
  engine         = "postgres"
  engine_version = "17"
  instance_class = var.db_instance_class

  allocated_storage     = 20
  max_allocated_storage = 100
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_name  = "mlflow"
  username = "mlflow"
  # RDS generates the password and keeps it (and its rotation) in Secrets Manager.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  port                   = local.db_port
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.project}-mlflow-final"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
}


# ---------------------------------------------------------------- MLflow credentials

# Created empty: Terraform never knows the values, so they are in no plan or
# state. On first boot the instance generates random passwords and writes
# them here (see user_data.sh.tftpl); it also rotates them monthly.
resource "aws_secretsmanager_secret" "admin" {
  #checkov:skip=CKV2_AWS_57:Rotated by the MLflow instance (mlflow-rotate-credentials.timer, monthly and on demand): the new password must be set in MLflow's user store and the secret together, and a rotation Lambda would need the network path to MLflow that this design removes.
  name                    = "${var.project}-mlflow-admin"
  description             = "MLflow basic-auth admin credentials (JSON username/password), written by the MLflow instance"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret" "ci" {
  #checkov:skip=CKV2_AWS_57:Rotated by the MLflow instance (mlflow-rotate-credentials.timer, monthly and on demand): the new password must be set in MLflow's user store and the secret together, and a rotation Lambda would need the network path to MLflow that this design removes.
  name                    = "${var.project}-mlflow-ci"
  description             = "MLflow basic-auth CI user credentials (JSON username/password), written by the MLflow instance"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

# The feedback database's URL (postgresql+psycopg2://feedback:<password>@host/feedback),
# created empty: the MLflow instance, which already holds the master password,
# creates the database and its user on boot and writes the URL here
# (user_data.sh.tftpl). Terraform never knows the password.
resource "aws_secretsmanager_secret" "feedback_db" {
  #checkov:skip=CKV2_AWS_57:Written once by the MLflow instance with a random password; rotating it means ALTER ROLE on the database and a refresh of the Beanstalk environment (documented in docs/feedback.md), which a rotation Lambda could not do without a network path to the database.
  name                    = "${var.project}-feedback-db"
  description             = "SQLAlchemy URL of the feedback database (own database and user), written by the MLflow instance"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

# ---------------------------------------------------------------- server role

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "server" {
  name               = "${var.project}-mlflow-server"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# Session Manager replaces SSH (no key pair, no port 22) and carries the
# port-forwarding tunnel to MLflow.
resource "aws_iam_role_policy_attachment" "server_ssm" {
  role       = aws_iam_role.server.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "server" {
  statement {
    sid       = "ListArtifactPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.artifact_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["mlflow", "mlflow/*"]
    }
  }

  # No DeleteObject: a hijacked server cannot erase the registry's artifacts.
  # Overwritten versions expire by the bucket's lifecycle rule.
  statement {
    sid = "ReadWriteArtifacts"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${var.artifact_bucket_arn}/mlflow/*"]
  }

  statement {
    sid = "UseDataKeyThroughS3"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.region}.amazonaws.com"]
    }
  }

  statement {
    sid = "UseDataKeyThroughSecretsManager"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }

  statement {
    sid = "ReadDatabaseSecret"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
    ]
    resources = [aws_db_instance.this.master_user_secret[0].secret_arn]
  }

  statement {
    sid = "ManageMlflowCredentials"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = [
      aws_secretsmanager_secret.admin.arn,
      aws_secretsmanager_secret.ci.arn,
      aws_secretsmanager_secret.feedback_db.arn,
    ]
  }
}

resource "aws_iam_role_policy" "server" {
  name   = "mlflow-server"
  role   = aws_iam_role.server.id
  policy = data.aws_iam_policy_document.server.json
}

resource "aws_iam_instance_profile" "server" {
  name = "${var.project}-mlflow-server"
  role = aws_iam_role.server.name
}

# ---------------------------------------------------------------- server

resource "aws_instance" "server" {
  ami                         = data.aws_ssm_parameter.al2023_arm64.value
  instance_type               = var.instance_type
  subnet_id                   = var.private_subnet_ids[0]
  associate_public_ip_address = false
  vpc_security_group_ids      = [aws_security_group.server.id]
  iam_instance_profile        = aws_iam_instance_profile.server.name
  monitoring                  = true
  ebs_optimized               = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
    kms_key_id  = var.kms_key_arn
  }

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    mlflow_version      = var.mlflow_version
    flask_wtf_version   = var.flask_wtf_version
    psycopg2_version    = var.psycopg2_version
    boto3_version       = var.boto3_version
    region              = data.aws_region.current.region
    db_secret_arn       = aws_db_instance.this.master_user_secret[0].secret_arn
    admin_secret_arn    = aws_secretsmanager_secret.admin.arn
    ci_secret_arn       = aws_secretsmanager_secret.ci.arn
    feedback_secret_arn = aws_secretsmanager_secret.feedback_db.arn
    db_username         = aws_db_instance.this.username
    db_host             = aws_db_instance.this.address
    db_port             = local.db_port
    db_name             = aws_db_instance.this.db_name
    artifact_bucket     = var.artifact_bucket
    bind_host           = local.bind_host
  })
  user_data_replace_on_change = true

  tags = { Name = "${var.project}-mlflow" }

  lifecycle {
    # A newer AMI must not silently replace the server; roll it deliberately.
    ignore_changes = [ami]
  }

  # The server role's policy must exist before the first boot writes secrets.
  depends_on = [aws_iam_role_policy.server]
}
