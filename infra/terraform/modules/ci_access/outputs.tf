output "deploy_role_arn" {
  description = "Role assumed by deploy workflows on the deploy branch."
  value       = aws_iam_role.deploy.arn
}

output "pull_request_role_arn" {
  description = "Role assumed by pull-request workflows (DVC/CML)."
  value       = aws_iam_role.pull_request.arn
}

output "oidc_provider_arn" {
  description = "GitHub OIDC provider ARN."
  value       = local.oidc_provider_arn
}
