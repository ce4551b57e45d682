"""Outbound probes: Prometheus queries, HTTP health checks, Kubernetes availability."""
