# Every output is a name, URL or ARN: no credentials. The README shows where
# each one goes (.dvc/config, GitHub variables, MLFLOW_TRACKING_URI).

output "aws_region" {
  description = "Region of the deployment (GitHub variable AWS_REGION)."
  value       = var.aws_region
}

output "mlflow_tracking_uri" {
  description = "MLflow server URL for the team and CI (reachable from mlflow_allowed_cidrs)."
  value       = module.mlflow.tracking_uri
}

output "mlflow_private_tracking_uri" {
  description = "MLflow URL used inside the VPC (the API's MLFLOW_TRACKING_URI)."
  value       = module.mlflow.private_tracking_uri
}

output "mlflow_instance_id" {
  description = "MLflow EC2 instance (aws ssm start-session --target <id>)."
  value       = module.mlflow.instance_id
}

output "mlflow_db_secret_arn" {
  description = "ARN of the Secrets Manager secret with the database password (never the value)."
  value       = module.mlflow.db_secret_arn
}

output "dvc_remote_url" {
  description = "DVC remote URL: dvc remote add -d storage <this>."
  value       = "s3://${module.storage.dvc_bucket}/dvc"
}

output "dvc_bucket" {
  description = "DVC remote bucket name."
  value       = module.storage.dvc_bucket
}

output "mlflow_artifact_bucket" {
  description = "MLflow artifact bucket (artifacts under mlflow/)."
  value       = module.storage.mlflow_bucket
}

output "batch_bucket" {
  description = "Batch bucket: batch/input/, batch/output/, batch/reports/."
  value       = module.storage.batch_bucket
}

output "eb_versions_bucket" {
  description = "Bucket for Beanstalk application-version bundles (GitHub variable EB_VERSIONS_BUCKET)."
  value       = module.storage.eb_versions_bucket
}

output "ecr_repository_url" {
  description = "ECR repository URL (docker push target)."
  value       = module.serving.ecr_repository_url
}

output "ecr_repository_name" {
  description = "ECR repository name (GitHub variable ECR_REPOSITORY)."
  value       = module.serving.ecr_repository_name
}

output "eb_application_name" {
  description = "Beanstalk application (GitHub variable EB_APPLICATION)."
  value       = module.serving.application_name
}

output "eb_environment_name" {
  description = "Beanstalk environment (GitHub variable EB_ENVIRONMENT)."
  value       = module.serving.environment_name
}

output "beanstalk_url" {
  description = "Public URL of the API."
  value       = module.serving.environment_url
}

output "github_deploy_role_arn" {
  description = "Role for deploy workflows on the deploy branch (GitHub variable AWS_ROLE_TO_ASSUME)."
  value       = module.ci_access.deploy_role_arn
}

output "github_pull_request_role_arn" {
  description = "Role for pull-request workflows, DVC/CML only (GitHub variable AWS_PR_ROLE_TO_ASSUME)."
  value       = module.ci_access.pull_request_role_arn
}
