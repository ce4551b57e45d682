"""Store-backed tests: a migrated SQLite file, a fake clock and the release service on it."""

from tests.support.store import clock_start, engine, service  # noqa: F401  (fixtures)
