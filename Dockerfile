# syntax=docker/dockerfile:1
# Build stage: resolve nothing, install exactly what uv.lock pins.
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# The build tool is pinned: the same Dockerfile builds the same image next month.
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
# --no-dev leaves out the dev and demo groups (pytest, SimCord, ...): runtime packages only;
# --extra postgres adds the asyncpg driver, so the same image runs on SQLite or PostgreSQL.
RUN uv sync --frozen --no-dev --extra postgres --no-install-project
COPY bot ./bot
COPY migrations ./migrations
COPY config ./config
RUN uv sync --frozen --no-dev --extra postgres
# The manifests a release applies are NOT baked in: mount them (a volume, a ConfigMap or a
# checkout the team updates) and point services.kubernetes.<env>.manifests at them, e.g.
# /etc/releasebot/manifests/production, so shipping a release never needs a bot rebuild.

# Runtime stage: the virtualenv and the code, owned by root and read-only for the
# unprivileged user that runs them (it writes only to /data).
FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 releasebot \
 && useradd --system --uid 10001 --gid releasebot --home-dir /app --shell /usr/sbin/nologin releasebot \
 && mkdir -p /data && chown releasebot:releasebot /data
WORKDIR /app
COPY --from=build /app /app
RUN chmod -R a-w,a+rX /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1
USER releasebot
VOLUME ["/data"]
EXPOSE 8080
# /healthz (liveness: the event loop, timer loop and outbox loop make progress) is served by
# the bot's web server on port 8080, next to /readyz (readiness), /metrics and the webhook.
# Docker has a single check, so it uses liveness; Kubernetes probes both (deploy/k8s).
# SIGTERM stops the bot gracefully (in-flight sends finish, exit 0); a second one at once.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
# Mount your settings at /etc/releasebot/releasebot.toml (deploy/k8s does; set database.url to
# "sqlite+aiosqlite:////data/releasebot.db" and web.host to "0.0.0.0"); the token comes from
# RELEASEBOT_DISCORD_TOKEN or RELEASEBOT_DISCORD_TOKEN_FILE.
ENTRYPOINT ["releasebot"]
CMD ["run", "--config", "/etc/releasebot/releasebot.toml"]
