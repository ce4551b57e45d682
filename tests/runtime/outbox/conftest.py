"""Delivery tests: a loopback HTTP receiver, a client, an in-memory outbox, Monday's clock."""

from tests.support.clock import clock_start  # noqa: F401  (fixture: Monday, not the store's NOW)
from tests.support.http import http, receiver, store  # noqa: F401  (fixtures)
