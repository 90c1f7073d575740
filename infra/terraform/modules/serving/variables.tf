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

variable "extra_security_group_ids" {
  description = "Additional security groups for the instances (e.g. the MLflow client group)."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key encrypting ECR images and the artifact bucket."
  type        = string
}

variable "artifact_bucket_arn" {
  description = "MLflow artifact bucket ARN; instances may read mlflow/ to load registered models."
  type        = string
}

variable "model_uri" {
  description = "IMDB_SENTIMENT_MODEL: bundle path inside the image or models:/ URI."
  type        = string
}

variable "mlflow_tracking_uri" {
  description = "MLFLOW_TRACKING_URI seen by the API (the in-VPC address)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.mlflow_tracking_uri)) && !can(regex("://[^/]*@", var.mlflow_tracking_uri))
    error_message = "mlflow_tracking_uri must be an http(s) URL without credentials."
  }
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

variable "certificate_arn" {
  description = "ACM certificate ARN for an HTTPS listener; null for HTTP only."
  type        = string
  default     = null
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
