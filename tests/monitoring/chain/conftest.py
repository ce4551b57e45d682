"""The real alerting chain: a SimCord world whose bot serves the Alertmanager webhook."""

from tests.monitoring.probes.servers import prometheus  # noqa: F401  (fixtures)
from tests.support.world import (  # noqa: F401  (fixtures)
    _no_unexpected_errors,
    allow_logged_errors,
    world,
)
