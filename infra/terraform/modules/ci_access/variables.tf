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
  description = "Branch whose push workflows may assume the pipeline role."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./-]+$", var.deploy_branch))
    error_message = "deploy_branch must be a plain branch name without wildcards."
  }
}

variable "production_environment" {
  description = "GitHub environment of the deploy job (deploy role subject)."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.production_environment))
    error_message = "production_environment must be a plain name without wildcards."
  }
}

variable "sweep_environment" {
  description = "GitHub environment of the sweep job (sweep role subject)."
  type        = string
  default     = "sweep"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.sweep_environment))
    error_message = "sweep_environment must be a plain name without wildcards."
  }
}

variable "plan_environment" {
  description = "GitHub environment (with required reviewers) of the terraform plan job (plan role subject)."
  type        = string
  default     = "plan"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.plan_environment))
    error_message = "plan_environment must be a plain name without wildcards."
  }
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
  description = "DVC remote bucket ARN (main's outputs under dvc/, quarantine under dvc-pr/)."
  type        = string
}

variable "mlflow_bucket_arn" {
  description = "MLflow artifact bucket ARN (read under mlflow/)."
  type        = string
}

variable "kms_key_arn" {
  description = "Data KMS key of the buckets and secrets."
  type        = string
}

variable "mlflow_instance_arn" {
  description = "ARN of the MLflow EC2 instance (target of the SSM port-forwarding session)."
  type        = string
}

variable "mlflow_ci_secret_arn" {
  description = "ARN of the Secrets Manager secret with the MLflow CI user's credentials."
  type        = string
}

variable "state_bucket" {
  description = "Name of the Terraform state bucket (read by the plan role)."
  type        = string
}

variable "state_key" {
  description = "Key of the Terraform state object in state_bucket."
  type        = string
}
