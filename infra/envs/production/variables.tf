variable "aws_region" {
  description = "AWS region of the environment."
  type        = string
  default     = "eu-west-3"
}

variable "aws_account_id" {
  description = "The only AWS account this environment may be applied to."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be a 12-digit AWS account id."
  }
}

variable "image" {
  description = "Container image to run, pinned by digest (set by infra/scripts/plan.sh)."
  type        = string
}

variable "public_url" {
  description = "CERTA_PUBLIC_URL, e.g. http://pki.example.com: written into every certificate (CRL, OCSP, CA issuers), so it must stay stable for the life of the certificates."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener, covering the host of public_url."
  type        = string
}

variable "admin_email" {
  description = "First-start admin account (CERTA_ADMIN_EMAIL)."
  type        = string
  default     = "admin@certa.local"
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone in which to create the public_url host record (alias to the load balancer); null to manage DNS elsewhere."
  type        = string
  default     = null
}

variable "load_balancer_internal" {
  description = "Internal load balancer (private subnets) rather than internet-facing (public subnets)."
  type        = bool
  default     = true
}

variable "ingress_cidr_blocks" {
  description = "IPv4 ranges allowed to reach the load balancer (clients of the API and relying parties fetching CRLs and OCSP answers)."
  type        = list(string)
  default     = ["10.0.0.0/8"]
}

variable "vpc_cidr_block" {
  description = "IPv4 range of the environment's VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "alarm_topic_arn" {
  description = "SNS topic receiving the CloudWatch alarms; null for no alarms."
  type        = string
  default     = null
}

variable "enable_bastion" {
  description = "Bastion for port forwarding to Aurora through SSM Session Manager (off in production until a migration or an incident needs it)."
  type        = bool
  default     = false
}
