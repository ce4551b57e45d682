"""Service-tier rollout tests: the store fixture's engine (SQLite and PostgreSQL)."""

from tests.support.store import engine  # noqa: F401  (fixture)
