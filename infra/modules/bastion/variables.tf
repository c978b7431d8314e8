variable "name" {
  description = "Name prefix for every resource (e.g. certa-production)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC of the bastion."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet the bastion runs in (it never gets a public address)."
  type        = string
}

variable "database_security_group_id" {
  description = "Security group of the database the bastion forwards to (the database module lets the bastion's group in)."
  type        = string
}

variable "database_port" {
  description = "PostgreSQL port of the database."
  type        = number
  default     = 5432
}

variable "instance_type" {
  description = "EC2 instance type (port forwarding needs next to nothing)."
  type        = string
  default     = "t3.micro"
}

variable "architecture" {
  description = "CPU architecture of the Amazon Linux 2023 AMI, matching instance_type: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
