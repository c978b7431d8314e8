# Sourced by plan.sh and apply.sh: the GitLab-managed OpenTofu state of one environment
# (the http backend on the project's Terraform state API). In CI the job token
# authenticates; on a workstation set TF_HTTP_USERNAME to your user name and
# TF_HTTP_PASSWORD to a personal access token with the api scope, plus CI_API_V4_URL and
# CI_PROJECT_ID (see docs/operations/deployment.md). Anything already set wins.
# shellcheck shell=bash
: "${CI_API_V4_URL:?CI_API_V4_URL is required (e.g. https://gitlab.example.com/api/v4)}"
: "${CI_PROJECT_ID:?CI_PROJECT_ID is required (the project holding the state)}"
state_url="$CI_API_V4_URL/projects/$CI_PROJECT_ID/terraform/state/${TF_STATE_NAME:-$env_name}"
export TF_HTTP_ADDRESS="${TF_HTTP_ADDRESS:-$state_url}"
export TF_HTTP_LOCK_ADDRESS="${TF_HTTP_LOCK_ADDRESS:-$state_url/lock}"
export TF_HTTP_UNLOCK_ADDRESS="${TF_HTTP_UNLOCK_ADDRESS:-$state_url/lock}"
export TF_HTTP_LOCK_METHOD=POST
export TF_HTTP_UNLOCK_METHOD=DELETE
export TF_HTTP_RETRY_WAIT_MIN=5
export TF_HTTP_USERNAME="${TF_HTTP_USERNAME:-gitlab-ci-token}"
export TF_HTTP_PASSWORD="${TF_HTTP_PASSWORD:-${CI_JOB_TOKEN:?CI_JOB_TOKEN or TF_HTTP_PASSWORD is required}}"
