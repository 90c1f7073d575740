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

variable "public_subnet_id" {
  description = "Public subnet of the MLflow server."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two AZs) of the database."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "RDS needs private subnets in at least two availability zones."
  }
}

variable "allowed_cidrs" {
  description = "IPv4 CIDRs allowed on port 5000. 0.0.0.0/0 is rejected."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : can(cidrnetmask(c)) && tonumber(split("/", c)[1]) >= 8])
    error_message = "allowed_cidrs entries must be IPv4 CIDRs no wider than /8."
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
