variable "name" {
  description = "Name prefix for every resource (e.g. certa-production); also the ECR repository, cluster and service name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,24}[a-z0-9]$", var.name))
    error_message = "name must be 3-26 lower-case letters, digits or dashes, starting with a letter (load balancer names are short)."
  }
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets the Fargate tasks run in (no public IP; outbound through NAT)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs at least two subnets (two availability zones)."
  }
}

variable "load_balancer_subnet_ids" {
  description = "Subnets of the load balancer: public subnets for an internet-facing one, private subnets for an internal one."
  type        = list(string)

  validation {
    condition     = length(var.load_balancer_subnet_ids) >= 2
    error_message = "load_balancer_subnet_ids needs at least two subnets (two availability zones)."
  }
}

variable "load_balancer_internal" {
  description = "Internal load balancer (reachable from the VPC and peered networks only). Relying parties must still reach /pki/ (CRL, OCSP, CA certificates)."
  type        = bool
  default     = true
}

variable "ingress_cidr_blocks" {
  description = "IPv4 ranges allowed to reach the load balancer on ports 80 and 443."
  type        = list(string)
  default     = ["10.0.0.0/8"]

  validation {
    condition     = length(var.ingress_cidr_blocks) > 0 && alltrue([for c in var.ingress_cidr_blocks : can(cidrnetmask(c))])
    error_message = "ingress_cidr_blocks must be a non-empty list of IPv4 CIDR ranges."
  }
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener (covers the host name of public_url)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "load_balancer_deletion_protection" {
  description = "Refuse to delete the load balancer (its DNS name is in every certificate's CRL/OCSP URLs through public_url)."
  type        = bool
  default     = true
}

variable "image" {
  description = "Container image, preferably pinned by digest (repo@sha256:...); the deploy script passes the ECR copy of the CI build."
  type        = string

  validation {
    condition     = length(trimspace(var.image)) > 0 && !endswith(var.image, ":latest")
    error_message = "image must be set and must not be a moving :latest tag."
  }
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB (must be valid for the chosen cpu)."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be between 512 and 122880 MiB."
  }
}

variable "desired_count" {
  description = "Tasks at creation; afterwards autoscaling owns the count (between min_count and max_count)."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 1
    error_message = "desired_count must be at least 1."
  }
}

variable "min_count" {
  description = "Fewest tasks autoscaling keeps (2 or more spreads the service over two AZs)."
  type        = number
  default     = 2

  validation {
    condition     = var.min_count >= 1
    error_message = "min_count must be at least 1."
  }
}

variable "max_count" {
  description = "Most tasks autoscaling starts. Every task opens up to db_pool_size connections: keep max_count * db_pool_size under the database's connection limit."
  type        = number
  default     = 6

  validation {
    condition     = var.max_count >= 1 && var.max_count <= 100
    error_message = "max_count must be between 1 and 100."
  }
}

variable "cpu_target_percent" {
  description = "Average service CPU utilisation autoscaling aims for."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "public_url" {
  description = "CERTA_PUBLIC_URL: externally reachable base URL written into certificates (CRL distribution point, OCSP, CA issuers). Plain http:// is conventional for those URLs; the HTTP listener serves /pki/ for that reason."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/]+$", var.public_url))
    error_message = "public_url must be an absolute http(s) URL without a path or trailing slash."
  }
}

variable "admin_email" {
  description = "CERTA_ADMIN_EMAIL: the admin created on the first start with an empty database."
  type        = string
  default     = "admin@certa.local"

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+$", var.admin_email))
    error_message = "admin_email must be an email address."
  }
}

variable "log_level" {
  description = "CERTA_LOG_LEVEL."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["fatal", "error", "warn", "info", "debug", "trace", "silent"], var.log_level)
    error_message = "log_level must be one of fatal, error, warn, info, debug, trace, silent."
  }
}

variable "db_pool_size" {
  description = "CERTA_DB_POOL_SIZE: PostgreSQL connections per task."
  type        = number
  default     = 10

  validation {
    condition     = var.db_pool_size >= 1 && var.db_pool_size <= 100
    error_message = "db_pool_size must be between 1 and 100."
  }
}

variable "notify_interval_seconds" {
  description = "CERTA_NOTIFY_INTERVAL: seconds between expiry sweeps (coordinated through the database, so N tasks sweep once)."
  type        = number
  default     = 300

  validation {
    condition     = var.notify_interval_seconds >= 1 && var.notify_interval_seconds <= 604800
    error_message = "notify_interval_seconds must be between 1 and 604800."
  }
}

