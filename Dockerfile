# Certa container image.
#
#   docker build -t certa .            (or: buildah build -t certa .)
#   docker run -p 8080:8080 -v certa-data:/data certa
#
# Two stages: `build` compiles the native modules (better-sqlite3 builds from source)
# and the TypeScript, then drops the dev dependencies; `runtime` gets only the compiled
# service, the production node_modules and the bundled spec, and runs as `node`.
# Offline build: --build-arg RDS_CA_BUNDLE_URL= (skips the Amazon RDS CA download).

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build -----------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build

# Toolchain for better-sqlite3 (no prebuilt binary is used; node-gyp needs python3).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first: this layer is reused until the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY generated ./generated
COPY src ./src

# The Litestream binary (an optional dependency, for the replication test) is not part of
# the service: the SQLite variant runs Litestream as a sidecar image.
# tsc does not emit JSON it does not import: the service reads the bundled spec from
# dist/generated/openapi.json (src/spec.ts loads ../generated/openapi.json), so copy it.
RUN npm run build \
 && mkdir -p dist/generated \
 && cp generated/openapi.json dist/generated/openapi.json \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/@flydotio

# The Amazon RDS CA bundle, so the PostgreSQL connection to Aurora verifies the server
# (sslmode=verify-full&sslrootcert=...). Empty URL = skip (local and offline builds).
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RUN mkdir -p /app/certs \
 && if [ -n "$RDS_CA_BUNDLE_URL" ]; then \
      node -e "fetch(process.argv[1]).then(async (r) => { if (!r.ok) throw new Error('HTTP ' + r.status); require('node:fs').writeFileSync('/app/certs/rds-global-bundle.pem', await r.text()); })" "$RDS_CA_BUNDLE_URL"; \
    fi

# ---- runtime ---------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini reaps zombies and forwards SIGTERM so the graceful shutdown runs (PID 1 problem);
# with `docker run --init` or ECS initProcessEnabled it is simply a second, harmless init.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown node:node /data \
 && chmod 0700 /data

ENV NODE_ENV=production \
    CERTA_HOST=0.0.0.0 \
    CERTA_PORT=8080 \
    CERTA_DATA_DIR=/data

WORKDIR /app

COPY --from=build --chown=root:root /app/package.json ./package.json
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/certs/ /etc/ssl/certs/

# The code is owned by root and read-only for the service; only /data is writable.
USER node

# SQLite mode keeps the database and the generated master key here; with PostgreSQL and
# CERTA_MASTER_KEY set nothing is written (the root filesystem can be read-only).
VOLUME ["/data"]

EXPOSE 8080

# No curl in the slim image: node's fetch. /healthz says "alive"; /readyz (DB reachable,
# migrations applied) is what load balancers should route on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CERTA_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node itself, not `npm start`: SIGTERM from tini must reach the process that shuts down.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
