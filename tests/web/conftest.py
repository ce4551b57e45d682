"""Web tests share the store fixtures: a migrated SQLite file and a fake clock."""

from tests.store.conftest import clock, engine

__all__ = ["clock", "engine"]
