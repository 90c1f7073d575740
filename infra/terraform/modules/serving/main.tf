data "aws_region" "current" {}

locals {
  # The API's readiness route (GET /ready, see app/): 200 only while the model answers in time.
  health_check_path = "/ready"
  https             = var.certificate_arn != null
  # For an application load balancer Beanstalk reports the load balancer's ARN.
  load_balancer_arn = aws_elastic_beanstalk_environment.this.load_balancers[0]
}

# ---------------------------------------------------------------- image registry

resource "aws_ecr_repository" "this" {
  name                 = var.project
  image_tag_mutability = "IMMUTABLE" # a tag always means the same image; deploys are traceable

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the newest ${var.keep_images} images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.keep_images
      }
      action = { type = "expire" }
    }]
  })
}

# ---------------------------------------------------------------- roles

data "aws_iam_policy_document" "eb_service_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["elasticbeanstalk.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = ["elasticbeanstalk"]
    }
  }
}

resource "aws_iam_role" "eb_service" {
  name               = "${var.project}-eb-service"
  assume_role_policy = data.aws_iam_policy_document.eb_service_assume.json
}

resource "aws_iam_role_policy_attachment" "eb_service" {
  for_each = toset([
    "service-role/AWSElasticBeanstalkEnhancedHealth",
    "AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy",
  ])

  role       = aws_iam_role.eb_service.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/${each.value}"
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name               = "${var.project}-eb-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "instance" {
  for_each = toset([
    "AWSElasticBeanstalkWebTier",   # log and health upload of the Beanstalk agent
    "AmazonSSMManagedInstanceCore", # Session Manager instead of SSH
  ])

  role       = aws_iam_role.instance.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/${each.value}"
}

