data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  oidc_host  = "token.actions.githubusercontent.com"

  # Exact OIDC subjects (no wildcards): pushes to the deploy branch and jobs
  # bound to the listed GitHub environments may deploy; pull requests may not.
  deploy_subjects = concat(
    ["repo:${var.github_repository}:ref:refs/heads/${var.deploy_branch}"],
    [for e in var.github_environments : "repo:${var.github_repository}:environment:${e}"],
  )
  pull_request_subjects = ["repo:${var.github_repository}:pull_request"]

  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn

  eb_app_arn = "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:application/${var.eb_application_name}"
  eb_env_arn = "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:environment/${var.eb_application_name}/${var.eb_environment_name}"
  eb_ver_arn = "arn:${var.partition}:elasticbeanstalk:${local.region}:${local.account_id}:applicationversion/${var.eb_application_name}/*"
  # Beanstalk keeps platform files and CloudFormation templates in its own bucket.
  eb_internal_bucket_arn = "arn:${var.partition}:s3:::elasticbeanstalk-${local.region}-${local.account_id}"
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

# ---------------------------------------------------------------- shared data access

# DVC remote read/write and MLflow artifact read: both roles need it
# (CML reproduces on pull requests; deploys pull the exported bundle).
data "aws_iam_policy_document" "data_access" {
  statement {
    sid       = "ListDvcRemote"
    actions   = ["s3:ListBucket"]
    resources = [var.dvc_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["dvc", "dvc/*"]
    }
  }

  statement {
    sid = "ReadWriteDvcRemote"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${var.dvc_bucket_arn}/dvc/*"]
  }

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

# ---------------------------------------------------------------- deploy role (main)

data "aws_iam_policy_document" "deploy_trust" {
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
      values   = local.deploy_subjects
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${var.project}-github-deploy"
  description          = "GitHub Actions deploys of ${var.github_repository} (${var.deploy_branch})"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "deploy" {
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
    sid = "UseDataKeyForBundles"
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

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

resource "aws_iam_role_policy" "deploy_data" {
  name   = "dvc-and-mlflow-artifacts"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.data_access.json
}

# ---------------------------------------------------------------- pull-request role (DVC/CML)

data "aws_iam_policy_document" "pull_request_trust" {
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
      values   = local.pull_request_subjects
    }
  }
}

resource "aws_iam_role" "pull_request" {
  name                 = "${var.project}-github-pr"
  description          = "GitHub Actions pull-request jobs of ${var.github_repository}: DVC remote and MLflow artifacts only"
  assume_role_policy   = data.aws_iam_policy_document.pull_request_trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "pull_request_data" {
  name   = "dvc-and-mlflow-artifacts"
  role   = aws_iam_role.pull_request.id
  policy = data.aws_iam_policy_document.data_access.json
}
