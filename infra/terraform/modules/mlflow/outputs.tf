output "instance_id" {
  description = "EC2 instance id of the server (target of SSM sessions and port forwarding)."
  value       = aws_instance.server.id
}

output "instance_arn" {
  description = "EC2 instance ARN of the server (scope of the CI roles' ssm:StartSession)."
  value       = aws_instance.server.arn
}

output "admin_secret_arn" {
  description = "Secrets Manager secret with the MLflow admin credentials (the value is never output)."
  value       = aws_secretsmanager_secret.admin.arn
}

output "ci_secret_arn" {
  description = "Secrets Manager secret with the MLflow CI user's credentials (the value is never output)."
  value       = aws_secretsmanager_secret.ci.arn
}

output "db_endpoint" {
  description = "Database host:port (no credentials)."
  value       = aws_db_instance.this.endpoint
}

output "db_secret_arn" {
  description = "ARN of the RDS-managed secret holding the database password (the value is never output)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "feedback_db_secret_arn" {
  description = "Secrets Manager secret holding the feedback database URL (the value is never output)."
  value       = aws_secretsmanager_secret.feedback_db.arn
}

output "db_security_group_id" {
  description = "Security group of the database (the API instances reach it on the DB port only)."
  value       = aws_security_group.db.id
}
