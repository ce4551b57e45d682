"""Evidence fixtures: the loopback GitHub, the real client, the store-backed world."""

from tests.evidence.harness import client, github, world  # noqa: F401  (fixtures)
from tests.support.store import clock_start, engine  # noqa: F401  (fixtures)
