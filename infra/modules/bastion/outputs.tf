output "instance_id" {
  description = "Target of `aws ssm start-session` (port forwarding to the database)."
  value       = aws_instance.this.id
}

output "security_group_id" {
  description = "Security group of the bastion (give it to the database module's allowed_security_group_ids)."
  value       = aws_security_group.this.id
}

output "access_policy_arn" {
  description = "IAM policy to attach to the operators allowed to open port-forwarding sessions through the bastion."
  value       = aws_iam_policy.access.arn
}
