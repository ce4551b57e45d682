from tests.support.store import clock_start, engine  # noqa: F401  (fixtures)
