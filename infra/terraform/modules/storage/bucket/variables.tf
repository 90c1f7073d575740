variable "name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be a valid S3 bucket name."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN used for default SSE-KMS encryption."
  type        = string
}

variable "access_log_bucket" {
  description = "Name of the bucket that receives S3 server access logs."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current object versions are deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "expire_prefixes" {
  description = "Map of key prefix => days after which current objects under it expire (empty: nothing expires)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for d in values(var.expire_prefixes) : d >= 1])
    error_message = "Expiration days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket."
  type        = bool
  default     = false
}
