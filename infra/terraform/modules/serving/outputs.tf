output "ecr_repository_url" {
  description = "ECR repository URL (docker push target)."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_repository_arn" {
  description = "ECR repository ARN."
  value       = aws_ecr_repository.this.arn
}

output "ecr_repository_name" {
  description = "ECR repository name."
  value       = aws_ecr_repository.this.name
}

output "application_name" {
  description = "Beanstalk application name."
  value       = aws_elastic_beanstalk_application.this.name
}

output "environment_name" {
  description = "Beanstalk environment name."
  value       = aws_elastic_beanstalk_environment.this.name
}

output "environment_url" {
  description = "Public URL of the API (load balancer CNAME)."
  value       = "${local.https ? "https" : "http"}://${aws_elastic_beanstalk_environment.this.cname}"
}

output "health_check_path" {
  description = "Path the load balancer probes."
  value       = local.health_check_path
}

output "role_arns" {
  description = "Instance and service role ARNs that a deploy passes to EC2/Beanstalk."
  value       = [aws_iam_role.instance.arn, aws_iam_role.eb_service.arn]
}

output "web_acl_arn" {
  description = "WAF web ACL associated with the load balancer."
  value       = aws_wafv2_web_acl.api.arn
}

output "instance_security_group_id" {
  description = "Security group on the API instances (source of the feedback database rule)."
  value       = aws_security_group.instances.id
}
