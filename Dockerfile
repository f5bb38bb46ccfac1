# One image for both roles: `shunter serve` (default) or `shunter worker`.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY policies ./policies
RUN python -m venv /opt/shunter && /opt/shunter/bin/pip install --no-cache-dir .

FROM python:3.11-slim
# git: the simulator's smart-HTTP server and some pygit2 paths; bubblewrap: the test sandbox
RUN apt-get update && apt-get install -y --no-install-recommends git bubblewrap curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 shunter \
    && mkdir -p /data && chown shunter:shunter /data
COPY --from=build /opt/shunter /opt/shunter
ENV PATH=/opt/shunter/bin:$PATH \
    SHUNTER_HOST=0.0.0.0 \
    SHUNTER_PORT=8080 \
    SHUNTER_DATA_DIR=/data \
    SHUNTER_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
USER shunter
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${SHUNTER_PORT:-8080}/healthz" || exit 1
ENTRYPOINT ["shunter"]
CMD ["serve"]
