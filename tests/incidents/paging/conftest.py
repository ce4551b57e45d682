"""Delivery tests: a loopback HTTP receiver, a client, a fake clock and an in-memory outbox."""

from tests.support.http import http, receiver, store  # noqa: F401  (fixtures)
