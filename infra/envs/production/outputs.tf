output "public_url" {
  description = "Base URL written into certificates."
  value       = var.public_url
}

output "load_balancer_dns_name" {
  description = "Point the public_url host at this name (done here when route53_zone_id is set)."
  value       = module.service.load_balancer_dns_name
}

output "ecr_repository_url" {
  description = "ECR repository of this environment (infra/scripts/plan.sh copies images here)."
  value       = module.service.ecr_repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster name."
  value       = module.service.cluster_name
}

output "ecs_service_name" {
  description = "ECS service name."
  value       = module.service.service_name
}

output "log_group_name" {
  description = "CloudWatch log group of the service."
  value       = module.service.log_group_name
}

output "database_cluster_identifier" {
  description = "Aurora cluster identifier (snapshots, restores)."
  value       = module.database.cluster_identifier
}

output "database_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.database.endpoint
}

output "database_secret_arn" {
  description = "RDS-managed secret with the database credentials."
  value       = module.database.master_user_secret_arn
}

output "master_key_secret_arn" {
  description = "Secret to fill once with CERTA_MASTER_KEY (openssl rand -base64 32)."
  value       = module.service.master_key_secret_arn
}

output "nat_public_ips" {
  description = "Addresses Certa's outbound traffic (webhooks, verifyEndpoint) comes from."
  value       = module.network.nat_public_ips
}

output "bastion_instance_id" {
  description = "Target of `aws ssm start-session` for port forwarding to Aurora (null without a bastion)."
  value       = one(module.bastion[*].instance_id)
}

output "bastion_access_policy_arn" {
  description = "IAM policy to attach to operators who may open port-forwarding sessions (null without a bastion)."
  value       = one(module.bastion[*].access_policy_arn)
}
