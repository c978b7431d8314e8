terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
  }

  # GitLab-managed state: the http backend on the project's Terraform state API (state
  # "production"), locked by GitLab, encrypted at rest by GitLab, visible under Operate >
  # Terraform states. Address and credentials come as TF_HTTP_* variables (set by the
  # pipeline; see docs/operations/deployment.md for a workstation and for the S3 alternative).
  backend "http" {}
}
