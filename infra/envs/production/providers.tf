provider "aws" {
  region = var.aws_region

  # A plan for production can only ever touch the production account.
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      Application = "certa"
      Environment = "production"
      ManagedBy   = "opentofu"
      Source      = "infra/envs/production"
    }
  }
}
