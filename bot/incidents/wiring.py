"""Build the incident feature for the bot: services, hand-off hooks, timers, paging senders.

`create_bot` calls `wire_incidents` once. The Discord side (channel and DM senders, the
cog, the member directory's client) is added by the `bot.incidents.chat.cog` extension.
Nothing here opens a connection until a PagerDuty or webhook message is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import httpx

from bot.config import Settings
from bot.core.actors import AccessPolicy
from bot.core.clock import Clock
from bot.core.ports import UnitOfWorkFactory
from bot.incidents.calendar.source import CalendarSource
from bot.incidents.domain.ports import MemberDirectory
from bot.incidents.paging.fallbacks import external_to_discord
from bot.incidents.paging.pagerduty import PagerDutyChangeClient, PagerDutyClient
from bot.incidents.paging.pagerduty_webhook import PagerDutyWebhook
from bot.incidents.paging.webhook import WebhookClient
from bot.incidents.service.change_events import PAGERDUTY_CHANGE, WEBHOOK_CHANGE, ChangeEvents
from bot.incidents.service.oncall import OncallService
from bot.incidents.service.pagerduty_sync import PagerDutySync
from bot.incidents.service.use_cases import IncidentService
from bot.runtime.outbox import (
    DeliveryFailed,
    FailureHook,
    OutboxMessage,
    Sender,
    StillWanted,
    incident_of,
    is_follow_up,
)
from bot.runtime.timers import TimerService

PAGING_TIMEOUT = httpx.Timeout(10.0)


class SenderRegistry(Protocol):
    """Where outbox senders are registered (the bot's Background)."""

    def add_sender(self, kind: str, sender: Sender, fallback: Any = None) -> None:
        """Deliver messages of `kind` with `sender`."""
        ...

    def on_failure(self, hook: Any) -> None:
        """Run `hook(msg, failure, fallback_ids)` when a message fails past its budget."""
        ...

    def still_wanted(self, check: Any) -> None:
        """Ask `check(msg)` before slow retries whether the message is still needed."""
        ...


@dataclass
class IncidentFeature:
    """The incident services of one bot and what must be closed with it."""

    service: IncidentService
    oncall: OncallService
    changes: ChangeEvents
    pagerduty_webhook: PagerDutyWebhook | None = None
    closes: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        """Close the HTTP client the paging senders opened, if any."""
        for close in self.closes:
            await close()


def paging_senders(settings: Settings, client: httpx.AsyncClient) -> dict[str, Sender]:
    """Return the PagerDuty and webhook senders that the settings switch on."""
    senders: dict[str, Sender] = {}
    routing = settings.secrets.pagerduty_routing_key
    if settings.paging.pagerduty.enabled and routing is not None:
        senders["pagerduty"] = PagerDutyClient(
            client, routing.get_secret_value(), settings.paging.pagerduty.url
        )
    hook = settings.paging.webhook
    if hook.enabled and hook.url is not None:
        secret = settings.secrets.webhook_secret
        senders["webhook"] = WebhookClient(
            client, hook.url, secret.get_secret_value() if secret is not None else None
        )
    return senders


def change_senders(settings: Settings, client: httpx.AsyncClient) -> dict[str, Sender]:
    """Return the change-event senders (PagerDuty change events, the webhook) switched on."""
    senders: dict[str, Sender] = {}
    pagerduty, routing = settings.paging.pagerduty, settings.secrets.pagerduty_routing_key
    if pagerduty.enabled and pagerduty.change_events and routing is not None:
        senders[PAGERDUTY_CHANGE] = PagerDutyChangeClient(
            client, routing.get_secret_value(), pagerduty.change_events_url
        )
    hook = settings.paging.webhook
    if hook.enabled and hook.change_events and hook.url is not None:
        secret = settings.secrets.webhook_secret
        senders[WEBHOOK_CHANGE] = WebhookClient(
            client, hook.url, secret.get_secret_value() if secret is not None else None
        )
    return senders


def wire_incidents(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    policy: AccessPolicy,
    timers: TimerService,
    directory: MemberDirectory,
    *,
    background: SenderRegistry | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> IncidentFeature:
    """Return the wired incident feature.

    Registers the timer handlers (`incident.*`) and the PagerDuty/webhook senders on the
    background (the hand-offs from releases and monitoring are in `bot.app.events`). The
    senders use `http_client` if given; otherwise a client is opened here and closed with
    the bot.
    """
    oncall = OncallService(
        uow, clock, policy, settings, directory, oncall_calendar(settings, http_client)
    )
    service = IncidentService(uow, clock, policy, settings, oncall)
    service.register_timers(timers)
    wiring = IncidentFeature(service, oncall, ChangeEvents(settings, clock))
    secret = settings.secrets.pagerduty_webhook_secret
    wiring.pagerduty_webhook = PagerDutyWebhook(
        secret.get_secret_value() if secret is not None else None, PagerDutySync(service).apply
    )
    if background is not None:
        client = http_client
        if client is None and (
            settings.paging.pagerduty.enabled or settings.paging.webhook.enabled
        ):
            client = httpx.AsyncClient(timeout=PAGING_TIMEOUT)
            wiring.closes.append(cast(Callable[[], Awaitable[None]], client.aclose))
        if client is not None:
            for kind, sender in paging_senders(settings, client).items():
                background.add_sender(kind, sender, external_to_discord(kind))
            for kind, sender in change_senders(settings, client).items():
                background.add_sender(kind, sender)
        background.on_failure(timeline_note(service))
        background.still_wanted(until_resolved(service))
    return wiring


def oncall_calendar(
    settings: Settings, client: httpx.AsyncClient | None = None
) -> CalendarSource | None:
    """Return the on-call calendar source when `oncall.calendar` is set."""
    oncall = settings.oncall
    if oncall.calendar is None:
        return None
    return CalendarSource(oncall.calendar, oncall.calendar_people, oncall.calendar_refresh, client)


def until_resolved(service: IncidentService) -> StillWanted:
    """Return the check ending the slow retries of a page whose incident is resolved.

    A status update (acknowledge/resolve) is always still wanted: it tells the receiver the
    incident ended. A trigger or page of a resolved incident is not sent any more (its
    follow-ups are then not sent on that channel either: the receiver never saw it open).
    """

    async def check(msg: OutboxMessage) -> str | None:
        incident_id = incident_of(msg)
        if incident_id is None or is_follow_up(msg):
            return None
        incident = await service.get(incident_id)
        if incident.status.value == "resolved":
            return f"incident #{incident_id} is resolved"
        return None

    return check


def timeline_note(service: IncidentService) -> FailureHook:
    """Return the hook that writes a page failing past its budget into the incident timeline."""

    async def note(msg: OutboxMessage, failure: DeliveryFailed, fallback_ids: Any) -> None:
        incident_id = incident_of(msg)
        if incident_id is None:
            return
        instead = (
            f"; fell back to outbox {', '.join(f'#{i}' for i in fallback_ids)}"
            if fallback_ids
            else ""
        )
        what = "failing past its retry budget" if failure.retryable else "refused for good"
        await service.record_delivery(
            incident_id,
            "incident_delivery_failed",
            f"{msg.kind} message #{msg.id} {what}: {failure.reason}{instead}",
        )

    return note
