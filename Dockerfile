# syntax=docker/dockerfile:1
# One image for every role: `flowledger command|worker|projector|query`.
# Build: docker build -t flowledger .   Run: docker run flowledger query

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install uv==0.13.9
WORKDIR /src
# Dependencies first, in their own layer, so a source change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project
COPY README.md ./
COPY contracts ./contracts
COPY projections ./projections
COPY services ./services
# --no-editable installs the project into the venv, so the runtime stage needs no source tree.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

FROM python:3.11-slim
RUN groupadd --system --gid 10001 flowledger \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin flowledger
COPY --from=build /app/.venv /app/.venv
# Everything the process writes goes under /tmp (a tmpfs or emptyDir), so the root
# filesystem can be mounted read-only; bytecode was compiled at build time.
ENV PATH=/app/.venv/bin:$PATH \
    HOME=/tmp \
    FL_HOME=/tmp/flowledger \
    FL_HTTP_HOST=0.0.0.0 \
    FL_HTTP_PORT=8080 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["flowledger"]
CMD ["--help"]
