"""Auto-rollback: roll production back as soon as a configured condition is met.

Off by default. `on_condition_met` handles ConditionMet (`bot.app.events`) inside the
transaction that stored the measurement; all it does there is schedule a durable timer due
now, so the slow Kubernetes calls never run inside that transaction. The timer handler
requests the rollback (as the bot) in the timer's own transaction, and the rollback runner
picks it up once that commits. Paging is untouched: the incident opens and escalates as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.actors import BOT_ACTOR, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import DomainError
from bot.core.events import ConditionMet
from bot.core.ports import UnitOfWork
from bot.core.timers import TimerRecord
from bot.releases.domain.release import ReleaseStatus
from bot.rollouts.domain import (
    AutoRollbackPolicy,
    OperationKind,
    RolloutInFlight,
    requested_operation,
)
from bot.rollouts.service.operations import request_event, rollout_records
from bot.rollouts.service.rollback import RollbackService

if TYPE_CHECKING:
    from bot.config import AutoRollbackSettings

log = logging.getLogger(__name__)

TIMER_KIND = "k8s.auto_rollback"


def policy_from_settings(settings: AutoRollbackSettings) -> AutoRollbackPolicy:
    """Return the auto-rollback policy of `[kubernetes.auto_rollback]`."""
    return AutoRollbackPolicy(
        enabled=settings.enabled,
        conditions=frozenset(settings.conditions),
        severities=frozenset(settings.severities),
    )


@dataclass
class AutoRollback:
    """Turn a met condition into a bot-requested production rollback, when the policy says so."""

    rollbacks: RollbackService
    policy: AutoRollbackPolicy
    clock: Clock
    environment: str = "production"

    async def on_condition_met(self, uow: UnitOfWork, event: ConditionMet) -> None:
        """Schedule the rollback timer (due now) if the policy covers this condition."""
        why = self.policy.applies(event.condition, event.severity)
        if why is None:
            return
        earlier = await rollout_records(uow).for_release(event.release_id, OperationKind.ROLLBACK)
        # The token is how many rollbacks the release had: if one happens before the timer
        # fires (a person clicked first), the timer is stale and does nothing.
        await uow.timers.schedule(
            TIMER_KIND,
            event.release_id,
            self.clock.now(),
            token=len(earlier),
            payload={"condition": event.condition, "severity": event.severity or "", "why": why},
        )

    async def fire(self, uow: UnitOfWork, timer: TimerRecord, now: datetime) -> None:
        """Request the rollback as the bot, unless something made the timer stale."""
        skip = await self._skip_reason(uow, timer)
        condition = str(timer.payload.get("condition", "?"))
        if skip is not None:
            log.info("auto-rollback of release %s skipped: %s", timer.ref_id, skip)
            await uow.audit.append(
                AuditEvent.record(
                    BOT_ACTOR,
                    "auto_rollback_skipped",
                    f"release #{timer.ref_id}",
                    now,
                    Source.TIMER,
                    timer.ref_id,
                    condition=condition,
                    reason=skip,
                )
            )
            return
        release = await uow.releases.get(timer.ref_id)
        target = self.rollbacks.target(release.service, self.environment)
        severity = str(timer.payload.get("severity") or "")
        trigger = f"condition {condition} met" + (f" ({severity})" if severity else "")
        op = requested_operation(
            OperationKind.ROLLBACK,
            release_id=timer.ref_id,
            service=release.service,
            environment=self.environment,
            namespace=target.deployment.namespace,
            deployment=target.deployment.deployment,
            actor=BOT_ACTOR,
            source=Source.TIMER,
            now=now,
            trigger=trigger,
        )
        records = rollout_records(uow)
        await records.add(op)
        await uow.audit.append(request_event(op, BOT_ACTOR, now))
        await self.rollbacks.enqueue_update(uow, op)

    async def _skip_reason(self, uow: UnitOfWork, timer: TimerRecord) -> str | None:
        records = rollout_records(uow)
        earlier = await records.for_release(timer.ref_id, OperationKind.ROLLBACK)
        if len(earlier) != timer.token:
            return "a rollback of this release was requested since the condition was met"
        try:
            release = await uow.releases.get(timer.ref_id)
            target = self.rollbacks.target(release.service, self.environment)
        except DomainError as exc:
            return exc.message
        if release.status is not ReleaseStatus.ACTIVE:
            return f"{release.name} is {release.status.value.replace('_', ' ')}"
        holder = await records.in_flight(
            OperationKind.ROLLBACK, target.deployment.namespace, target.deployment.deployment
        )
        if holder is not None:
            return str(RolloutInFlight(f"rollback #{holder.id} of {holder.target} is running"))
        return None