variable "extra_environment" {
  description = "Further non-secret CERTA_* settings (e.g. CERTA_VERIFY_ALLOW); they win over the module's values."
  type        = map(string)
  default     = {}
}

variable "additional_secrets" {
  description = "Further environment variables read from Secrets Manager, name => secret ARN (optionally ARN:json-key::), e.g. CERTA_ADMIN_PASSWORD or CERTA_PREVIOUS_MASTER_KEYS during a KEK rotation."
  type        = map(string)
  default     = {}
}

variable "database_host" {
  description = "Postgres mode: PostgreSQL host (the Aurora writer endpoint)."
  type        = string
  default     = null
}

variable "database_port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}

variable "database_name" {
  description = "Postgres mode: PostgreSQL database name."
  type        = string
  default     = null
}

variable "database_secret_arn" {
  description = "Postgres mode: Secrets Manager secret with JSON keys username and password (the RDS-managed master secret); injected as PGUSER/PGPASSWORD, which node-postgres reads when CERTA_DATABASE_URL carries no credentials."
  type        = string
  default     = null
}

variable "database_url_secret_arn" {
  description = "Optional secret holding a complete CERTA_DATABASE_URL (e.g. for a dedicated application role); when set it replaces the URL built from database_host and the PGUSER/PGPASSWORD pair."
  type        = string
  default     = null
}

variable "database_ca_bundle_path" {
  description = "Path, inside the image, of the CA bundle that verifies the database's TLS certificate (the Dockerfile installs the Amazon RDS bundle there)."
  type        = string
  default     = "/etc/ssl/certs/rds-global-bundle.pem"
}

variable "secret_kms_key_arns" {
  description = "KMS keys encrypting the secrets above (e.g. the database module's key); the task execution role may decrypt with them."
  type        = list(string)
  default     = []
}

variable "restart_on_database_secret_rotation" {
  description = "Roll the tasks when RDS rotates the master secret (secrets are injected at task start). Needs CloudTrail events in EventBridge."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "CloudWatch retention of the service logs (audit-relevant: keep long enough for investigations)."
  type        = number
  default     = 400

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, ...)."
  }
}

variable "metrics_scraper_security_group_ids" {
  description = "Security groups (e.g. a Prometheus in the VPC) allowed to scrape /metrics on the tasks directly, keyed by a stable name. The load balancer never forwards /metrics."
  type        = map(string)
  default     = {}
}

variable "enable_execute_command" {
  description = "Allow `aws ecs execute-command` into running tasks (break-glass debugging; audited in CloudTrail)."
  type        = bool
  default     = false
}

variable "alarm_topic_arn" {
  description = "SNS topic for CloudWatch alarms (5xx answers, unhealthy targets, CPU at the autoscaling ceiling); null creates no alarms."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "logs_kms_key_arn" {
  description = "Customer-managed KMS key encrypting the service's log group (the network module's logs key)."
  type        = string
}

variable "access_logs_retention_days" {
  description = "Days the load balancer's access logs are kept in their bucket."
  type        = number
  default     = 400

  validation {
    condition     = var.access_logs_retention_days >= 1
    error_message = "access_logs_retention_days must be at least 1."
  }
}

variable "database_mode" {
  description = "postgres: N stateless tasks on Aurora (the default). sqlite: exactly one task on embedded SQLite, replicated to S3 by a Litestream sidecar and restored on start (sqlite.tf)."
  type        = string
  default     = "postgres"

  validation {
    condition     = contains(["postgres", "sqlite"], var.database_mode)
    error_message = "database_mode must be postgres or sqlite."
  }
}

variable "litestream_image" {
  description = "SQLite mode: the Litestream image of the restore and replicate containers (mirror it into ECR and pin it by digest for production)."
  type        = string
  default     = "docker.io/litestream/litestream:0.3.13"

  validation {
    condition     = length(trimspace(var.litestream_image)) > 0 && !endswith(var.litestream_image, ":latest")
    error_message = "litestream_image must be set and must not be a moving :latest tag."
  }
}

variable "replica_noncurrent_days" {
  description = "SQLite mode: days overwritten or deleted replica objects stay recoverable as previous versions."
  type        = number
  default     = 30

  validation {
    condition     = var.replica_noncurrent_days >= 1
    error_message = "replica_noncurrent_days must be at least 1."
  }
}
