# One image recipe for every service, built from the repo root:
#   docker build --build-arg SERVICE=movie -t bookingapp-movie .
# The base image is a variable: official by default, a mirror or a stand-in where Docker Hub
# is out of reach (scripts/build-standin-images.sh).
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm
# checkov:skip=CKV_DOCKER_7: FROM takes ${PYTHON_IMAGE}, pinned above; checkov cannot resolve ARGs

# Only the manifests, so the dependency layer below is rebuilt when they change, not on
# every source edit. (COPY --from compares file contents, not this stage's cache.)
FROM ${PYTHON_IMAGE} AS manifests
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY . .
RUN find . -type f ! -name pyproject.toml ! -name uv.lock -print0 \
        | xargs -0 rm -f \
    && find . -depth -type d -empty -delete

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG UV_VERSION=0.13.9
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<an app: a directory with its pyproject.toml>" >&2; exit 1; }
# uv from PyPI into its own venv: works on Debian's python too (no pip into the system).
RUN python -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY --from=manifests /src/ ./
# uv's download/build cache lives in a BuildKit cache mount (as uv's Docker guide does): a
# rebuild after a lock change fetches only what changed, and the cache never enters a layer.
# UV_LINK_MODE=copy above: the mount is another filesystem, so files are copied, not linked.
# Step 1: third-party dependencies only, exactly as locked.
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-workspace --package "bookingapp-${SERVICE}"
# Step 2: the workspace packages themselves, installed (not linked) into the venv.
COPY common ./common
COPY ${SERVICE} ./${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package "bookingapp-${SERVICE}"

# The final image: the base plus one venv; no uv, no sources, no build tools.
FROM ${PYTHON_IMAGE}
ARG SERVICE
ENV BOOKINGAPP_SERVICE=${SERVICE} \
    PATH=/app/.venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /app/.venv /app/.venv
# The health check: a bash script, so a check every few seconds costs no Python start (issue 23).
COPY --chmod=0755 common/bin/bookingapp-healthcheck /usr/local/bin/bookingapp-healthcheck
# /tmp writable for the app user on Fargate too. Fargate mounts the task's scratch volume
# over /tmp root-owned 0755 (containers-roadmap#938) unless the image declares the path a
# VOLUME: ECS then copies the image's directory, owner and mode included (ECS developer
# guide, "bind mounts"). Compose mounts a tmpfs there instead, which is 1777 anyway.
RUN chown 10001:10001 /tmp && chmod 1777 /tmp
VOLUME ["/tmp"]
# A fixed non-root uid: no passwd entry needed, the same on ECS and compose.
USER 10001:10001
EXPOSE 5000
# Liveness without curl (bash's /dev/tcp); never depends on Redis.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["bookingapp-healthcheck"]
# Exec form: gunicorn is PID 1 and gets SIGTERM itself, so in-flight requests drain.
CMD ["gunicorn", "--config", "python:bookingapp_common.gunicorn_conf"]
