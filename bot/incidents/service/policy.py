"""Turn the incident settings into the domain's policy values (snapshotted per incident)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from bot.config import Settings
from bot.config.conditions import ConditionSettings
from bot.config.durations import SlaDuration as ConfigSla
from bot.core.roles import Severity
from bot.incidents.domain.escalation import ONCALL, EscalationPolicy, EscalationStep
from bot.incidents.domain.ports import MemberDirectory
from bot.incidents.domain.sla import (
    NEXT_RELEASE,
    BusinessDays,
    SlaDuration,
    SlaPolicy,
    SlaTable,
)

log = logging.getLogger(__name__)

# Used when neither the event nor the config names a severity (issue 5: availability is P0).
DEFAULT_CONDITION_SEVERITY: Mapping[str, Severity] = {
    "availability": Severity.P0,
    "error_rate": Severity.P1,
    "latency": Severity.P1,
    "latency_p95": Severity.P1,
}


def _sla(value: ConfigSla) -> SlaDuration:
    if value.kind == "span" and value.span is not None:
        return value.span
    if value.kind == "business_days" and value.business_days is not None:
        return BusinessDays(value.business_days)
    return NEXT_RELEASE


def sla_table(settings: Settings) -> SlaTable:
    """Return the SLA table of the severities section."""
    policies = {}
    for severity in Severity:
        configured = settings.severities.policy(severity.value)
        policies[severity] = SlaPolicy(
            _sla(configured.response),
            _sla(configured.resolution),
            tuple(configured.notify),
            configured.update_every or None,  # "0m": no status-update cadence
        )
    return SlaTable(policies, settings.severities.timezone)


async def _target(raw: str, directory: MemberDirectory) -> str | None:
    """Return the domain target for a configured one; a named user becomes "user:<id>"."""
    if not raw.startswith("user:"):
        return raw
    ref = raw.removeprefix("user:").strip()
    user_id = ref if ref.isdigit() else await directory.user_id(ref)
    return None if user_id is None else f"user:{user_id}"


async def escalation_policy(settings: Settings, directory: MemberDirectory) -> EscalationPolicy:
    """Return the escalation policy of the settings, named users resolved to ids.

    A "user:<name>" step whose member cannot be found is left out (and logged) rather than
    stopping the incident from paging anybody at all.
    """
    steps: list[EscalationStep] = []
    for position, configured in enumerate(settings.escalation.steps):
        target = await _target(configured.target, directory)
        if target is None:
            log.warning(
                "escalation.steps[%d]: no member %r; the step is skipped",
                position,
                configured.target,
            )
            continue
        # The first step that remains must page at once, whatever its configured delay.
        after = configured.after if steps else timedelta(0)
        steps.append(
            EscalationStep(
                len(steps),
                target,
                after,
                pagerduty=configured.pagerduty,
                webhook=configured.webhook,
            )
        )
    if not steps:
        steps.append(EscalationStep(0, ONCALL, timedelta(0)))
    return EscalationPolicy(
        tuple(steps),
        ack_timeout=settings.escalation.ack_timeout,
        secondary_after=settings.oncall.secondary_after,
        reminder_before=settings.escalation.reminder_before,
        repeat=settings.escalation.repeat,
    )


def condition_severity(settings: Settings, condition: str, given: str | None) -> Severity:
    """Return the severity for `condition`: the event's, else the config's, else the default."""
    if given:
        return Severity.parse(given)
    configured = settings.monitoring.conditions.get(condition)
    if configured is not None:
        return Severity.parse(configured.severity)
    return DEFAULT_CONDITION_SEVERITY.get(condition, Severity.P1)


def _configured(
    settings: Settings, service: str | None, condition: str
) -> ConditionSettings | None:
    if service is not None:
        try:
            found = settings.conditions_for(service).get(condition)
        except KeyError:
            found = None
        if found is not None:
            return found
    return settings.monitoring.conditions.get(condition)


def condition_title(settings: Settings, service: str | None, condition: str) -> str:
    """Return the configured title of `condition` (the service's override first)."""
    configured = _configured(settings, service, condition)
    return configured.title if configured is not None else condition.replace("_", " ")


def is_configured(settings: Settings, service: str | None, condition: str) -> bool:
    """Return True if `condition` is configured (so it has a threshold of its own).

    A condition known only from an Alertmanager alert is not: its firing is the breach.
    """
    return _configured(settings, service, condition) is not None
