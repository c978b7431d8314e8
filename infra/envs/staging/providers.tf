provider "aws" {
  region = var.aws_region

  # A plan for staging can only ever touch the staging account.
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      Application = "certa"
      Environment = "staging"
      ManagedBy   = "opentofu"
      Source      = "infra/envs/staging"
    }
  }
}
