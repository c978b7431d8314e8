output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 range of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer, NAT gateways), one per AZ."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (ECS tasks, database), one per AZ."
  value       = aws_subnet.private[*].id
}

output "availability_zones" {
  description = "The availability zones in use."
  value       = local.azs
}

output "nat_public_ips" {
  description = "Public addresses outbound traffic leaves from (to allow-list Certa at webhook receivers)."
  value       = aws_eip.nat[*].public_ip
}

output "logs_kms_key_arn" {
  description = "Customer-managed KMS key for the environment's CloudWatch log groups."
  value       = aws_kms_key.logs.arn
}

output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint (null without VPC endpoints), for security-group egress to S3."
  value       = one(aws_vpc_endpoint.s3[*].prefix_list_id)
}
