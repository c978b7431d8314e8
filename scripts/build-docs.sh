#!/usr/bin/env bash
# Build the documentation site: the MkDocs Material pages of docs/ plus the Redoc API
# reference rendered from the bundled spec, as one static site that works offline.
#
#   scripts/build-docs.sh [output dir]      (default: site; CI's Pages job passes public)
#
# Needs: node_modules (npm ci; @redocly/cli is a dev dependency) and mkdocs with the
# Material theme (Debian/Ubuntu: apt-get install mkdocs mkdocs-material).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-site}"
staging="site-src"

command -v mkdocs >/dev/null || { echo "mkdocs not found: apt-get install mkdocs mkdocs-material" >&2; exit 1; }
[ -f generated/openapi.json ] || { echo "generated/openapi.json missing: npm run generate" >&2; exit 1; }

# Step 1: a staging copy of docs/; the generated Redoc page never lands in docs/ itself.
rm -rf "$staging"
trap 'rm -rf "$staging"' EXIT
cp -R docs "$staging"
mkdir -p "$staging/api"

# Step 2: the API reference from the bundled spec, scripts inlined (--inlineBundle):
# the page loads nothing from a CDN, so it works offline and under a strict CSP.
REDOCLY_TELEMETRY=off npx --no-install redocly build-docs generated/openapi.json \
  --output "$staging/api/index.html" \
  --title "Certa API reference" \
  --inlineBundle

# Step 3: the site. --strict turns every warning (a broken link, a nav entry pointing
# at nothing) into a failure.
rm -rf "$out"
CERTA_DOCS_DIR="$staging" mkdocs build --strict --site-dir "$out"

test -s "$out/api/index.html"
echo "docs built in $out/ (API reference: $out/api/index.html)"
