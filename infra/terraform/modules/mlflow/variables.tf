variable "project" {
  description = "Name prefix for MLflow resources."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "vpc_id" {
  description = "VPC of the server and database."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two AZs) of the database; the server runs in the first."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "RDS needs private subnets in at least two availability zones."
  }
}

variable "allowed_cidrs" {
  description = "Optional private IPv4 CIDRs (VPN, peered VPCs) allowed on port 5000, each /24 or narrower. Empty: only the SSM tunnel."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : can(cidrnetmask(c)) && tonumber(split("/", c)[1]) >= 24])
    error_message = "allowed_cidrs entries must be IPv4 CIDRs of /24 or narrower."
  }
}

variable "artifact_bucket" {
  description = "Name of the MLflow artifact bucket (artifacts under mlflow/)."
  type        = string
}

variable "artifact_bucket_arn" {
  description = "ARN of the MLflow artifact bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the database, its secret, Performance Insights and the root volume."
  type        = string
}

variable "mlflow_version" {
  description = "Exact MLflow version installed on the server."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.mlflow_version))
    error_message = "mlflow_version must be an exact version such as 3.17.2."
  }
}

variable "flask_wtf_version" {
  description = "Exact Flask-WTF version (CSRF protection of MLflow's basic-auth app, the mlflow[auth] extra)."
  type        = string
  default     = "1.3.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.flask_wtf_version))
    error_message = "flask_wtf_version must be an exact version such as 1.3.0."
  }
}

variable "psycopg2_version" {
  description = "Exact psycopg2-binary version installed on the server."
  type        = string
  default     = "2.9.13"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.psycopg2_version))
    error_message = "psycopg2_version must be an exact version such as 2.9.13."
  }
}

variable "boto3_version" {
  description = "Exact boto3 version installed on the server."
  type        = string
  default     = "1.43.117"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.boto3_version))
    error_message = "boto3_version must be an exact version such as 1.43.117."
  }
}

variable "instance_type" {
  description = "Graviton EC2 instance type of the server."
  type        = string
  default     = "t4g.small"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_multi_az" {
  description = "Run the database Multi-AZ."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the database from deletion."
  type        = bool
  default     = true
}

variable "feedback_client_security_group_ids" {
  description = "Security groups (the API instances') allowed to reach the database port for the feedback database."
  type        = list(string)
  default     = []
}
