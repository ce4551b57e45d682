"""Past its budget a page falls back and keeps being retried until delivered or not needed."""

from __future__ import annotations

import random
from datetime import timedelta

from bot.core.clock import FakeClock
from bot.incidents.paging.fallbacks import discord_to_external
from bot.runtime.outbox import DeliveryFailed, OutboxDispatcher, OutboxMessage
from tests.support.memory_outbox import MemoryOutbox


class Down:
    """A channel that keeps failing (retryably) and counts the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send(self, msg: OutboxMessage) -> str | None:
        """Fail like a receiver answering 503."""
        self.attempts += 1
        raise DeliveryFailed(True, "HTTP 503: down")


class Up:
    """A channel that delivers and keeps what it got."""

    def __init__(self) -> None:
        self.got: list[OutboxMessage] = []

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver."""
        self.got.append(msg)
        return None


async def test_discord_page_past_its_budget_goes_to_pagerduty_and_the_webhook() -> None:
    """Discord down: the page is triggered on PagerDuty (the incident's dedup_key) and the hook."""
    clock, store, discord, pd, hook = FakeClock(), MemoryOutbox(), Down(), Up(), Up()
    page = {"incident_id": 7, "release_id": 3, "notice": "page", "text": "🚨 Paging on-call",
            "target": "oncall", "mention_user_ids": ["100"]}  # fmt: skip
    msg_id = await store.enqueue("channel", page, "incident:7:page:0", clock.now())
    senders = {"channel": discord, "pagerduty": pd, "webhook": hook}
    engine = OutboxDispatcher(
        store, senders, clock, max_attempts=2, rng=random.Random(1),
        fallbacks={"channel": discord_to_external(lambda: set(senders))},
    )  # fmt: skip
    for _ in range(3):
        await engine.dispatch_due()
        clock.advance(timedelta(minutes=10))
    [trigger] = pd.got
    assert trigger.payload["event_action"] == "trigger"
    assert trigger.payload["dedup_key"] == "releasebot-3-7"
    assert trigger.idempotency_key == "incident:7:page:0/fallback:pagerduty"
    [webhook] = hook.got
    assert webhook.payload["step"]["recipients"] == ["100"]
    assert store.messages[msg_id].status == "pending"  # Discord itself is still retried
    assert discord.attempts == 3


async def test_slow_retries_end_when_the_incident_is_resolved() -> None:
    """A trigger past its budget is not retried once its incident ended; a resolve still is."""
    clock, store, pd = FakeClock(), MemoryOutbox(), Down()
    resolved = {7}

    async def still_wanted(msg: OutboxMessage) -> str | None:
        if msg.payload["event_action"] == "trigger" and 7 in resolved:
            return "incident #7 is resolved"
        return None

    trigger = await store.enqueue(
        "pagerduty", {"event_action": "trigger", "dedup_key": "releasebot-3-7"}, "t", clock.now()
    )
    engine = OutboxDispatcher(
        store, {"pagerduty": pd}, clock, max_attempts=2, still_wanted=[still_wanted]
    )
    for _ in range(2):  # the budget: two failures
        await engine.dispatch_due()
        clock.advance(timedelta(minutes=10))
    assert store.messages[trigger].status == "pending" and pd.attempts == 2
    report = await engine.dispatch_due()
    assert report.count("dead") == 1
    assert pd.attempts == 2  # not sent again
    assert "not retried any more: incident #7 is resolved" in store.errors[trigger][-1]
    assert engine.failing == {}
