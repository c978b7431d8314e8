output "ecr_repository_url" {
  description = "ECR repository the deploy script copies the CI image into."
  value       = aws_ecr_repository.this.repository_url
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.this.name
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer (target of the public_url host record)."
  value       = aws_lb.this.dns_name
}

output "load_balancer_zone_id" {
  description = "Route 53 zone of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "Security group of the tasks (give it to the database module)."
  value       = aws_security_group.service.id
}

output "task_role_arn" {
  description = "IAM role of the running service."
  value       = aws_iam_role.task.arn
}

output "master_key_secret_arn" {
  description = "Secret that must hold CERTA_MASTER_KEY (set it once after the first apply)."
  value       = aws_secretsmanager_secret.master_key.arn
}

output "master_kms_key_arn" {
  description = "KMS key protecting the master key secret (and the future KMS KEK provider)."
  value       = aws_kms_key.master.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the service."
  value       = aws_cloudwatch_log_group.this.name
}

output "replica_bucket" {
  description = "SQLite mode: the S3 bucket Litestream replicates the database to (null in postgres mode)."
  value       = one(aws_s3_bucket.replica[*].bucket)
}

output "access_logs_bucket" {
  description = "S3 bucket holding the load balancer's access logs."
  value       = aws_s3_bucket.access_logs.bucket
}
