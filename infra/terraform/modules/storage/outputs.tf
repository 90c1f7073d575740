output "kms_key_arn" {
  description = "ARN of the project's data KMS key."
  value       = aws_kms_key.data.arn
}

output "dvc_bucket" {
  description = "DVC remote bucket (objects under dvc/)."
  value       = module.dvc.id
}

output "dvc_bucket_arn" {
  description = "DVC remote bucket ARN."
  value       = module.dvc.arn
}

output "mlflow_bucket" {
  description = "MLflow artifact bucket (objects under mlflow/)."
  value       = module.mlflow.id
}

output "mlflow_bucket_arn" {
  description = "MLflow artifact bucket ARN."
  value       = module.mlflow.arn
}

output "batch_bucket" {
  description = "Batch bucket (batch/input/, batch/output/, batch/reports/)."
  value       = module.batch.id
}

output "batch_bucket_arn" {
  description = "Batch bucket ARN."
  value       = module.batch.arn
}

output "eb_versions_bucket" {
  description = "Bucket holding Beanstalk application-version bundles."
  value       = module.eb_versions.id
}

output "eb_versions_bucket_arn" {
  description = "Beanstalk versions bucket ARN."
  value       = module.eb_versions.arn
}

output "access_log_bucket" {
  description = "S3 server access log bucket."
  value       = aws_s3_bucket.access_logs.id
}

output "alb_log_prefix" {
  description = "Prefix of the load balancer's access logs in the access-log bucket."
  value       = local.alb_log_prefix
}
