variable "aws_region" {
  description = "AWS region for every resource of the project."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like eu-west-1."
  }
}

variable "project" {
  description = "Name prefix for all resources; also the ECR repository and Beanstalk application name."
  type        = string
  default     = "imdb-sentiment"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.project))
    error_message = "project must be 3-31 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the project VPC (two public and two private subnets are carved from it)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current object versions are deleted from the project buckets."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650
    error_message = "noncurrent_version_expiration_days must be between 1 and 3650."
  }
}

variable "mlflow_version" {
  description = "MLflow version installed on the tracking server; keep it equal to the client version in uv.lock."
  type        = string
  default     = "3.17.2"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.mlflow_version))
    error_message = "mlflow_version must be an exact version such as 3.17.2."
  }
}

variable "mlflow_instance_type" {
  description = "EC2 instance type (arm64/Graviton) of the MLflow tracking server."
  type        = string
  default     = "t4g.small"

  validation {
    condition     = can(regex("^[a-z][0-9]+g[a-z]*\\.[a-z0-9]+$", var.mlflow_instance_type))
    error_message = "mlflow_instance_type must be a Graviton (arm64) type such as t4g.small, to match the arm64 AMI."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the MLflow PostgreSQL backend store."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = startswith(var.db_instance_class, "db.")
    error_message = "db_instance_class must start with db."
  }
}

variable "db_multi_az" {
  description = "Run the MLflow database Multi-AZ (roughly doubles its cost)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the database from deletion. Set false and apply before terraform destroy."
  type        = bool
  default     = true
}

variable "eb_instance_type" {
  description = "EC2 instance type of the Beanstalk environment."
  type        = string
  default     = "t3.small"
}

variable "eb_min_instances" {
  description = "Minimum number of API instances."
  type        = number
  default     = 1

  validation {
    condition     = var.eb_min_instances >= 1
    error_message = "eb_min_instances must be at least 1."
  }
}

variable "eb_max_instances" {
  description = "Maximum number of API instances."
  type        = number
  default     = 2

  validation {
    condition     = var.eb_max_instances >= 1 && var.eb_max_instances <= 20
    error_message = "eb_max_instances must be between 1 and 20."
  }
}

variable "eb_deployment_policy" {
  description = "Beanstalk deployment policy for new application versions."
  type        = string
  default     = "Immutable"

  validation {
    condition     = contains(["Rolling", "RollingWithAdditionalBatch", "Immutable"], var.eb_deployment_policy)
    error_message = "eb_deployment_policy must be Rolling, RollingWithAdditionalBatch or Immutable (never AllAtOnce)."
  }
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may assume the CI role."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name, without wildcards."
  }
}

variable "github_deploy_branch" {
  description = "Branch whose pushes run the pipeline role (writes main's DVC outputs, registers candidates)."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./-]+$", var.github_deploy_branch)) && !strcontains(var.github_deploy_branch, "*")
    error_message = "github_deploy_branch must be a plain branch name without wildcards."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account-wide GitHub OIDC provider; false when the account already has one."
  type        = bool
  default     = true
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete non-empty buckets (all object versions). Keep false except when tearing down."
  type        = bool
  default     = false
}

variable "mlflow_allowed_cidrs" {
  description = "Optional private IPv4 CIDRs (VPN, peered VPC, self-hosted runners inside the network) allowed on MLflow's port 5000, each /24 or narrower. Default: nobody; everyone uses the SSM tunnel."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for c in var.mlflow_allowed_cidrs : can(cidrnetmask(c)) && tonumber(split("/", c)[1]) >= 24
    ])
    error_message = "Each mlflow_allowed_cidrs entry must be an IPv4 CIDR of /24 or narrower."
  }
}

variable "deployment_profile" {
  description = "production (HTTPS required: eb_certificate_arn must be set) or dev (plain HTTP on :80 allowed, for a throw-away stack)."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["production", "dev"], var.deployment_profile)
    error_message = "deployment_profile must be production or dev."
  }
}

variable "eb_certificate_arn" {
  description = "ACM certificate ARN of the API's HTTPS listener (required in the production profile); :80 then redirects to :443."
  type        = string
  default     = null

  validation {
    condition     = var.eb_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.eb_certificate_arn))
    error_message = "eb_certificate_arn must be an ACM certificate ARN or null."
  }

  validation {
    condition     = var.deployment_profile != "production" || var.eb_certificate_arn != null
    error_message = "The production profile needs eb_certificate_arn (HTTPS only). Use deployment_profile = \"dev\" for an HTTP-only test stack."
  }
}

variable "eb_maintenance_window" {
  description = "Weekly start (Day:HH:MM UTC) of Beanstalk's managed platform updates; they run only then."
  type        = string
  default     = "Sun:03:00"

  validation {
    condition     = can(regex("^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.eb_maintenance_window))
    error_message = "eb_maintenance_window must look like Sun:03:00."
  }
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before the WAF blocks that IP."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10
    error_message = "waf_rate_limit must be at least 10 (WAF's minimum)."
  }
}

variable "github_production_environment" {
  description = "GitHub environment of the deploy job; the deploy role trusts only its subject."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.github_production_environment))
    error_message = "github_production_environment must be a plain name without wildcards."
  }
}

variable "github_sweep_environment" {
  description = "GitHub environment of the sweep job; the sweep role trusts only its subject."
  type        = string
  default     = "sweep"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.github_sweep_environment))
    error_message = "github_sweep_environment must be a plain name without wildcards."
  }
}

variable "github_plan_environment" {
  description = "GitHub environment (with required reviewers) of the terraform plan job; the plan role trusts only its subject."
  type        = string
  default     = "plan"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.github_plan_environment))
    error_message = "github_plan_environment must be a plain name without wildcards."
  }
}

variable "terraform_state_bucket" {
  description = "Terraform state bucket read by the plan role; null means <project>-tfstate-<account id>, the bootstrap convention."
  type        = string
  default     = null
}

variable "terraform_state_key" {
  description = "Key of the state object (as in backend.hcl)."
  type        = string
  default     = "imdb-sentiment/terraform.tfstate"
}
