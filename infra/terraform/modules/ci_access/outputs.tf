output "pull_request_role_arn" {
  description = "Role of pull-request jobs: read dvc/, read/write dvc-pr/."
  value       = aws_iam_role.pull_request.arn
}

output "pipeline_role_arn" {
  description = "Role of the pipeline job on pushes to the deploy branch: read/write dvc/, MLflow through SSM."
  value       = aws_iam_role.pipeline.arn
}

output "deploy_role_arn" {
  description = "Role of the deploy job in the production environment."
  value       = aws_iam_role.deploy.arn
}

output "sweep_role_arn" {
  description = "Role of sweep jobs in the sweep environment: data only."
  value       = aws_iam_role.sweep.arn
}

output "plan_role_arn" {
  description = "Role of the terraform plan job in the plan environment: read-only."
  value       = aws_iam_role.plan.arn
}

output "oidc_provider_arn" {
  description = "GitHub OIDC provider ARN."
  value       = local.oidc_provider_arn
}
