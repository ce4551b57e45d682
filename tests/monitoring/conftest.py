"""Monitoring tests: scripted HTTP servers and the real Prometheus."""

from tests.monitoring.probes.servers import prometheus, scripted_server  # noqa: F401  (fixtures)
