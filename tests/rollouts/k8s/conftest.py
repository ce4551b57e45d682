"""Kubernetes adapter tests: the loopback fake API server and the real client."""

from tests.rollouts.k8s.harness import (  # noqa: F401  (fixtures)
    _loopback_without_proxy,
    api_client,
    at_revision_3,
    controller,
    fake_api,
    raw_client,
    rbac_recorder,
    sleep,
)
