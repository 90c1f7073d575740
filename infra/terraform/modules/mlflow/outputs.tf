output "tracking_uri" {
  description = "Public MLflow URL (reachable from var.allowed_cidrs only)."
  value       = "http://${aws_eip.server.public_ip}:5000"
}

output "private_tracking_uri" {
  description = "MLflow URL inside the VPC (for members of the client security group)."
  value       = "http://${aws_instance.server.private_ip}:5000"
}

output "client_security_group_id" {
  description = "Security group to attach to in-VPC MLflow clients."
  value       = aws_security_group.clients.id
}

output "instance_id" {
  description = "EC2 instance id of the server (for SSM Session Manager)."
  value       = aws_instance.server.id
}

output "db_endpoint" {
  description = "Database host:port (no credentials)."
  value       = aws_db_instance.this.endpoint
}

output "db_secret_arn" {
  description = "ARN of the RDS-managed secret holding the database password (the value is never output)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}
