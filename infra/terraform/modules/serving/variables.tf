variable "project" {
  description = "Name of the ECR repository and Beanstalk application; prefix of roles."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "environment_name" {
  description = "Beanstalk environment name (also the default CNAME prefix)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{2,38}$", var.environment_name))
    error_message = "environment_name must be 4-40 letters, digits or hyphens."
  }
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the API instances."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key encrypting ECR images and the artifact bucket."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the API."
  type        = string
  default     = "t3.small"
}

variable "min_instances" {
  description = "Minimum instances."
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Maximum instances."
  type        = number
  default     = 2
}

variable "deployment_policy" {
  description = "Beanstalk deployment policy (Rolling, RollingWithAdditionalBatch or Immutable)."
  type        = string
  default     = "Immutable"

  validation {
    condition     = contains(["Rolling", "RollingWithAdditionalBatch", "Immutable"], var.deployment_policy)
    error_message = "deployment_policy must be Rolling, RollingWithAdditionalBatch or Immutable."
  }
}

variable "keep_images" {
  description = "Number of images ECR keeps."
  type        = number
  default     = 30

  validation {
    condition     = var.keep_images >= 5
    error_message = "keep_images must be at least 5 so rollbacks stay possible."
  }
}

variable "log_retention_days" {
  description = "Retention of streamed Beanstalk logs, in days."
  type        = number
  default     = 30
}

variable "certificate_arn" {
  description = "ACM certificate ARN of the HTTPS listener; :80 then only redirects to :443. null only with require_https = false (dev profile)."
  type        = string
  default     = null
}

variable "require_https" {
  description = "Refuse to create the environment without a certificate (production profile)."
  type        = bool
  default     = true
}

variable "access_log_bucket" {
  description = "Bucket receiving the load balancer's access logs."
  type        = string
}

variable "access_log_prefix" {
  description = "Key prefix of the access logs in access_log_bucket (the bucket policy admits ELB there)."
  type        = string
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before the WAF blocks that IP."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 10 and 2000000000 (WAF's limits)."
  }
}

variable "maintenance_window" {
  description = "Start of the weekly window for managed platform updates (Day:HH:MM, UTC)."
  type        = string
  default     = "Sun:03:00"

  validation {
    condition     = can(regex("^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like Sun:03:00."
  }
}

variable "feedback_db_secret_arn" {
  description = "Secrets Manager secret with the feedback database URL, passed to the app as IMDB_SENTIMENT_FEEDBACK_DB."
  type        = string
}

variable "feedback_db_security_group_id" {
  description = "Security group of the database holding the feedback database (egress target on 5432)."
  type        = string
}
