variable "project" {
  description = "Prefix of the role names."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "github_repository" {
  description = "owner/name of the repository whose workflows may assume the roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name without wildcards."
  }
}

variable "deploy_branch" {
  description = "Branch whose push workflows may assume the deploy role."
  type        = string
  default     = "main"
}

variable "github_environments" {
  description = "GitHub environments whose jobs may assume the deploy role."
  type        = list(string)
  default     = []
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider (one per account)."
  type        = bool
  default     = true
}

variable "ecr_repository_arn" {
  description = "ECR repository the deploy role pushes to."
  type        = string
}

variable "eb_application_name" {
  description = "Beanstalk application the deploy role updates."
  type        = string
}

variable "eb_environment_name" {
  description = "Beanstalk environment the deploy role updates."
  type        = string
}

variable "eb_versions_bucket_arn" {
  description = "Bucket receiving application-version bundles."
  type        = string
}

variable "eb_pass_role_arns" {
  description = "Instance and service role ARNs of the environment, which CloudFormation passes during a deploy."
  type        = list(string)
}

variable "dvc_bucket_arn" {
  description = "DVC remote bucket ARN (read/write under dvc/)."
  type        = string
}

variable "mlflow_bucket_arn" {
  description = "MLflow artifact bucket ARN (read under mlflow/)."
  type        = string
}

variable "kms_key_arn" {
  description = "Data KMS key of the buckets."
  type        = string
}
