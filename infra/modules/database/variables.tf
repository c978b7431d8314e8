variable "name" {
  description = "Name prefix for every resource (e.g. certa-production); also the cluster identifier."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3-42 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC the database lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs at least two subnets (two availability zones)."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on the PostgreSQL port, keyed by a stable name (e.g. { service = sg-... }). Nothing else can reach the cluster."
  type        = map(string)
}

variable "engine_version" {
  description = "Aurora PostgreSQL engine version (major.minor); the parameter group family follows the major."
  type        = string
  default     = "16.6"

  validation {
    condition     = can(regex("^1[4-9]\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be an Aurora PostgreSQL major.minor version, 14 or later (e.g. 16.6)."
  }
}

variable "database_name" {
  description = "Name of the database Certa uses."
  type        = string
  default     = "certa"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must be a lower-case PostgreSQL identifier."
  }
}

variable "master_username" {
  description = "Master user name. Its password is generated, stored and rotated by RDS in Secrets Manager (never in state)."
  type        = string
  default     = "certa_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && !contains(["postgres", "admin", "rdsadmin"], var.master_username)
    error_message = "master_username must be a lower-case identifier and not a reserved name (postgres, admin, rdsadmin)."
  }
}

variable "instance_count" {
  description = "Serverless v2 instances: 1 writer plus readers in other AZs (failover targets). 2 or more for production."
  type        = number
  default     = 2

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 15
    error_message = "instance_count must be between 1 and 15."
  }
}

variable "min_capacity" {
  description = "Minimum Aurora capacity units (ACU) per instance."
  type        = number
  default     = 0.5

  validation {
    condition     = var.min_capacity >= 0.5 && var.min_capacity <= 256
    error_message = "min_capacity must be between 0.5 and 256 ACU."
  }
}

variable "max_capacity" {
  description = "Maximum Aurora capacity units (ACU) per instance."
  type        = number
  default     = 4

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 256
    error_message = "max_capacity must be between 1 and 256 ACU."
  }
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "preferred_backup_window" {
  description = "Daily UTC window for automated backups (hh24:mi-hh24:mi)."
  type        = string
  default     = "02:00-03:00"
}

variable "preferred_maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi); must not overlap the backup window."
  type        = string
  default     = "sun:04:00-sun:05:00"
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster (turn off deliberately before destroying an environment)."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (staging only; production keeps one)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "logs_kms_key_arn" {
  description = "Customer-managed KMS key encrypting the exported PostgreSQL log group (the network module's logs key)."
  type        = string
}

variable "log_retention_days" {
  description = "CloudWatch retention of the exported PostgreSQL log."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}
