# syntax=docker/dockerfile:1
# Parley's image: one image for every process kind (ingress, engine, a worker per queue, beat,
# an event consumer per handler, Flower); the command picks the kind. docs/deploy.md says why.
#
#   docker build -t parley:local .
#
# Builder: the wheel and its exact pins (requirements.lock) into a venv that the runtime copies.
FROM python:3.11.7-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/parley
ENV PATH=/opt/parley/bin:$PATH
WORKDIR /src
# The pins first, in a layer of their own: a change to Parley's code rebuilds nothing below it.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
# Only the distribution's own files: local environments and data beside the sources stay out.
COPY pyproject.toml README.md celeryconfig.py ./
COPY core ./core
COPY ingress ./ingress
COPY tasks ./tasks
COPY consumers ./consumers
COPY channels ./channels
COPY processors ./processors
COPY storage ./storage
COPY protos ./protos
COPY services ./services
COPY cli ./cli
# --no-deps: every dependency came from the lock above; `pip check` fails the build if the lock
# misses one or pins a version pyproject.toml refuses.
RUN pip install --no-deps . && pip check

# Runtime: the venv and nothing of the build.
FROM python:3.11.7-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/parley/bin:$PATH \
    PARLEY_HOME=/var/lib/parley
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/parley parley
COPY --from=builder /opt/parley /opt/parley
USER 10001
WORKDIR /var/lib/parley
# Health per process kind (the orchestrator runs them; compose and the Kubernetes manifests do):
#   ingress   GET /health/live (liveness), GET /health/ready (readiness), port 8000
#   engine    grpc.health.v1 Check on :50051
#   worker    celery -A tasks.app inspect ping -d <queue>@$HOSTNAME
# No HEALTHCHECK here: one image serves every kind, and each kind's check differs. No ENTRYPOINT
# either: every command is a whole `parley …` line (compose's and the manifests' `command`).
CMD ["parley", "ingress", "--host", "0.0.0.0", "--port", "8000"]
