from tests.support.store import clock_start, engine, service  # noqa: F401  (fixtures)
