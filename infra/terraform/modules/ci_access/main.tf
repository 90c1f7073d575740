data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  oidc_host  = "token.actions.githubusercontent.com"

  # One exact OIDC subject per role (no wildcards). Pull requests, pushes to
  # the deploy branch and each GitHub environment get different identities,
  # so no job can borrow another job's permissions.
  subjects = {
    pull_request = "repo:${var.github_repository}:pull_request"
    pipeline     = "repo:${var.github_repository}:ref:refs/heads/${var.deploy_branch}"
    deploy       = "repo:${var.github_repository}:environment:${var.production_environment}"
    sweep        = "repo:${var.github_repository}:environment:${var.sweep_environment}"
    plan         = "repo:${var.github_repository}:environment:${var.plan_environment}"
  }

  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn

  # DVC prefixes: main's reviewed outputs, and the quarantine for PR and sweep outputs.
  dvc_prefix    = "dvc"
  dvc_pr_prefix = "dvc-pr"

  eb_app_arn = "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:application/${var.eb_application_name}"
  eb_env_arn = "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:environment/${var.eb_application_name}/${var.eb_environment_name}"
  eb_ver_arn = "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:applicationversion/${var.eb_application_name}/*"
  # Beanstalk keeps platform files and CloudFormation templates in its own bucket.
  eb_internal_bucket_arn = "arn:${var.partition}:s3:::elasticbeanstalk-${local.region}-${local.account_id}"

  state_bucket_arn = "arn:${var.partition}:s3:::${var.state_bucket}"
}

# ---------------------------------------------------------------- OIDC provider

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.oidc_host}"
}

data "aws_iam_policy_document" "trust" {
  for_each = local.subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = [each.value]
    }
  }
}

# ---------------------------------------------------------------- building blocks
# Each role's policy is assembled from these documents (source_policy_documents).

