terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
  }

  # Partial configuration: bucket, dynamodb_table (state locking) and region are given at
  # init time (infra/scripts/deploy.sh passes -backend-config=...), so one state bucket
  # and lock table can serve every environment and nothing account-specific is committed.
  backend "s3" {
    key     = "certa/production/terraform.tfstate"
    encrypt = true
  }
}
