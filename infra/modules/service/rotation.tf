# RDS rotates the master secret it manages (every 7 days by default). ECS injects secrets
# when a task starts, so after a rotation new database connections of running tasks
# would fail: when Secrets Manager reports RotationSucceeded for the database secret,
# EventBridge starts a one-step state machine that forces a new deployment (a rolling
# replacement that keeps min healthy at 100%). The event reaches EventBridge through
# CloudTrail ("AWS Service Event via CloudTrail"), which must be enabled in the account.

locals {
  restart_on_rotation = var.restart_on_database_secret_rotation && local.postgres && !local.use_url_secret
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "restart" {
  count = local.restart_on_rotation ? 1 : 0

  name               = "${var.name}-restart-on-rotation"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "restart" {
  statement {
    actions   = ["ecs:UpdateService"]
    resources = [aws_ecs_service.this.id]
  }
}

resource "aws_iam_role_policy" "restart" {
  count = local.restart_on_rotation ? 1 : 0

  name   = "force-new-deployment"
  role   = aws_iam_role.restart[0].id
  policy = data.aws_iam_policy_document.restart.json
}

resource "aws_sfn_state_machine" "restart" {
  count = local.restart_on_rotation ? 1 : 0

  name     = "${var.name}-restart-on-rotation"
  role_arn = aws_iam_role.restart[0].arn

  definition = jsonencode({
    Comment = "Roll the Certa tasks so they read the rotated database secret"
    StartAt = "ForceNewDeployment"
    States = {
      ForceNewDeployment = {
        Type     = "Task"
        Resource = "arn:aws:states:::aws-sdk:ecs:updateService"
        Parameters = {
          Cluster            = aws_ecs_cluster.this.arn
          Service            = aws_ecs_service.this.name
          ForceNewDeployment = true
        }
        End = true
      }
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "rotation" {
  count = local.restart_on_rotation ? 1 : 0

  name        = "${var.name}-db-secret-rotated"
  description = "RDS rotated the database secret of ${var.name}"

  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS Service Event via CloudTrail"]
    detail = {
      eventName = ["RotationSucceeded"]
      additionalEventData = {
        SecretId = [var.database_secret_arn]
      }
    }
  })

  tags = var.tags
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rotation_events" {
  count = local.restart_on_rotation ? 1 : 0

  name               = "${var.name}-rotation-events"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy" "rotation_events" {
  count = local.restart_on_rotation ? 1 : 0

  name = "start-restart"
  role = aws_iam_role.rotation_events[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = "states:StartExecution"
        Resource = aws_sfn_state_machine.restart[0].arn
      },
    ]
  })
}

resource "aws_cloudwatch_event_target" "rotation" {
  count = local.restart_on_rotation ? 1 : 0

  rule     = aws_cloudwatch_event_rule.rotation[0].name
  arn      = aws_sfn_state_machine.restart[0].arn
  role_arn = aws_iam_role.rotation_events[0].arn
}
