"""Monitoring adapters: Prometheus, HTTP and Kubernetes probes, charts, Alertmanager webhooks."""
