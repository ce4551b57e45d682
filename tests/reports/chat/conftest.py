"""Discord tests: the SimCord world, the bot under test, and no unexpected logged errors."""

from tests.support.world import (  # noqa: F401  (fixtures)
    _no_unexpected_errors,
    allow_logged_errors,
    world,
)
