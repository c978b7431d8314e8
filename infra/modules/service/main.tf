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
#   access_logs.tf    the load balancer's access logs bucket
#   sqlite.tf         the single-task SQLite variant: Litestream sidecar, replica bucket

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  container_name = "certa"
  container_port = 8080

  account_id   = data.aws_caller_identity.current.account_id
  account_root = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"
  postgres     = var.database_mode == "postgres"
  sqlite       = var.database_mode == "sqlite"

  # Administration without use (the default key policy would let any IAM policy of the
  # account use the key): PutKeyPolicy stays so the key can never be locked out.
  kms_admin_actions = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
  ]

  # With a complete URL from a secret, that is all; otherwise the URL carries no
  # credentials and node-postgres takes PGUSER/PGPASSWORD from the RDS-managed secret
  # (which RDS rotates: see rotation.tf). TLS is verified against the RDS CA bundle.
  use_url_secret = local.postgres && var.database_url_secret_arn != null
  database_url   = local.postgres ? "postgres://${var.database_host}:${var.database_port}/${var.database_name}?sslmode=verify-full&sslrootcert=${var.database_ca_bundle_path}" : null

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
    local.postgres && !local.use_url_secret ? tomap({ CERTA_DATABASE_URL = local.database_url }) : tomap({}),
    local.sqlite ? tomap({ CERTA_DATA_DIR = local.sqlite_data_dir }) : tomap({}),
    var.extra_environment,
  )

  database_url_secret = tomap({
    CERTA_DATABASE_URL = tostring(var.database_url_secret_arn)
  })
  database_credential_secrets = local.postgres ? tomap({
    PGUSER     = "${var.database_secret_arn}:username::"
    PGPASSWORD = "${var.database_secret_arn}:password::"
  }) : tomap({})

  secrets = merge(
    { CERTA_MASTER_KEY = aws_secretsmanager_secret.master_key.arn },
    local.use_url_secret ? local.database_url_secret : tomap({}),
    local.postgres && !local.use_url_secret ? local.database_credential_secrets : tomap({}),
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

# Explicit key policy: the account administers the key; it is used through Secrets
# Manager only (an operator storing the KEK, the execution role reading it at task start),
# and directly by the task role alone (the future KMS KEK provider).
data "aws_iam_policy_document" "master_key" {
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = local.kms_admin_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  statement {
    sid = "UseThroughSecretsManager"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid = "TaskRoleUsesTheKey"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:GenerateDataKey",
      "kms:DescribeKey",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.task.arn]
    }
  }
}

resource "aws_kms_key" "master" {
  description             = "${var.name}: Certa key-encryption key (CERTA_MASTER_KEY secret; KMS KEK provider)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.master_key.json

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
  kms_key_id        = var.logs_kms_key_arn

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
  # filesystem is read-only and only /tmp is writable. The SQLite variant adds /data, the
  # task's ephemeral storage shared with the Litestream containers (sqlite.tf).
  volume {
    name = "tmp"
  }

  dynamic "volume" {
    for_each = local.sqlite ? ["data"] : []

    content {
      name = volume.value
    }
  }

  container_definitions = jsonencode(concat([
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

      mountPoints = concat([
        {
          sourceVolume  = "tmp"
          containerPath = "/tmp"
          readOnly      = false
        },
      ], local.sqlite ? [local.sqlite_data_mount] : [])

      # SQLite: start on the restored database (or none, the very first time).
      dependsOn = local.sqlite ? [{ containerName = "litestream-restore", condition = "SUCCESS" }] : []

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
  ], local.sqlite ? local.litestream_containers : []))

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
  # release that never gets healthy is rolled back. SQLite: one task at a time, the old
  # one stopped (and its last writes shipped) before the new one restores: two tasks
  # would be two databases replicating to one place.
  deployment_minimum_healthy_percent = local.sqlite ? 0 : 100
  deployment_maximum_percent         = local.sqlite ? 100 : 200
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

    precondition {
      condition     = !local.sqlite || var.max_count == 1
      error_message = "database_mode sqlite runs exactly one task: set desired_count, min_count and max_count to 1."
    }

    precondition {
      condition     = !local.postgres || (var.database_host != null && var.database_name != null && (var.database_secret_arn != null || var.database_url_secret_arn != null))
      error_message = "database_mode postgres needs database_host, database_name and database_secret_arn (or database_url_secret_arn)."
    }
  }

  depends_on = [
    aws_lb_listener.https,
    aws_iam_role_policy.execution_secrets,
  ]
}