data "aws_iam_policy_document" "instance" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"] # account-level call, cannot be scoped to a repository
    resources = ["*"]
  }

  statement {
    sid = "PullAppImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.this.arn]
  }

  # The image carries its pinned bundle: the instances read no model store
  # and have no network path to MLflow.
  statement {
    sid       = "DecryptImageLayersThroughEcr"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ecr.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

# The feedback database URL: Beanstalk reads this secret at instance bootstrap
# (environmentsecrets below) with the instance role, so it is in no plain
# environment setting, no plan and no state.
data "aws_iam_policy_document" "feedback_secret" {
  statement {
    sid       = "ReadFeedbackDatabaseUrl"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.feedback_db_secret_arn]
  }

  statement {
    sid       = "DecryptThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "feedback_secret" {
  name   = "read-feedback-db-url"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.feedback_secret.json
}

# A group of our own on the instances (Beanstalk adds its default one too), so
# the database's group can name them as the only source on its port.
resource "aws_security_group" "instances" {
  #checkov:skip=CKV2_AWS_5:Attached to the instances by the Beanstalk environment (aws:autoscaling:launchconfiguration SecurityGroups below), which the check does not follow.
  name        = "${var.project}-eb-instances"
  description = "API instances: identifies them to the feedback database; no inbound rules of its own"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "instances_to_feedback_db" {
  security_group_id            = aws_security_group.instances.id
  description                  = "PostgreSQL to the feedback database"
  referenced_security_group_id = var.feedback_db_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_iam_role_policy" "instance" {
  name   = "pull-image"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.instance.json
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.project}-eb-instance"
  role = aws_iam_role.instance.name
}

# ---------------------------------------------------------------- Beanstalk

# Used only when the environment is created: afterwards solution_stack_name is
# ignored (see lifecycle below), so a new platform release never changes
# production on an apply. Managed updates move the platform inside the
# maintenance window; a major upgrade is a documented manual step (infra/README.md).
data "aws_elastic_beanstalk_solution_stack" "docker" {
  most_recent = true
  name_regex  = "^64bit Amazon Linux 2023 (.*) running Docker$"
}

resource "aws_elastic_beanstalk_application" "this" {
  name        = var.project
  description = "imdb-sentiment API (FastAPI in Docker)"

  appversion_lifecycle {
    service_role          = aws_iam_role.eb_service.arn
    max_count             = 50
    delete_source_from_s3 = true
  }
}

resource "aws_elastic_beanstalk_environment" "this" {
  #checkov:skip=CKV_AWS_312:Enhanced health is on (healthreporting:system SystemType=enhanced below); the check looks for HealthStreamingEnabled in that namespace, where Beanstalk has no such option (it is set under cloudwatch:logs:health below).
  name                = var.environment_name
  application         = aws_elastic_beanstalk_application.this.name
  solution_stack_name = data.aws_elastic_beanstalk_solution_stack.docker.name
  tier                = "WebServer"

  # --- network: load balancer public, instances private
  setting {
    namespace = "aws:ec2:vpc"
    name      = "VPCId"
    value     = var.vpc_id
  }
  setting {
    namespace = "aws:ec2:vpc"
    name      = "Subnets"
    value     = join(",", var.private_subnet_ids)
  }
  setting {
    namespace = "aws:ec2:vpc"
    name      = "ELBSubnets"
    value     = join(",", var.public_subnet_ids)
  }
  setting {
    namespace = "aws:ec2:vpc"
    name      = "ELBScheme"
    value     = "public"
  }
  setting {
    namespace = "aws:ec2:vpc"
    name      = "AssociatePublicIpAddress"
    value     = "false"
  }

  # --- instances
  setting {
    namespace = "aws:autoscaling:launchconfiguration"
    name      = "IamInstanceProfile"
    value     = aws_iam_instance_profile.instance.name
  }
  setting {
    namespace = "aws:autoscaling:launchconfiguration"
    name      = "SecurityGroups"
    value     = aws_security_group.instances.id
  }
  setting {
    namespace = "aws:elasticbeanstalk:application:environmentsecrets"
    name      = "IMDB_SENTIMENT_FEEDBACK_DB"
    value     = var.feedback_db_secret_arn
  }
  setting {
    namespace = "aws:autoscaling:launchconfiguration"
    name      = "DisableIMDSv1"
    value     = "true"
  }
  setting {
    namespace = "aws:autoscaling:launchconfiguration"
    name      = "RootVolumeType"
    value     = "gp3"
  }
  setting {
    namespace = "aws:ec2:instances"
    name      = "InstanceTypes"
    value     = var.instance_type
  }
  setting {
    namespace = "aws:autoscaling:asg"
    name      = "MinSize"
    value     = tostring(var.min_instances)
  }
  setting {
    namespace = "aws:autoscaling:asg"
    name      = "MaxSize"
    value     = tostring(var.max_instances)
  }

  # --- load balancer and health
  setting {
    namespace = "aws:elasticbeanstalk:environment"
    name      = "EnvironmentType"
    value     = "LoadBalanced"
  }
  setting {
    namespace = "aws:elasticbeanstalk:environment"
    name      = "LoadBalancerType"
    value     = "application"
  }
  setting {
    namespace = "aws:elasticbeanstalk:environment"
    name      = "ServiceRole"
    value     = aws_iam_role.eb_service.arn
  }
  setting {
    namespace = "aws:elasticbeanstalk:environment:process:default"
    name      = "HealthCheckPath"
    value     = local.health_check_path
  }
  setting {
    namespace = "aws:elasticbeanstalk:environment:process:default"
    name      = "MatcherHTTPCode"
    value     = "200"
  }
  setting {
    namespace = "aws:elasticbeanstalk:application"
    name      = "Application Healthcheck URL"
    value     = local.health_check_path
  }
  setting {
    namespace = "aws:elasticbeanstalk:healthreporting:system"
    name      = "SystemType"
    value     = "enhanced"
  }
  setting {
    namespace = "aws:elbv2:loadbalancer"
    name      = "DropInvalidHeaderFields"
    value     = "true"
  }

  # ALB access logs to the access-log bucket (SSE-S3, the only kind ALB writes to).
  setting {
    namespace = "aws:elbv2:loadbalancer"
    name      = "AccessLogsS3Enabled"
    value     = "true"
  }
  setting {
    namespace = "aws:elbv2:loadbalancer"
    name      = "AccessLogsS3Bucket"
    value     = var.access_log_bucket
  }
  setting {
    namespace = "aws:elbv2:loadbalancer"
    name      = "AccessLogsS3Prefix"
    value     = var.access_log_prefix
  }

  # HTTPS listener; :80 only redirects to it (aws_lb_listener_rule.https_redirect).
  dynamic "setting" {
    for_each = local.https ? {
      ListenerEnabled    = "true"
      Protocol           = "HTTPS"
      SSLCertificateArns = var.certificate_arn
      SSLPolicy          = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    } : {}
    content {
      namespace = "aws:elbv2:listener:443"
      name      = setting.key
      value     = setting.value
    }
  }

  # --- deployments and platform updates
  setting {
    namespace = "aws:elasticbeanstalk:command"
    name      = "DeploymentPolicy"
    value     = var.deployment_policy
  }
  setting {
    namespace = "aws:autoscaling:updatepolicy:rollingupdate"
    name      = "RollingUpdateType"
    value     = "Immutable"
  }
  setting {
    namespace = "aws:elasticbeanstalk:managedactions"
    name      = "ManagedActionsEnabled"
    value     = "true"
  }
  setting {
    namespace = "aws:elasticbeanstalk:managedactions"
    name      = "PreferredStartTime"
    value     = var.maintenance_window
  }
  setting {
    namespace = "aws:elasticbeanstalk:managedactions:platformupdate"
    name      = "UpdateLevel"
    value     = "minor"
  }
  setting {
    namespace = "aws:elasticbeanstalk:managedactions:platformupdate"
    name      = "InstanceRefreshEnabled"
    value     = "false"
  }

  # --- logs
  setting {
    namespace = "aws:elasticbeanstalk:cloudwatch:logs"
    name      = "StreamLogs"
    value     = "true"
  }
  setting {
    namespace = "aws:elasticbeanstalk:cloudwatch:logs"
    name      = "RetentionInDays"
    value     = tostring(var.log_retention_days)
  }

  setting {
    namespace = "aws:elasticbeanstalk:cloudwatch:logs:health"
    name      = "HealthStreamingEnabled"
    value     = "true"
  }

  # No application settings here: the image carries its pinned model bundle
  # and its settings, so no instance resolves a registry alias at boot.

  lifecycle {
    # Pinned after creation: platform changes come from managed updates in
    # the maintenance window or the documented upgrade step, never an apply.
    ignore_changes = [solution_stack_name]

    precondition {
      condition     = local.https || !var.require_https
      error_message = "certificate_arn is required when require_https is true (the production profile)."
    }
  }
}

# ---------------------------------------------------------------- HTTPS redirect

# Beanstalk owns the :80 listener; this rule (priority 1, every path) turns
# it into a permanent redirect to HTTPS.
data "aws_lb_listener" "http" {
  count = local.https ? 1 : 0

  load_balancer_arn = local.load_balancer_arn
  port              = 80
}

resource "aws_lb_listener_rule" "https_redirect" {
  count = local.https ? 1 : 0

  listener_arn = data.aws_lb_listener.http[0].arn
  priority     = 1

  action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }
}

# ---------------------------------------------------------------- WAF

resource "aws_wafv2_web_acl" "api" {
  name        = "${var.project}-api"
  description = "Rate limit per client IP and known-bad inputs for the public API"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit
        aggregate_key_type    = "IP"
        evaluation_window_sec = 300
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.project}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 1

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.project}-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.project}-api"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  resource_arn = local.load_balancer_arn
  web_acl_arn  = aws_wafv2_web_acl.api.arn
}

# WAF log group names must start with aws-waf-logs-.
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.project}-api"
  retention_in_days = 365
  kms_key_id        = var.kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "api" {
  resource_arn            = aws_wafv2_web_acl.api.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  # Clients' credentials stay out of the logs.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}
