# Every output is a name, URL or ARN: no credentials. infra/README.md shows
# where each one goes (.dvc/config, GitHub variables, the SSM tunnel).

output "aws_region" {
  description = "Region of the deployment (GitHub variable AWS_REGION)."
  value       = var.aws_region
}

output "mlflow_instance_id" {
  description = "MLflow EC2 instance: target of the SSM port-forwarding tunnel (GitHub variable MLFLOW_INSTANCE_ID)."
  value       = module.mlflow.instance_id
}

output "mlflow_ci_secret_arn" {
  description = "Secret with the MLflow CI user's credentials, JSON {username, password} (GitHub variable MLFLOW_CI_SECRET_ARN)."
  value       = module.mlflow.ci_secret_arn
}

output "mlflow_admin_secret_arn" {
  description = "Secret with the MLflow admin credentials, JSON {username, password} (people only, never CI)."
  value       = module.mlflow.admin_secret_arn
}

output "mlflow_db_secret_arn" {
  description = "ARN of the Secrets Manager secret with the database password (never the value)."
  value       = module.mlflow.db_secret_arn
}

output "dvc_remote_url" {
  description = "DVC remote of main's reviewed outputs (GitHub variable DVC_REMOTE_URL; the deploy pulls from here)."
  value       = "s3://${module.storage.dvc_bucket}/dvc"
}

output "dvc_pr_remote_url" {
  description = "Quarantine DVC remote of pull-request and sweep outputs (GitHub variable DVC_PR_REMOTE_URL)."
  value       = "s3://${module.storage.dvc_bucket}/dvc-pr"
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
  description = "Public URL of the API (https in the production profile)."
  value       = module.serving.environment_url
}

output "pull_request_role_arn" {
  description = "Role of pull-request jobs: read dvc/, read/write dvc-pr/ (GitHub variable AWS_PR_ROLE_TO_ASSUME)."
  value       = module.ci_access.pull_request_role_arn
}

output "pipeline_role_arn" {
  description = "Role of the pipeline job on pushes to the deploy branch (GitHub variable AWS_PIPELINE_ROLE_TO_ASSUME)."
  value       = module.ci_access.pipeline_role_arn
}

output "deploy_role_arn" {
  description = "Role of the deploy job in the production environment (GitHub variable AWS_DEPLOY_ROLE_TO_ASSUME)."
  value       = module.ci_access.deploy_role_arn
}

output "sweep_role_arn" {
  description = "Role of sweep jobs in the sweep environment, data only (GitHub variable AWS_SWEEP_ROLE_TO_ASSUME)."
  value       = module.ci_access.sweep_role_arn
}

output "plan_role_arn" {
  description = "Read-only role of the terraform plan job in the plan environment (GitHub variable AWS_PLAN_ROLE_TO_ASSUME)."
  value       = module.ci_access.plan_role_arn
}
