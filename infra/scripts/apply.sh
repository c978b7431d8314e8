#!/usr/bin/env bash
# Apply exactly the plan plan.sh saved for one environment (OpenTofu refuses a plan whose
# state has moved on since: plan again), then wait for ECS to settle and write the
# environment's host for GitLab's environment URL (deploy.env, a dotenv report).
#
#   infra/scripts/apply.sh <staging|production>
#
# Needs tofu and the aws CLI, AWS credentials and AWS_REGION, and from the plan job (its
# artifacts) infra/envs/<env>/tfplan and the .terraform.lock.hcl init wrote for it, so the
# same provider builds apply what they planned.
set -euo pipefail

env_name="${1:?usage: apply.sh <env>}"
: "${AWS_REGION:?AWS_REGION is required}"

dir="$(cd "$(dirname "$0")/../envs/$env_name" && pwd)"
# shellcheck source=backend.sh
. "$(dirname "$0")/backend.sh"
tofu() { command tofu -chdir="$dir" "$@"; }

test -f "$dir/tfplan" || { echo "no plan file at $dir/tfplan: run the plan job first" >&2; exit 1; }
tofu init -input=false
tofu apply -input=false tfplan

# Wait until the new task set is running and healthy (the ECS deployment circuit breaker
# rolls back a release whose tasks never pass /readyz).
aws ecs wait services-stable --region "$AWS_REGION" \
  --cluster "$(tofu output -raw ecs_cluster_name)" \
  --services "$(tofu output -raw ecs_service_name)"
# The environment's link in GitLab: the API over HTTPS on the host of public_url (which
# is often http:// for the CRL and OCSP URLs written into certificates).
host="$(tofu output -raw public_url)"
host="${host#*://}"
printf 'ENVIRONMENT_HOST=%s\n' "${host%%/*}" > "$(dirname "$0")/../../deploy.env"
echo "$env_name applied"
