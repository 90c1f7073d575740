terraform {
  # 1.10+ for S3 native state locking (use_lockfile) in the backend.
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Partial configuration: bucket, key, region come from backend.hcl
  # (see backend.hcl.example), so no account detail is committed.
  backend "s3" {}
}
