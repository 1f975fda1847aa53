# Hearth in Docker, for people without Home Assistant's add-on store (the add-on is in addon/).
#   docker build -t hearth .
#   docker run -d --name hearth -p 8099:8099 -p 1883:1883 -v hearth-data:/data \
#     -e HEARTH_NODE_ID=home_server --stop-timeout 60 --restart unless-stopped hearth
# compose.yaml beside this file does the same, with an example serial device.

# The build stage: compilers for the native modules (better-sqlite3, re2, @serialport/bindings-cpp)
# and TypeScript; none of it reaches the final image.
FROM node:22-bookworm-slim AS build
# Packages at the versions of the base image's Debian release, not pinned one by one (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The dependencies first, a layer of their own while the lock file stays the same. Their install
# scripts run in `npm rebuild`: `npm ci` alone would also run the package's `prepare` (the build),
# before the sources are here.
COPY package.json npm-shrinkwrap.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
    && npm rebuild
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund

# The runtime: the same Node on the same Debian (the native modules were built against them).
FROM node:22-bookworm-slim
# tini is PID 1: it hands signals to the hub and reaps the orphans of agents' children, which the
# hub (a Node process) would otherwise leave as zombies. So no `docker run --init` is needed.
# A fixed uid and gid make a bind-mounted /data easy to hand over (chown 10001:10001).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 hearth \
    && useradd --system --uid 10001 --gid hearth --groups dialout --create-home --home-dir /home/hearth --shell /usr/sbin/nologin hearth \
    && mkdir /data \
    && chown hearth:hearth /data \
    && chmod 0700 /data \
    && ln -s /app/dist/cli/main.js /usr/local/bin/hearth
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# No NODE_ENV: the hub does not read it, and its agents would inherit it.
ENV HEARTH_DATA_DIR=/data
# The database, the agents' folders and logs, the admin token (/data/admin-token) and the broker's
# passwords. A new named volume takes the owner and mode of the image's /data.
VOLUME ["/data"]
USER hearth
# The API and panel; the embedded MQTT broker.
EXPOSE 8099 1883
# Liveness, not readiness (/api/health): a broker outage must not get the hub and every agent
# restarted. The slim image has no curl: Node's fetch asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEARTH_HTTP_PORT || 8099) + '/api/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/cli/main.js", "start"]
