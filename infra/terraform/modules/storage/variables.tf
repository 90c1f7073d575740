variable "project" {
  description = "Name prefix of the buckets and the KMS alias."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current object versions are deleted."
  type        = number
  default     = 90
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 30
    error_message = "access_log_retention_days must be at least 30."
  }
}

variable "batch_output_expiration_days" {
  description = "Days after which objects under batch/output/ expire; null keeps them forever."
  type        = number
  default     = null

  validation {
    condition     = var.batch_output_expiration_days == null || try(var.batch_output_expiration_days >= 1, false)
    error_message = "batch_output_expiration_days must be null or at least 1."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty and delete the buckets (off by default to protect data)."
  type        = bool
  default     = false
}
