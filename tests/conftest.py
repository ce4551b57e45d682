"""Fixtures every test folder shares: the one clock."""

from tests.support.clock import clock, clock_start  # noqa: F401  (fixtures)
