# Certa on ECS Fargate behind an Application Load Balancer.
#
# Pieces: an ECR repository for the image, a KMS key and a Secrets Manager secret for the
# key-encryption key (CERTA_MASTER_KEY), the task definition with its environment and
# secrets, the ECS service (N stateless replicas on one PostgreSQL), CPU autoscaling,
# CloudWatch logs and alarms. The files of this module:
#   main.tf           locals, ECR, master key, logs, cluster, task definition, service
#   iam.tf            task execution role (pull, logs, secrets) and task role (KMS)
#   load_balancer.tf  ALB, listeners (HTTPS; HTTP for /pki/ and redirects), security groups
#   scaling.tf        autoscaling on CPU, alarms
#   rotation.tf       roll the tasks when RDS rotates the database secret

data "aws_region" "current" {}

locals {
  container_name = "certa"
  container_port = 8080

  # With a complete URL from a secret, that is all; otherwise the URL carries no
  # credentials and node-postgres takes PGUSER/PGPASSWORD from the RDS-managed secret
  # (which RDS rotates: see rotation.tf). TLS is verified against the RDS CA bundle.
  use_url_secret = var.database_url_secret_arn != null
  database_url   = "postgres://${var.database_host}:${var.database_port}/${var.database_name}?sslmode=verify-full&sslrootcert=${var.database_ca_bundle_path}"

  environment = merge(
    {
      CERTA_HOST            = "0.0.0.0"
      CERTA_PORT            = tostring(local.container_port)
      CERTA_PUBLIC_URL      = var.public_url
      CERTA_ADMIN_EMAIL     = var.admin_email
      CERTA_LOG_LEVEL       = var.log_level
      CERTA_DB_POOL_SIZE    = tostring(var.db_pool_size)
      CERTA_NOTIFY_INTERVAL = tostring(var.notify_interval_seconds)
      # The ALB is the only client: the caller's address comes from X-Forwarded-For.
      CERTA_TRUST_PROXY = "true"
    },
    local.use_url_secret ? tomap({}) : tomap({ CERTA_DATABASE_URL = local.database_url }),
    var.extra_environment,
  )

  database_url_secret = tomap({
    CERTA_DATABASE_URL = tostring(var.database_url_secret_arn)
  })
  database_credential_secrets = tomap({
    PGUSER     = "${var.database_secret_arn}:username::"
    PGPASSWORD = "${var.database_secret_arn}:password::"
  })

  secrets = merge(
    { CERTA_MASTER_KEY = aws_secretsmanager_secret.master_key.arn },
    local.use_url_secret ? local.database_url_secret : local.database_credential_secrets,
    var.additional_secrets,
  )

  # valueFrom may point at a JSON key (arn:...:secret:name-AbCdEf:key::); IAM wants the secret ARN.
  secret_arns = distinct([for v in values(local.secrets) : join(":", slice(split(":", v), 0, 7))])

  # Same probe as the Dockerfile's HEALTHCHECK (no curl in the image).
  healthcheck_js = "fetch('http://127.0.0.1:${local.container_port}/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
}

# ---- image -------------------------------------------------------------------------

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged layers after a week"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the last 100 releases (rollback targets)"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 100
        }
        action = { type = "expire" }
      },
    ]
  })
}

# ---- key-encryption key --------------------------------------------------------------
#
# Certa seals CA private keys and channel secrets with AES-256-GCM data keys wrapped by a
# key-encryption key (KEK). Today the KEK is CERTA_MASTER_KEY (base64, 32 bytes), kept in
# the Secrets Manager secret below, encrypted under this KMS key. The secret is created
# empty: an operator stores the value once (docs/operations/deployment.md); OpenTofu
# never sees it. When the AWS KMS KEK provider lands, the task role already holds the
# grants it needs on this key and the KEK never leaves KMS.

resource "aws_kms_key" "master" {
  description             = "${var.name}: Certa key-encryption key (CERTA_MASTER_KEY secret; KMS KEK provider)"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  tags = var.tags
}

resource "aws_kms_alias" "master" {
  name          = "alias/${var.name}-master"
  target_key_id = aws_kms_key.master.key_id
}

resource "aws_secretsmanager_secret" "master_key" {
  name                    = "${var.name}/master-key"
  description             = "CERTA_MASTER_KEY: base64 of 32 random bytes (openssl rand -base64 32). Losing it loses every CA key."
  kms_key_id              = aws_kms_key.master.arn
  recovery_window_in_days = 30

  tags = var.tags
}

# ---- logs, cluster, task, service ------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # With PostgreSQL and CERTA_MASTER_KEY set the service writes nothing to disk: the root
  # filesystem is read-only and only /tmp is writable.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = local.container_name
      image                  = var.image
      essential              = true
      readonlyRootFilesystem = true
      stopTimeout            = 30

      portMappings = [
        {
          name          = "http"
          containerPort = local.container_port
          protocol      = "tcp"
        },
      ]

      environment = [for k, v in local.environment : { name = k, value = v }]
      secrets     = [for k, v in local.secrets : { name = k, valueFrom = v }]

      mountPoints = [
        {
          sourceVolume  = "tmp"
          containerPath = "/tmp"
          readOnly      = false
        },
      ]

      healthCheck = {
        command     = ["CMD", "node", "-e", local.healthcheck_js]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }

      ulimits = [
        {
          name      = "nofile"
          softLimit = 65536
          hardLimit = 65536
        },
      ]

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = local.container_name
          mode                  = "non-blocking"
          max-buffer-size       = "25m"
        }
      }
    },
  ])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name                   = var.name
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  enable_execute_command = var.enable_execute_command
  propagate_tags         = "SERVICE"

  # Rolling deployment: new tasks must pass /readyz on the ALB before old ones stop; a
  # release that never gets healthy is rolled back.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = local.container_port
  }

  tags = var.tags

  lifecycle {
    # Autoscaling owns the running count after creation.
    ignore_changes = [desired_count]

    precondition {
      condition     = var.min_count <= var.desired_count && var.desired_count <= var.max_count
      error_message = "desired_count must lie between min_count and max_count."
    }
  }

  depends_on = [
    aws_lb_listener.https,
    aws_iam_role_policy.execution_secrets,
  ]
}
