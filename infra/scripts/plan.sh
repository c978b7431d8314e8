#!/usr/bin/env bash
# Plan one environment and keep the plan: copy the image CI built into the environment's
# ECR repository, pin it by digest, `tofu plan -out`, and write what reviewers and the
# apply job need next to it:
#   infra/envs/<env>/tfplan         the plan file apply.sh applies, exactly
#   infra/envs/<env>/tfplan.txt     the plan, readable
#   infra/envs/<env>/tfplan.json    the change counts GitLab shows in the merge request
#
#   infra/scripts/plan.sh <staging|production> <source image, e.g. registry/group/certa:sha>
#
# Needs tofu, skopeo, jq and the aws CLI; AWS credentials (in CI: GitLab OIDC token +
# AWS_ROLE_ARN); AWS_REGION; CI_REGISTRY, CI_REGISTRY_USER and CI_REGISTRY_PASSWORD to
# read the source image. PLAN_ONLY=true (merge requests) plans against the source image
# as tagged and copies nothing: such a plan is for review and is never applied.
# Environment inputs come as TF_VAR_* variables (see docs/operations/deployment.md).
set -euo pipefail

env_name="${1:?usage: plan.sh <env> <source image>}"
source_image="${2:?usage: plan.sh <env> <source image>}"
: "${AWS_REGION:?AWS_REGION is required}"

dir="$(cd "$(dirname "$0")/../envs/$env_name" && pwd)"
# shellcheck source=backend.sh
. "$(dirname "$0")/backend.sh"
tofu() { command tofu -chdir="$dir" "$@"; }

tofu init -input=false

if [ "${PLAN_ONLY:-false}" = "true" ]; then
  image="$source_image"
else
  # The ECR repository must exist before anything can be pushed to it. Only the very
  # first deployment of an environment takes this branch (and applies that one resource).
  repo_url="$(tofu output -raw ecr_repository_url 2>/dev/null || true)"
  if [ -z "$repo_url" ]; then
    tofu apply -input=false -auto-approve -var "image=$source_image" \
      -target=module.service.aws_ecr_repository.this
    repo_url="$(tofu output -raw ecr_repository_url)"
  fi
  # Tags are immutable in ECR: an existing tag is reused as is.
  tag="${source_image##*:}"
  printf '%s' "${CI_REGISTRY_PASSWORD:?}" | skopeo login --username "${CI_REGISTRY_USER:?}" --password-stdin "${CI_REGISTRY:?}"
  aws ecr get-login-password --region "$AWS_REGION" | skopeo login --username AWS --password-stdin "${repo_url%%/*}"
  if ! skopeo inspect --raw "docker://$repo_url:$tag" >/dev/null 2>&1; then
    skopeo copy --retry-times 3 "docker://$source_image" "docker://$repo_url:$tag"
  fi
  image="$repo_url@$(skopeo inspect --format '{{.Digest}}' "docker://$repo_url:$tag")"
fi
echo "planning $env_name with $image"

# A review plan must not take the state lock (merge-request pipelines run with a
# developer's job token, which may read the state but not lock it).
lock="-lock=true"
if [ "${PLAN_ONLY:-false}" = "true" ]; then lock="-lock=false"; fi
tofu plan -input=false -out=tfplan "$lock" -var "image=$image"
tofu show -no-color tfplan > "$dir/tfplan.txt"
# GitLab's Terraform report: {"create": n, "update": n, "delete": n}.
tofu show -json tfplan | jq '[.resource_changes[]?.change.actions] | {
    create: map(select(index("create"))) | length,
    update: map(select(index("update"))) | length,
    delete: map(select(index("delete"))) | length
  }' > "$dir/tfplan.json"
cat "$dir/tfplan.json"
