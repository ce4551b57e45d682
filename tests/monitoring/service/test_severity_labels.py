"""The Alertmanager `severity` label maps to P0-P3 through the configurable table.

MonitoringService on SQLite with the real webhook parser; the alert bodies are written here.
The same mapping through a real Alertmanager: tests/monitoring/chain/test_alertmanager_real.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.monitoring.alertmanager import AlertmanagerAlert, parse_alertmanager_webhook
from bot.monitoring.service.intake import pushed_severity
from tests.monitoring.service.harness import build_bench


def pushed(condition: str, severity: str) -> Any:
    """Return a parsed firing payload of an unwatched condition for service gw."""
    body = {
        "version": "4",
        "groupKey": "{}",
        "status": "firing",
        "receiver": "releasebot",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": condition, "service": "gw", "severity": severity},
                "annotations": {},
                "startsAt": "2026-03-02T10:04:00Z",
                "fingerprint": f"fp-{condition}",
            }
        ],
    }
    return parse_alertmanager_webhook(json.dumps(body).encode())


@pytest.fixture
def bench(engine, clock):
    """Return a running bench on the migrated database."""
    return build_bench(engine, clock)


async def test_the_default_table_maps_critical_warning_info_and_keeps_p0_to_p3(bench) -> None:
    """critical → P1, warning → P2, info → P3; P0 stays P0; an unknown label becomes P2."""
    await bench.deploy()
    cases = {
        "DiskFull": "critical",
        "SlowQueries": "warning",
        "CertExpiry": "info",
        "DataLoss": "P0",
        "Odd": "page",
    }
    for name, severity in cases.items():
        await bench.monitoring.receive_alertmanager(pushed(name, severity))
    assert {(e.condition, e.severity) for e in bench.met} == {
        ("disk_full", "P1"),
        ("slow_queries", "P2"),
        ("cert_expiry", "P3"),
        ("data_loss", "P0"),
        ("odd", "P2"),
    }


def test_a_configured_table_replaces_the_defaults() -> None:
    """Map labels case-insensitively through the given table; P0-P3 always win."""
    alert = pushed("X", "Sev1").alerts[0]
    assert isinstance(alert, AlertmanagerAlert)
    table = {"sev1": "P0", "critical": "P3"}
    assert pushed_severity(alert, table) == "P0"
    assert pushed_severity(pushed("X", "critical").alerts[0], table) == "P3"
    assert pushed_severity(pushed("X", "p1").alerts[0], table) == "P1"
    assert pushed_severity(pushed("X", "warning").alerts[0], table) == "P2"  # unmapped
