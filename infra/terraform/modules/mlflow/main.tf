data "aws_region" "current" {}

# Latest Amazon Linux 2023 (arm64) from AWS's public SSM parameter.
data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

locals {
  db_port = 5432
}

# ---------------------------------------------------------------- security groups

resource "aws_security_group" "server" {
  name        = "${var.project}-mlflow-server"
  description = "MLflow tracking server: port 5000 from allowed CIDRs and client SG only; no SSH"
  vpc_id      = var.vpc_id
}

# Attach this group to anything that must call MLflow from inside the VPC
# (the Beanstalk instances): the server admits it by group, not by CIDR.
resource "aws_security_group" "clients" {
  #checkov:skip=CKV2_AWS_5:Attached to the Beanstalk instances through the aws:autoscaling:launchconfiguration SecurityGroups setting, which checkov cannot follow.
  name        = "${var.project}-mlflow-clients"
  description = "Members may reach the MLflow server on port 5000"
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
  description       = "MLflow API/UI from allowed CIDR"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 5000
  to_port           = 5000
}

resource "aws_vpc_security_group_ingress_rule" "server_from_clients" {
  security_group_id            = aws_security_group.server.id
  description                  = "MLflow API from client security group"
  referenced_security_group_id = aws_security_group.clients.id
  ip_protocol                  = "tcp"
  from_port                    = 5000
  to_port                      = 5000
}

resource "aws_vpc_security_group_egress_rule" "server_https" {
  security_group_id = aws_security_group.server.id
  description       = "HTTPS to package repositories and AWS APIs (S3, Secrets Manager, SSM)"
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

resource "aws_vpc_security_group_egress_rule" "clients_to_server" {
  security_group_id            = aws_security_group.clients.id
  description                  = "MLflow API"
  referenced_security_group_id = aws_security_group.server.id
  ip_protocol                  = "tcp"
  from_port                    = 5000
  to_port                      = 5000
}

resource "aws_vpc_security_group_ingress_rule" "db_from_server" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the MLflow server"
  referenced_security_group_id = aws_security_group.server.id
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

# Session Manager replaces SSH: no key pair, no port 22.
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

  statement {
    sid = "ReadWriteArtifacts"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
    ]
    resources = ["${var.artifact_bucket_arn}/mlflow/*"]
  }

  statement {
    sid = "UseDataKey"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    resources = [var.kms_key_arn]
  }

  statement {
    sid = "ReadDatabaseSecret"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
    ]
    resources = [aws_db_instance.this.master_user_secret[0].secret_arn]
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

# Allocated before the instance so the boot script can allow its Host header.
resource "aws_eip" "server" {
  domain = "vpc"
  tags   = { Name = "${var.project}-mlflow" }
}

resource "aws_instance" "server" {
  #checkov:skip=CKV_AWS_88:MLflow must be reachable by the team and CI from outside the VPC; port 5000 is limited to var.allowed_cidrs and no other port is open.
  ami                         = data.aws_ssm_parameter.al2023_arm64.value
  instance_type               = var.instance_type
  subnet_id                   = var.public_subnet_id
  associate_public_ip_address = true # outbound access for the first boot, before the EIP is attached
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
    mlflow_version  = var.mlflow_version
    region          = data.aws_region.current.region
    db_secret_arn   = aws_db_instance.this.master_user_secret[0].secret_arn
    db_username     = aws_db_instance.this.username
    db_host         = aws_db_instance.this.address
    db_port         = local.db_port
    db_name         = aws_db_instance.this.db_name
    artifact_bucket = var.artifact_bucket
    public_ip       = aws_eip.server.public_ip
  })
  user_data_replace_on_change = true

  tags = { Name = "${var.project}-mlflow" }

  lifecycle {
    # A newer AMI must not silently replace the server; roll it deliberately.
    ignore_changes = [ami]
  }
}

resource "aws_eip_association" "server" {
  allocation_id = aws_eip.server.id
  instance_id   = aws_instance.server.id
}
