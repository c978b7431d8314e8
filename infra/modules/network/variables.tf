variable "name" {
  description = "Name prefix for every resource (e.g. certa-production)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "cidr_block" {
  description = "IPv4 range of the VPC; split into /20 subnets (public first, private from the 9th)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && try(tonumber(split("/", var.cidr_block)[1]) <= 20, false)
    error_message = "cidr_block must be a valid IPv4 CIDR of size /20 or larger."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread subnets over (Aurora and the ALB need at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper, one AZ of failure) instead of one per AZ."
  type        = bool
  default     = false
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow logs in CloudWatch; 0 disables flow logs."
  type        = number
  default     = 90

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_days)
    error_message = "flow_logs_retention_days must be 0 or a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "enable_vpc_endpoints" {
  description = "Interface endpoints for ECR, Secrets Manager, KMS, CloudWatch Logs and Session Manager, and an S3 gateway endpoint, so AWS API traffic stays off the NAT."
  type        = bool
  default     = true
}
