data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

# Regional Elastic Load Balancing account that delivers ALB access logs in
# regions opened before August 2022 (newer regions use the service principal).
data "aws_elb_service_account" "this" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  # Account id keeps the global S3 names unique without random suffixes.
  name = {
    dvc         = "${var.project}-dvc-${local.account_id}"
    mlflow      = "${var.project}-mlflow-artifacts-${local.account_id}"
    batch       = "${var.project}-batch-${local.account_id}"
    eb_versions = "${var.project}-eb-versions-${local.account_id}"
    access_logs = "${var.project}-access-logs-${local.account_id}"
  }
  # Where the load balancer writes its access logs in the access-log bucket.
  alb_log_prefix = "alb"
}

# One customer-managed key for the project's data at rest (S3, RDS, secret,
# logs, ECR): rotation on, access auditable in CloudTrail.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:Key policy: AWS's default statement delegating this key to the account's IAM policies; "*" in a key policy means this key only.
  #checkov:skip=CKV_AWS_111:Key policy: AWS's default statement delegating this key to the account's IAM policies; "*" in a key policy means this key only.
  #checkov:skip=CKV_AWS_356:Key policy: "*" in a key policy means this key only.
  statement {
    sid       = "AccountAdministersKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${var.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsInThisAccount"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${var.partition}:logs:${data.aws_region.current.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${var.project}: data at rest (S3, RDS, secrets, logs, ECR)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.project}-data"
  target_key_id = aws_kms_key.data.key_id
}

# --- Access-log bucket: receives server access logs of the other buckets. ---

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target itself; logging it to itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are audit data kept in-region; replication would double cost.
  #checkov:skip=CKV2_AWS_62:No consumer of event notifications for access logs.
  #checkov:skip=CKV_AWS_145:S3 server access logging can only deliver to SSE-S3 (AES256) buckets, not SSE-KMS.
  bucket        = local.name.access_logs
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  # S3 server access logging delivers only to SSE-S3 (AES256) buckets.
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogsFromThisAccount"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "AlbAccessLogsFromRegionalElbAccount"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/${local.alb_log_prefix}/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }

  statement {
    sid       = "AlbAccessLogsFromLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/${local.alb_log_prefix}/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.access_logs.arn,
      "${aws_s3_bucket.access_logs.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# --- Project buckets, each with the same baseline (see ./bucket). ---

module "dvc" {
  source = "./bucket"

  name                               = local.name.dvc
  kms_key_arn                        = aws_kms_key.data.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy
}

module "mlflow" {
  source = "./bucket"

  name                               = local.name.mlflow
  kms_key_arn                        = aws_kms_key.data.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy
}

module "batch" {
  source = "./bucket"

  name                               = local.name.batch
  kms_key_arn                        = aws_kms_key.data.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy
  # Scored outputs are reproducible from inputs + model; inputs and reports are kept.
  expire_prefixes = var.batch_output_expiration_days == null ? {} : {
    "batch/output/" = var.batch_output_expiration_days
  }
}

module "eb_versions" {
  source = "./bucket"

  name                               = local.name.eb_versions
  kms_key_arn                        = aws_kms_key.data.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy
}
