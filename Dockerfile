# One image for the worker and the API (docker-compose.yml picks the command).
# Build: docker build -t promptly .   Run: see docs/production.md.
ARG PYTHON_VERSION=3.11

# --- build: wheels for Promptly and its runtime dependencies (no dev extras) ---------------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY promptly ./promptly
# Exactly the audited pins (requirements.lock, `make lock`), each checked against its hash.
RUN pip wheel --wheel-dir /wheels --require-hashes -r requirements.lock \
 && pip wheel --wheel-dir /wheels --no-deps .

# --- runtime: slim, non-root, nothing but the wheels ----------------------------------------
FROM python:${PYTHON_VERSION}-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PROMPTLY_LOG_FORMAT=json
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/src/requirements.lock,target=/tmp/requirements.lock \
    pip install --no-index --find-links=/wheels --require-hashes -r /tmp/requirements.lock \
 && pip install --no-index --find-links=/wheels --no-deps promptly \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/promptly promptly \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/promptly/secrets
COPY deploy/uvicorn-log.json /etc/promptly/uvicorn-log.json
USER 10001:10001
WORKDIR /home/promptly
# API port, worker metrics port.
EXPOSE 8000 9464
CMD ["promptly", "worker"]
