"""The bot's small HTTP server: Alertmanager webhook, /healthz and /metrics."""
