#!/usr/bin/env bash
# Deploy one environment: copy the image CI built into the environment's ECR repository,
# pin it by digest, plan and apply infra/envs/<env>, then wait for ECS to settle.
#
#   infra/scripts/deploy.sh <staging|production> <source image, e.g. registry/group/certa:sha>
#
# Needs tofu, skopeo and the aws CLI; AWS credentials (in CI: GitLab OIDC token +
# AWS_ROLE_ARN); TF_STATE_BUCKET, TF_LOCK_TABLE and AWS_REGION for the S3 backend;
# CI_REGISTRY, CI_REGISTRY_USER and CI_REGISTRY_PASSWORD to read the source image.
# Environment inputs come as TF_VAR_* variables (see docs/operations/deployment.md).
set -euo pipefail

env_name="${1:?usage: deploy.sh <env> <source image>}"
source_image="${2:?usage: deploy.sh <env> <source image>}"
: "${TF_STATE_BUCKET:?TF_STATE_BUCKET is required}"
: "${TF_LOCK_TABLE:?TF_LOCK_TABLE is required}"
: "${AWS_REGION:?AWS_REGION is required}"

dir="$(cd "$(dirname "$0")/../envs/$env_name" && pwd)"
tofu() { command tofu -chdir="$dir" "$@"; }

# Step 1: the S3 backend (state key is fixed per environment in versions.tf).
tofu init -input=false \
  -backend-config="bucket=$TF_STATE_BUCKET" \
  -backend-config="dynamodb_table=$TF_LOCK_TABLE" \
  -backend-config="region=$AWS_REGION"

# Step 2: the ECR repository must exist before anything can be pushed to it. Only the
# very first deployment of an environment takes this branch.
repo_url="$(tofu output -raw ecr_repository_url 2>/dev/null || true)"
if [ -z "$repo_url" ]; then
  tofu apply -input=false -auto-approve -var "image=$source_image" \
    -target=module.service.aws_ecr_repository.this
  repo_url="$(tofu output -raw ecr_repository_url)"
fi

# Step 3: copy the image (tags are immutable in ECR: an existing tag is reused as is).
tag="${source_image##*:}"
printf '%s' "${CI_REGISTRY_PASSWORD:?}" | skopeo login --username "${CI_REGISTRY_USER:?}" --password-stdin "${CI_REGISTRY:?}"
aws ecr get-login-password --region "$AWS_REGION" | skopeo login --username AWS --password-stdin "${repo_url%%/*}"
if ! skopeo inspect --raw "docker://$repo_url:$tag" >/dev/null 2>&1; then
  skopeo copy --retry-times 3 "docker://$source_image" "docker://$repo_url:$tag"
fi
digest="$(skopeo inspect --format '{{.Digest}}' "docker://$repo_url:$tag")"
image="$repo_url@$digest"
echo "deploying $image to $env_name"

# Step 4: plan, keep a readable copy of the plan as a job artifact, apply exactly it.
tofu plan -input=false -out=tfplan -var "image=$image"
tofu show -no-color tfplan > "$dir/tfplan.txt"
tofu apply -input=false tfplan

# Step 5: wait until the new task set is running and healthy (the ECS deployment
# circuit breaker rolls back a release whose tasks never pass /readyz).
aws ecs wait services-stable --region "$AWS_REGION" \
  --cluster "$(tofu output -raw ecs_cluster_name)" \
  --services "$(tofu output -raw ecs_service_name)"
echo "$env_name is running $image"
