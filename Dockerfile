# One image recipe for every Zaps service, built from the repository root:
#   docker build --build-arg SERVICE=test-service --build-arg ZAPS_CODE_VERSION="$(git rev-parse HEAD)" .
# SERVICE is the service's folder under services/, which is also its uv package name.
# No `# syntax=` line: BuildKit's built-in frontend (Docker 20.10 and newer) has RUN --mount, and the stack test
# builds on machines where the docker/dockerfile image cannot be pulled.

# Builder and runtime must use the same Python: the virtual environment points at this interpreter.
ARG PYTHON_IMAGE=python:3.13.16-slim-trixie

# uv, pinned exactly; keep in step with scripts/ensure-uv.sh.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
# Byte-compile at build (faster start); copy, not hard-link, out of the cache mount; use the image's Python.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0
ARG SERVICE
WORKDIR /app
# 1) Third-party dependencies only, from the lock: this layer is cached until uv.lock changes.
#    --frozen, not --locked: uv cannot re-check the lock without every member's pyproject.toml (CI checks it).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    test -n "${SERVICE}" \
    && uv sync --frozen --no-dev --no-install-workspace --package "${SERVICE}"
# 2) Our code: the shared library and this one service, installed as real packages (no source tree needed).
COPY libs/ libs/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-editable --package "${SERVICE}"
# The command the container runs: `zaps serve <name>`, where <name> is the folder without "-service"
# (test-service -> test). exec: the server becomes PID 1 and receives SIGTERM for a graceful stop.
RUN printf '#!/bin/sh\nexec zaps serve %s --host 0.0.0.0 --port 8000 "$@"\n' "${SERVICE%-service}" \
      > /app/.venv/bin/zaps-service \
    && chmod 0755 /app/.venv/bin/zaps-service

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
# The git commit, recorded on every run and shown by /health; CI passes the full sha.
ARG ZAPS_CODE_VERSION=unknown
LABEL org.opencontainers.image.title="zaps-${SERVICE}" \
      org.opencontainers.image.revision="${ZAPS_CODE_VERSION}"
# A numeric non-root user: no write access to the code, no shell, no home.
RUN groupadd --system --gid 10001 zaps \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin zaps
WORKDIR /app
# Owned by root and read-only for the app: the running service cannot change its own code.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    ZAPS_CODE_VERSION=${ZAPS_CODE_VERSION}
USER 10001:10001
EXPOSE 8000
# Liveness through the same path Traefik uses (PATH_PREFIX, e.g. /api/test); python stdlib only (no curl here).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:8000' + os.environ.get('PATH_PREFIX', '') + '/health', timeout=4)"]
CMD ["zaps-service"]