# Read main's reviewed DVC outputs.
data "aws_iam_policy_document" "dvc_main_read" {
  statement {
    sid       = "ListDvcMain"
    actions   = ["s3:ListBucket"]
    resources = [var.dvc_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.dvc_prefix, "${local.dvc_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadDvcMain"
    actions   = ["s3:GetObject"]
    resources = ["${var.dvc_bucket_arn}/${local.dvc_prefix}/*"]
  }
}

# Write main's DVC outputs: only the pipeline job on the deploy branch.
data "aws_iam_policy_document" "dvc_main_write" {
  statement {
    sid       = "WriteDvcMain"
    actions   = ["s3:PutObject"]
    resources = ["${var.dvc_bucket_arn}/${local.dvc_prefix}/*"]
  }
}

# The quarantine prefix for pull requests and sweeps (never pulled by deploy).
data "aws_iam_policy_document" "dvc_pr_read_write" {
  statement {
    sid       = "ListDvcQuarantine"
    actions   = ["s3:ListBucket"]
    resources = [var.dvc_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.dvc_pr_prefix, "${local.dvc_pr_prefix}/*"]
    }
  }

  statement {
    sid = "ReadWriteDvcQuarantine"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${var.dvc_bucket_arn}/${local.dvc_pr_prefix}/*"]
  }
}

data "aws_iam_policy_document" "mlflow_artifacts_read" {
  statement {
    sid       = "ListMlflowArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [var.mlflow_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["mlflow", "mlflow/*"]
    }
  }

  statement {
    sid       = "ReadMlflowArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${var.mlflow_bucket_arn}/mlflow/*"]
  }
}

# The buckets are SSE-KMS: the key is usable only through S3.
data "aws_iam_policy_document" "s3_data_key" {
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
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

# Reach MLflow: read the CI user's credentials and open an SSM port-forwarding
# tunnel to the server (no other document, no other instance, no shell).
data "aws_iam_policy_document" "mlflow_tunnel" {
  statement {
    sid       = "ReadMlflowCiCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.mlflow_ci_secret_arn]
  }

  statement {
    sid       = "DecryptSecretThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid     = "PortForwardToMlflow"
    actions = ["ssm:StartSession"]
    resources = [
      var.mlflow_instance_arn,
      "arn:${var.partition}:ssm:${local.region}::document/AWS-StartPortForwardingSession",
    ]

    # Refuse sessions that do not name the document (a default shell session).
    condition {
      test     = "BoolIfExists"
      variable = "ssm:SessionDocumentAccessCheck"
      values   = ["true"]
    }
  }

  statement {
    sid = "EndOwnSessions"
    actions = [
      "ssm:ResumeSession",
      "ssm:TerminateSession",
    ]
    resources = ["arn:${var.partition}:ssm:${local.region}:${local.account_id}:session/*"]

    condition {
      test     = "StringLike"
      variable = "ssm:resourceTag/aws:ssmmessages:session-id"
      values   = ["&{aws:userid}"]
    }
  }
}

data "aws_iam_policy_document" "beanstalk_deploy" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"] # account-level call, cannot be scoped
    resources = ["*"]
  }

  statement {
    sid = "EcrPushAppImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImageScanFindings", # the deploy refuses HIGH/CRITICAL findings
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [var.ecr_repository_arn]
  }

  statement {
    sid = "UploadAppVersionBundle"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${var.eb_versions_bucket_arn}/*"]
  }

  statement {
    sid = "BeanstalkDeploy"
    actions = [
      "elasticbeanstalk:CreateApplicationVersion",
      "elasticbeanstalk:UpdateEnvironment",
    ]
    resources = [local.eb_app_arn, local.eb_env_arn, local.eb_ver_arn]
  }

  statement {
    sid = "BeanstalkDescribe"
    actions = [
      "elasticbeanstalk:DescribeApplicationVersions",
      "elasticbeanstalk:DescribeApplications",
      "elasticbeanstalk:DescribeEnvironmentHealth",
      "elasticbeanstalk:DescribeEnvironmentResources",
      "elasticbeanstalk:DescribeEnvironments",
      "elasticbeanstalk:DescribeEvents",
      "elasticbeanstalk:DescribeInstancesHealth",
    ]
    resources = [local.eb_app_arn, local.eb_env_arn, local.eb_ver_arn]
  }

  # UpdateEnvironment runs CloudFormation with the caller's credentials, so
  # the caller needs the stack's own actions, limited to Beanstalk's awseb-*
  # resources and its internal bucket.
  statement {
    sid = "BeanstalkStack"
    actions = [
      "cloudformation:CancelUpdateStack",
      "cloudformation:DescribeStackEvents",
      "cloudformation:DescribeStackResource",
      "cloudformation:DescribeStackResources",
      "cloudformation:DescribeStacks",
      "cloudformation:GetTemplate",
      "cloudformation:ListStackResources",
      "cloudformation:UpdateStack",
    ]
    resources = ["arn:${var.partition}:cloudformation:${local.region}:${local.account_id}:stack/awseb-*"]
  }

  statement {
    sid = "BeanstalkAutoScaling"
    actions = [
      "autoscaling:AttachInstances",
      "autoscaling:CreateAutoScalingGroup",
      "autoscaling:CreateOrUpdateTags",
      "autoscaling:DeleteAutoScalingGroup",
      "autoscaling:DetachInstances",
      "autoscaling:PutNotificationConfiguration",
      "autoscaling:ResumeProcesses",
      "autoscaling:SetDesiredCapacity",
      "autoscaling:SuspendProcesses",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
      "autoscaling:UpdateAutoScalingGroup",
    ]
    resources = ["arn:${var.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/awseb-*"]
  }

  # Launch-template and instance changes of an Immutable/Rolling deploy;
  # allowed only when CloudFormation makes them inside Beanstalk's stack update.
  statement {
    sid = "BeanstalkInstances"
    actions = [
      "ec2:CreateLaunchTemplateVersion",
      "ec2:CreateTags",
      "ec2:RunInstances",
      "ec2:TerminateInstances",
    ]
    resources = [
      "arn:${var.partition}:ec2:${local.region}::image/*",
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:instance/*",
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:launch-template/*",
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:network-interface/*",
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:security-group/*",
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:subnet/*",
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:volume/*",
    ]

    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "aws:CalledVia"
      values   = ["cloudformation.amazonaws.com"]
    }
  }

  statement {
    sid = "BeanstalkTargets"
    actions = [
      "elasticloadbalancing:DeregisterTargets",
      "elasticloadbalancing:RegisterTargets",
    ]
    resources = ["arn:${var.partition}:elasticloadbalancing:${local.region}:${local.account_id}:targetgroup/awseb-*"]
  }

  statement {
    sid = "BeanstalkReadOnly"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeScheduledActions",
      "ec2:DescribeImages",
      "ec2:DescribeInstances",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:DescribeLaunchTemplates",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
    ]
    resources = ["*"] # Describe calls cannot be resource-scoped
  }

  statement {
    sid       = "BeanstalkAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["arn:${var.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:awseb-*"]
  }

  statement {
    sid = "BeanstalkInternalBucket"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:ListBucket",
      "s3:GetBucketLocation",
    ]
    resources = [local.eb_internal_bucket_arn, "${local.eb_internal_bucket_arn}/*"]
  }

  statement {
    sid       = "PassEnvironmentRoles"
    actions   = ["iam:PassRole"]
    resources = var.eb_pass_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com", "elasticbeanstalk.amazonaws.com"]
    }
  }
}

# ---------------------------------------------------------------- pull_request role

resource "aws_iam_role" "pull_request" {
  name                 = "${var.project}-github-pr"
  description          = "Pull-request jobs of ${var.github_repository}: read main's DVC outputs, write the dvc-pr/ quarantine"
  assume_role_policy   = data.aws_iam_policy_document.trust["pull_request"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "pull_request" {
  source_policy_documents = [
    data.aws_iam_policy_document.dvc_main_read.json,
    data.aws_iam_policy_document.dvc_pr_read_write.json,
    data.aws_iam_policy_document.s3_data_key.json,
  ]
}

resource "aws_iam_role_policy" "pull_request" {
  name   = "dvc-quarantine"
  role   = aws_iam_role.pull_request.id
  policy = data.aws_iam_policy_document.pull_request.json
}

# ---------------------------------------------------------------- sweep role (data only)

resource "aws_iam_role" "sweep" {
  name                 = "${var.project}-github-sweep"
  description          = "Sweep jobs of ${var.github_repository} (environment ${var.sweep_environment}): data only"
  assume_role_policy   = data.aws_iam_policy_document.trust["sweep"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "sweep" {
  source_policy_documents = [
    data.aws_iam_policy_document.dvc_main_read.json,
    data.aws_iam_policy_document.dvc_pr_read_write.json,
    data.aws_iam_policy_document.s3_data_key.json,
  ]
}

resource "aws_iam_role_policy" "sweep" {
  name   = "dvc-quarantine"
  role   = aws_iam_role.sweep.id
  policy = data.aws_iam_policy_document.sweep.json
}

# ---------------------------------------------------------------- pipeline role (pushes to the deploy branch)

resource "aws_iam_role" "pipeline" {
  name                 = "${var.project}-github-pipeline"
  description          = "Pipeline job on ${var.deploy_branch} of ${var.github_repository}: push main's DVC outputs, register in MLflow"
  assume_role_policy   = data.aws_iam_policy_document.trust["pipeline"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "pipeline" {
  source_policy_documents = [
    data.aws_iam_policy_document.dvc_main_read.json,
    data.aws_iam_policy_document.dvc_main_write.json,
    data.aws_iam_policy_document.mlflow_artifacts_read.json,
    data.aws_iam_policy_document.mlflow_tunnel.json,
    data.aws_iam_policy_document.s3_data_key.json,
  ]
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "dvc-main-and-mlflow"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

# ---------------------------------------------------------------- deploy role (environment: production)

resource "aws_iam_role" "deploy" {
  name                 = "${var.project}-github-deploy"
  description          = "Deploy job of ${var.github_repository} in environment ${var.production_environment}"
  assume_role_policy   = data.aws_iam_policy_document.trust["deploy"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "deploy" {
  source_policy_documents = [
    data.aws_iam_policy_document.dvc_main_read.json,
    data.aws_iam_policy_document.mlflow_artifacts_read.json,
    data.aws_iam_policy_document.mlflow_tunnel.json,
    data.aws_iam_policy_document.s3_data_key.json,
    data.aws_iam_policy_document.beanstalk_deploy.json,
  ]
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

# ---------------------------------------------------------------- plan role (environment: plan)

resource "aws_iam_role" "plan" {
  name                 = "${var.project}-github-plan"
  description          = "terraform plan of ${var.github_repository} in environment ${var.plan_environment}: read-only"
  assume_role_policy   = data.aws_iam_policy_document.trust["plan"].json
  max_session_duration = 3600
}

# What `terraform plan` refreshes for this stack's resource types, and nothing
# that returns data: no object reads outside the state file, no secret values.
data "aws_iam_policy_document" "plan" {
  statement {
    sid = "ReadState"
    actions = [
      "s3:GetObject",
    ]
    resources = [
      "${local.state_bucket_arn}/${var.state_key}",
      "${local.state_bucket_arn}/${var.state_key}.tflock",
    ]
  }

  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]
  }

  # Describe/List calls that IAM cannot scope to a resource.
  statement {
    sid = "DescribeUnscoped"
    actions = [
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeFlowLogs",
      "ec2:DescribeInstanceCreditSpecifications",
      "ec2:DescribeInstances",
      "ec2:DescribeInternetGateways",
      "ec2:DescribeNatGateways",
      "ec2:DescribeNetworkAcls",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribePrefixLists",
      "ec2:DescribeRouteTables",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeTags",
      "ec2:DescribeVolumes",
      "ec2:DescribeVpcEndpoints",
      "ec2:DescribeVpcs",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTags",
      "kms:ListAliases",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid = "ReadNetworkAttributes"
    actions = [
      "ec2:DescribeInstanceAttribute",
      "ec2:DescribeVpcAttribute",
    ]
    resources = [
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:instance/*",
      "arn:${var.partition}:ec2:${local.region}:${local.account_id}:vpc/*",
    ]
  }

  statement {
    sid = "ReadProjectBuckets"
    actions = [
      "s3:GetAccelerateConfiguration",
      "s3:GetBucketAcl",
      "s3:GetBucketCORS",
      "s3:GetBucketLocation",
      "s3:GetBucketLogging",
      "s3:GetBucketObjectLockConfiguration",
      "s3:GetBucketOwnershipControls",
      "s3:GetBucketPolicy",
      "s3:GetBucketPublicAccessBlock",
      "s3:GetBucketRequestPayment",
      "s3:GetBucketTagging",
      "s3:GetBucketVersioning",
      "s3:GetBucketWebsite",
      "s3:GetEncryptionConfiguration",
      "s3:GetLifecycleConfiguration",
      "s3:GetReplicationConfiguration",
    ]
    resources = ["arn:${var.partition}:s3:::${var.project}-*"]
  }

  statement {
    sid = "ReadProjectIdentities"
    actions = [
      "iam:GetInstanceProfile",
      "iam:GetOpenIDConnectProvider",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListRolePolicies",
    ]
    resources = [
      "arn:${var.partition}:iam::${local.account_id}:role/${var.project}-*",
      "arn:${var.partition}:iam::${local.account_id}:instance-profile/${var.project}-*",
      "arn:${var.partition}:iam::${local.account_id}:oidc-provider/${local.oidc_host}",
    ]
  }

  statement {
    sid = "ReadProjectServices"
    actions = [
      "ecr:DescribeRepositories",
      "ecr:GetLifecyclePolicy",
      "ecr:GetRepositoryPolicy",
      "ecr:ListTagsForResource",
      "elasticbeanstalk:DescribeApplications",
      "elasticbeanstalk:DescribeConfigurationSettings",
      "elasticbeanstalk:DescribeEnvironmentResources",
      "elasticbeanstalk:DescribeEnvironments",
      "elasticbeanstalk:ListAvailableSolutionStacks",
      "elasticbeanstalk:ListTagsForResource",
      "kms:DescribeKey",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListResourceTags",
      "logs:ListTagsForResource",
      "rds:DescribeDBInstances",
      "rds:DescribeDBParameterGroups",
      "rds:DescribeDBParameters",
      "rds:DescribeDBSubnetGroups",
      "rds:ListTagsForResource",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetResourcePolicy",
      "ssm:GetParameter",
      "wafv2:GetLoggingConfiguration",
      "wafv2:GetWebACL",
      "wafv2:GetWebACLForResource",
      "wafv2:ListTagsForResource",
    ]
    resources = [
      "arn:${var.partition}:ecr:${local.region}:${local.account_id}:repository/${var.project}",
      "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:application/${var.project}",
      "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:environment/${var.project}/*",
      "arn:${var.partition}:elasticbeanstalk:${local.region}::solutionstack/*",
      var.kms_key_arn,
      "arn:${var.partition}:logs:${local.region}:${local.account_id}:log-group:*${var.project}*",
      "arn:${var.partition}:rds:${local.region}:${local.account_id}:db:${var.project}-*",
      "arn:${var.partition}:rds:${local.region}:${local.account_id}:pg:${var.project}-*",
      "arn:${var.partition}:rds:${local.region}:${local.account_id}:subgrp:${var.project}-*",
      "arn:${var.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.project}-*",
      "arn:${var.partition}:secretsmanager:${local.region}:${local.account_id}:secret:rds!db-*",
      "arn:${var.partition}:ssm:${local.region}::parameter/aws/service/ami-amazon-linux-latest/*",
      "arn:${var.partition}:wafv2:${local.region}:${local.account_id}:regional/webacl/${var.project}-*/*",
      "arn:${var.partition}:elasticloadbalancing:${local.region}:${local.account_id}:loadbalancer/app/awseb-*/*",
    ]
  }

  # Belt and braces: even if a statement above is widened later, the plan job
  # never reads a secret value or project data, and never opens a session.
  # (No kms:Decrypt deny: reading the state object needs the state bucket's key.)
  statement {
    sid    = "NeverReadSecretsOrData"
    effect = "Deny"
    actions = [
      "secretsmanager:GetSecretValue",
      "ssm:StartSession",
    ]
    resources = ["*"]
  }

  statement {
    sid     = "NeverReadProjectObjects"
    effect  = "Deny"
    actions = ["s3:GetObject"]
    resources = [
      "${var.dvc_bucket_arn}/*",
      "${var.mlflow_bucket_arn}/*",
      "${var.eb_versions_bucket_arn}/*",
    ]
  }
}

resource "aws_iam_role_policy" "plan" {
  name   = "terraform-plan-read-only"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.plan.json
}
