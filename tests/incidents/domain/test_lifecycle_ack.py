"""Who may acknowledge or resolve an incident, decided when they click."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.roles import Severity
from bot.incidents.domain.escalation import SEED_POLICY
from bot.incidents.domain.lifecycle import (
    TRANSITIONS,
    IncidentStatus,
    may_acknowledge,
    open_incident,
    resolve,
)
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INCIDENT, _ = open_incident(
    3, "error_rate", Severity.P1, "Error rate 2%", 0.02, T0, SEED_POLICY, DEFAULT_SLA_TABLE,
    "probe", "releasebot", Roster(primary="100", secondary="200"),
)  # fmt: skip


@pytest.mark.parametrize(
    ("actor", "roles", "paged", "allowed", "reason"),
    [
        ("100", (), None, True, "was paged"),  # the paged primary, no roles
        ("555", ("oncall",), None, True, "holds role oncall"),
        ("555", ("dev_team", "tech_lead"), None, True, "holds role tech_lead"),
        ("555", ("eng_manager",), None, True, "holds role eng_manager"),
        ("555", ("dev_team", "stakeholders"), None, False, "only people paged"),
        ("555", (), None, False, "only people paged"),
        ("200", (), None, False, "only people paged"),  # secondary not paged yet
        ("200", (), ("100", "200"), True, "was paged"),  # caller-supplied paged list
        ("100", (), (), False, "only people paged"),  # caller says nobody was paged
    ],
)
def test_may_acknowledge_table(
    actor: str,
    roles: tuple[str, ...],
    paged: tuple[str, ...] | None,
    allowed: bool,
    reason: str,
) -> None:
    """Allow anyone paged for the incident or holding an ack role; deny everyone else."""
    verdict = may_acknowledge(actor, roles, INCIDENT, paged)
    assert bool(verdict) is allowed
    assert reason in verdict.reason


def test_custom_ack_roles() -> None:
    """Honour a configured set of ack roles instead of the default three."""
    assert may_acknowledge("555", ("sre",), INCIDENT, ack_roles=("sre",))
    assert not may_acknowledge("555", ("tech_lead",), INCIDENT, ack_roles=("sre",))


def test_nobody_may_ack_a_resolved_incident() -> None:
    """Deny acks on a resolved incident, even to the person paged, saying why."""
    resolved, _ = resolve(INCIDENT, "100", "fixed", T0 + timedelta(minutes=3))
    verdict = may_acknowledge("100", ("oncall",), resolved)
    assert not verdict
    assert verdict.reason == "the incident is already resolved"


def test_transition_table_is_the_documented_one() -> None:
    """Keep the status machine: triggered -> acked -> resolved, ack timeout back to triggered."""
    assert {
        IncidentStatus.TRIGGERED: {IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED},
        IncidentStatus.ACKNOWLEDGED: {
            IncidentStatus.ACKNOWLEDGED,
            IncidentStatus.TRIGGERED,
            IncidentStatus.RESOLVED,
        },
        IncidentStatus.RESOLVED: set(),
    } == TRANSITIONS
