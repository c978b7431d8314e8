# The single-task SQLite variant (database_mode = "sqlite"): no Aurora; the embedded
# database lives on the task's ephemeral storage (/data) and a Litestream sidecar streams
# its WAL to a versioned, KMS-encrypted S3 bucket. When the task starts, an init container
# restores the database from the replica if it is missing (always, on Fargate: a new
# task has empty storage), and the service starts only after it succeeded.
#
# Litestream is asynchronous: a write acknowledged in the last sync interval (1 s by
# default) before the task dies may be lost (RPO ~1 s; a clean stop ships everything).
# CERTA_MASTER_KEY still comes from Secrets Manager, so the replica holds wrapped CA keys
# only, never the key that unwraps them. Exactly one task: see aws_ecs_service.this.

locals {
  sqlite_data_dir   = "/data"
  sqlite_data_mount = { sourceVolume = "data", containerPath = local.sqlite_data_dir, readOnly = false }
  replica_url       = local.sqlite ? "s3://${aws_s3_bucket.replica[0].bucket}/certa.db" : null

  # The Litestream containers run as the image's node user (uid 1000), which owns /data.
  litestream_containers = local.sqlite ? [
    {
      name                   = "litestream-restore"
      image                  = var.litestream_image
      essential              = false
      readonlyRootFilesystem = true
      user                   = "1000:1000"
      command                = ["restore", "-if-db-not-exists", "-if-replica-exists", "-o", "${local.sqlite_data_dir}/certa.db", local.replica_url]
      mountPoints            = [local.sqlite_data_mount]
      logConfiguration       = local.litestream_logs
    },
    {
      name                   = "litestream"
      image                  = var.litestream_image
      essential              = true
      readonlyRootFilesystem = true
      user                   = "1000:1000"
      # Stopped after the service (it depends on it), so its last writes are shipped.
      stopTimeout = 30
      command     = ["replicate", "${local.sqlite_data_dir}/certa.db", local.replica_url]
      mountPoints = [local.sqlite_data_mount]

      dependsOn = [
        { containerName = "litestream-restore", condition = "SUCCESS" },
        { containerName = local.container_name, condition = "HEALTHY" },
      ]

      logConfiguration = local.litestream_logs
    },
  ] : []

  litestream_logs = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.this.name
      awslogs-region        = data.aws_region.current.name
      awslogs-stream-prefix = "litestream"
    }
  }
}

# ---- the replica bucket: private, versioned, encrypted with its own key, TLS only ----

data "aws_iam_policy_document" "replica_key" {
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
    sid       = "TaskRoleThroughS3"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.task.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "replica" {
  count = local.sqlite ? 1 : 0

  description             = "${var.name}: Litestream replica of the SQLite database"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.replica_key.json

  tags = var.tags
}

resource "aws_s3_bucket" "replica" {
  count = local.sqlite ? 1 : 0

  bucket_prefix = "${var.name}-sqlite-"
  force_destroy = false

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "replica" {
  count = local.sqlite ? 1 : 0

  bucket                  = aws_s3_bucket.replica[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "replica" {
  count = local.sqlite ? 1 : 0

  bucket = aws_s3_bucket.replica[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Versioning: a replica overwritten or deleted by mistake (or by a second writer) can be
# brought back from its previous versions.
resource "aws_s3_bucket_versioning" "replica" {
  count = local.sqlite ? 1 : 0

  bucket = aws_s3_bucket.replica[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "replica" {
  count = local.sqlite ? 1 : 0

  bucket = aws_s3_bucket.replica[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.replica[0].arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "replica" {
  count = local.sqlite ? 1 : 0

  bucket = aws_s3_bucket.replica[0].id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.replica_noncurrent_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.replica]
}

data "aws_iam_policy_document" "replica_bucket" {
  count = local.sqlite ? 1 : 0

  statement {
    sid     = "TlsOnly"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.replica[0].arn,
      "${aws_s3_bucket.replica[0].arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "replica" {
  count = local.sqlite ? 1 : 0

  bucket = aws_s3_bucket.replica[0].id
  policy = data.aws_iam_policy_document.replica_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.replica]
}

# What Litestream does with the bucket: list, read, write, and delete what its retention drops.
data "aws_iam_policy_document" "replica_access" {
  count = local.sqlite ? 1 : 0

  statement {
    sid       = "ListReplica"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.replica[0].arn]
  }

  statement {
    sid       = "ReadWriteReplica"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.replica[0].arn}/*"]
  }

  statement {
    sid       = "ReplicaKey"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.replica[0].arn]
  }
}

resource "aws_iam_role_policy" "replica" {
  count = local.sqlite ? 1 : 0

  name   = "litestream-replica"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.replica_access[0].json
}
