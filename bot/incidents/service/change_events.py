"""Change events: every production deploy and every rollback, told to PagerDuty and the webhook.

Rollouts publish `RolloutStarted` inside the transaction that starts the operation; this
handler enqueues one outbox message per configured channel in that same transaction, so a
change event is sent (at least once, with retries) exactly when the rollout really started.
PagerDuty shows change events next to incidents ("what changed before this broke?").
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.core.clock import Clock
from bot.core.events import RolloutStarted
from bot.core.ports import UnitOfWork
from bot.incidents.paging.pagerduty import change_event
from bot.incidents.paging.webhook import change_body

PAGERDUTY_CHANGE = "pagerduty.change"
WEBHOOK_CHANGE = "webhook.change"


@dataclass
class ChangeEvents:
    """Enqueue the change event of a started production deploy or rollback."""

    settings: Settings
    clock: Clock

    @property
    def kinds(self) -> list[str]:
        """Return the outbox kinds the settings switch on."""
        paging = self.settings.paging
        kinds = []
        if paging.pagerduty.enabled and paging.pagerduty.change_events:
            kinds.append(PAGERDUTY_CHANGE)
        if paging.webhook.enabled and paging.webhook.change_events:
            kinds.append(WEBHOOK_CHANGE)
        return kinds

    async def on_rollout_started(self, uow: UnitOfWork, event: RolloutStarted) -> None:
        """Enqueue one change event per channel (idempotent per operation and channel)."""
        if event.environment != "production" and event.kind != "rollback":
            return
        for kind in self.kinds:
            payload = (
                change_event(event)
                if kind == PAGERDUTY_CHANGE
                else change_body(event, sent_at=self.clock.now())
            )
            await uow.outbox.enqueue(kind, payload, f"{kind}:{event.kind}:{event.operation_id}")
