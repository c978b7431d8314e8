# Bastion: one small instance in a private subnet for migrations and break-glass access
# to Aurora. No public address, no SSH (no key pair, no ingress rule at all): operators
# reach it through SSM Session Manager, authenticated and authorised by IAM, recorded in
# CloudTrail, and forward a local port to the database through it:
#
#   aws ssm start-session --target <instance id> \
#     --document-name AWS-StartPortForwardingSessionToRemoteHost \
#     --parameters host=<aurora endpoint>,portNumber=5432,localPortNumber=15432
#
# Turned on per environment (envs/*: enable_bastion); off, nothing of this exists.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

# Amazon Linux 2023 ships the SSM agent; the parameter always names the current AMI.
data "aws_ssm_parameter" "ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  account_root = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"
  instance_arn = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${local.account_id}:instance/${aws_instance.this.id}"
}

# ---- network: no ingress; out to the database and to HTTPS (SSM, package repositories) ----

resource "aws_security_group" "this" {
  name        = "${var.name}-bastion"
  description = "Bastion of ${var.name}: no inbound at all (SSM Session Manager); PostgreSQL and HTTPS out"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-bastion" })
}

resource "aws_vpc_security_group_egress_rule" "database" {
  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = var.database_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  description                  = "PostgreSQL (port forwarding to Aurora)"
}

# The SSM agent talks HTTPS to the ssm, ssmmessages and ec2messages endpoints (inside the
# VPC with the network module's endpoints, through NAT otherwise) and dnf to S3.
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS to Session Manager and package repositories"
}

# ---- instance role: what the SSM agent needs, nothing else ---------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-bastion"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

# The Session Manager subset of AmazonSSMManagedInstanceCore (which also grants reading
# every SSM parameter and document of the account): register, open channels, nothing more.
data "aws_iam_policy_document" "instance" {
  statement {
    sid       = "RegisterWithSystemsManager"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["*"]
  }

  statement {
    sid = "SessionChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
      "ec2messages:AcknowledgeMessage",
      "ec2messages:DeleteMessage",
      "ec2messages:FailMessage",
      "ec2messages:GetEndpoint",
      "ec2messages:GetMessages",
      "ec2messages:SendReply",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "session-manager"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.instance.json
}

resource "aws_iam_instance_profile" "this" {
  name = "${var.name}-bastion"
  role = aws_iam_role.this.name

  tags = var.tags
}

# ---- the volume's key: EC2 may use it for this account's volumes, operators only manage it ----

data "aws_iam_policy_document" "volume_key" {
  statement {
    sid       = "AccountAdministersTheKey"
    resources = ["*"]
    actions = [
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

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  statement {
    sid = "EbsOfThisAccount"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:CreateGrant",
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
      values   = ["ec2.${data.aws_region.current.name}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "volume" {
  description             = "${var.name}: bastion root volume"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.volume_key.json

  tags = var.tags
}

# ---- the instance ------------------------------------------------------------------------

resource "aws_instance" "this" {
  ami                         = data.aws_ssm_parameter.ami.value
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [aws_security_group.this.id]
  iam_instance_profile        = aws_iam_instance_profile.this.name
  associate_public_ip_address = false
  monitoring                  = true

  # IMDSv2 only, one hop: a process in a container on the host cannot reach the role.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = 8
    encrypted             = true
    kms_key_id            = aws_kms_key.volume.arn
    delete_on_termination = true
  }

  tags = merge(var.tags, { Name = "${var.name}-bastion" })

  lifecycle {
    # A new AMI is taken when the instance is replaced (taint it), not on every plan.
    ignore_changes = [ami]
  }
}

# ---- who may use it: attach this policy to the operators' role ----------------------------

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "PortForwardToTheDatabase"
    actions   = ["ssm:StartSession"]
    resources = [local.instance_arn, "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}::document/AWS-StartPortForwardingSessionToRemoteHost"]

    condition {
      test     = "BoolIfExists"
      variable = "ssm:SessionDocumentAccessCheck"
      values   = ["true"]
    }
  }

  statement {
    sid       = "OwnSessionsOnly"
    actions   = ["ssm:TerminateSession", "ssm:ResumeSession"]
    resources = ["arn:${data.aws_partition.current.partition}:ssm:*:${local.account_id}:session/$${aws:userid}-*"]
  }
}

resource "aws_iam_policy" "access" {
  name        = "${var.name}-bastion-access"
  description = "Port forwarding to ${var.name}'s database through its bastion (SSM Session Manager)"
  policy      = data.aws_iam_policy_document.access.json

  tags = var.tags
}
