"""Fixtures every test folder shares: the one clock, and the figures a test reports."""

from tests.support.clock import clock, clock_start  # noqa: F401  (fixtures)
from tests.support.figures import figures  # noqa: F401  (fixture)
