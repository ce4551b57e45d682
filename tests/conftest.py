"""Fixtures every test folder shares: the one clock, and the figures a test reports."""

from tests.support.clock import clock, clock_start  # noqa: F401  (fixtures)
from tests.support.figures import figures  # noqa: F401  (fixture)
from tests.support.postgres import postgres_server  # noqa: F401  (fixture)
from tests.support.store import database, pytest_generate_tests  # noqa: F401  (fixture, hook)
