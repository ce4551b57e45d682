"""Outbox dispatcher: real HTTP senders on loopback and an in-memory store (a fake, no mocks)."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import httpx
import pytest

from bot.core.clock import FakeClock
from bot.incidents.paging.pagerduty import PagerDutyClient
from bot.incidents.paging.webhook import IDEMPOTENCY_HEADER, WebhookClient
from bot.runtime.outbox import (
    DeliveryFailed,
    OutboxDispatcher,
    OutboxMessage,
    dm_to_channel_mention,
)
from tests.support.loopback import Answer, LoopbackReceiver
from tests.support.memory_outbox import MemoryOutbox

EVENT = {"event_action": "trigger", "dedup_key": "releasebot-7-42", "payload": {"summary": "x"}}


class LoopbackDm:
    """Send DMs to a loopback stand-in for Discord: 403 means the user closed their DMs.

    The real Discord notifier lives in bot/chat; this small HTTP sender keeps the failure
    path real (an HTTP 403 through httpx) without a Discord connection.
    """

    def __init__(self, http: httpx.AsyncClient, receiver: LoopbackReceiver) -> None:
        self.http = http
        self.receiver = receiver

    async def send(self, msg: OutboxMessage) -> str | None:
        """POST the DM; map 403 to a permanent failure."""
        url = self.receiver.url(f"/users/{msg.payload['user_id']}/dm")
        response = await self.http.post(url, json=dict(msg.payload))
        if response.status_code == 403:
            raise DeliveryFailed(False, f"DMs closed: {response.text}")
        return f"HTTP {response.status_code}"


def dispatcher(
    store: MemoryOutbox,
    clock: FakeClock,
    senders: dict[str, object],
    **options: object,
) -> OutboxDispatcher:
    """Return a dispatcher with a seeded rng, so backoff is reproducible."""
    return OutboxDispatcher(
        store,
        senders,  # type: ignore[arg-type]
        clock,
        rng=random.Random(7),
        **options,  # type: ignore[arg-type]
    )


async def test_500_then_202_is_delivered_exactly_once(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, store: MemoryOutbox, clock: FakeClock
) -> None:
    """Retry a 500 after the backoff; the 202 marks it delivered and nothing is sent again."""
    receiver.script("/v2/enqueue", Answer(500, "oops"), Answer(202, {"dedup_key": "k"}))
    pd = PagerDutyClient(http, "ROUTING", receiver.url("/v2/enqueue"))
    msg_id = await store.enqueue("pagerduty", EVENT, "incident-42/page-0/pagerduty", clock.now())
    engine = dispatcher(store, clock, {"pagerduty": pd})

    first = await engine.dispatch_due()
    assert first.count("retry") == 1
    assert first.next_retry_at is not None
    assert (await engine.dispatch_due()).deliveries == ()  # not due yet: nothing sent
    clock.set(first.next_retry_at)
    second = await engine.dispatch_due()
    assert second.count("delivered") == 1
    clock.advance(timedelta(hours=1))
    assert (await engine.dispatch_due()).deliveries == ()

    assert len(receiver.received) == 2
    assert store.messages[msg_id].status == "delivered"
    assert store.messages[msg_id].attempts == 2
    assert "HTTP 500" in store.errors[msg_id][0]


async def test_429_is_retried_with_growing_backoff(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, store: MemoryOutbox, clock: FakeClock
) -> None:
    """Back off exponentially (with jitter in [50%, 100%]) on repeated 429s."""
    receiver.script("/hook", *[Answer(429, "slow down")] * 4)
    hook = WebhookClient(http, receiver.url("/hook"))
    msg_id = await store.enqueue("webhook", {"event": "incident.triggered"}, "w1", clock.now())
    engine = dispatcher(store, clock, {"webhook": hook}, base_backoff=timedelta(seconds=2))
    waits = []
    for _ in range(4):
        report = await engine.dispatch_due()
        assert report.next_retry_at is not None
        waits.append(report.next_retry_at - clock.now())
        clock.set(report.next_retry_at)
    for n, wait in enumerate(waits):
        assert timedelta(seconds=2**n) <= wait <= timedelta(seconds=2 ** (n + 1))
    await engine.dispatch_due()
    assert store.messages[msg_id].status == "delivered"
    assert [r.headers[IDEMPOTENCY_HEADER] for r in receiver.received] == ["w1"] * 5


async def test_retry_after_header_is_honoured(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, store: MemoryOutbox, clock: FakeClock
) -> None:
    """Wait at least the Retry-After a throttling receiver asks for."""
    receiver.script("/hook", Answer(429, "slow down", {"Retry-After": "120"}))
    await store.enqueue("webhook", {"event": "x"}, "w1", clock.now())
    engine = dispatcher(store, clock, {"webhook": WebhookClient(http, receiver.url("/hook"))})
    report = await engine.dispatch_due()
    assert report.next_retry_at == clock.now() + timedelta(seconds=120)


async def test_400_is_dead_and_never_retried(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, store: MemoryOutbox, clock: FakeClock
) -> None:
    """Mark a 400 dead at once, with PagerDuty's reason, and never send it again."""
    receiver.script("/v2/enqueue", Answer(400, {"errors": ["payload.summary is missing"]}))
    pd = PagerDutyClient(http, "ROUTING", receiver.url("/v2/enqueue"))
    msg_id = await store.enqueue("pagerduty", EVENT, "k", clock.now())
    engine = dispatcher(store, clock, {"pagerduty": pd})
    report = await engine.dispatch_due()
    assert report.count("dead") == 1
    clock.advance(timedelta(days=1))
    await engine.dispatch_due()
    assert len(receiver.received) == 1
    assert store.messages[msg_id].status == "dead"
    assert "payload.summary is missing" in store.errors[msg_id][0]


async def test_dm_refused_falls_back_to_a_channel_mention_once(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, store: MemoryOutbox, clock: FakeClock
) -> None:
    """Replace a refused DM by one channel mention, and record why on the dead DM."""
    receiver.script("/users/100/dm", Answer(403, "Cannot send messages to this user"))
    channel = WebhookClient(http, receiver.url("/channels/555/messages"))
    dm_id = await store.enqueue(
        "dm", {"user_id": "100", "content": "P1 incident #42: please ack"}, "i42/page0/dm/100",
        clock.now(),
    )  # fmt: skip
    engine = dispatcher(
        store,
        clock,
        {"dm": LoopbackDm(http, receiver), "channel": channel},
        fallbacks={"dm": dm_to_channel_mention(555)},
    )
    report = await engine.dispatch_due()
    [fallback_id] = report.fallbacks_enqueued
    fallback = store.messages[fallback_id]
    assert fallback.kind == "channel"
    assert fallback.idempotency_key == "i42/page0/dm/100/fallback:channel"
    assert fallback.payload["content"].startswith("<@100> P1 incident #42: please ack")
    assert "Cannot send messages to this user" in store.errors[dm_id][0]
    assert f"fell back to channel message #{fallback_id}" in store.errors[dm_id][0]
    # The same failure handled again (e.g. after a crash) must not enqueue a second mention.
    again = await store.enqueue("channel", fallback.payload, fallback.idempotency_key, clock.now())
    assert again == fallback_id
    await engine.dispatch_due()
    assert len(receiver.at("/channels/555/messages")) == 1
    assert len(store.messages) == 2


async def test_exhausted_budget_is_reported_and_retried_slowly_until_delivered(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, store: MemoryOutbox, clock: FakeClock
) -> None:
    """Past max_attempts a page is never dropped: reported once, then retried until it lands."""
    receiver.script("/hook", *[Answer(503, "down")] * 4)
    msg_id = await store.enqueue("webhook", {"event": "x"}, "w", clock.now())
    engine = dispatcher(
        store,
        clock,
        {"webhook": WebhookClient(http, receiver.url("/hook"))},
        max_attempts=3,
        slow_retry=timedelta(minutes=1),
    )
    reports = []
    for _ in range(4):
        reports.append(await engine.dispatch_due())
        clock.advance(timedelta(minutes=10))
    assert [r.exhausted for r in reports] == [(), (), (msg_id,), ()]  # reported once
    assert store.messages[msg_id].status == "pending"
    assert "past its retry budget (3 attempts, max 3)" in store.errors[msg_id][2]
    assert engine.failing == {msg_id: "webhook: HTTP 503: down"}
    assert engine.health.faults["pages"].startswith("1 past their retry budget")
    # The slow retry after the budget waits about `slow_retry`, not the idle poll or longer.
    assert reports[3].next_retry_at is not None
    assert reports[3].next_retry_at - (clock.now() - timedelta(minutes=10)) <= timedelta(minutes=1)
    delivered = await engine.dispatch_due()
    assert delivered.count("delivered") == 1
    assert store.messages[msg_id].status == "delivered"
    assert len(receiver.received) == 5
    assert engine.failing == {} and "pages" not in engine.health.faults


async def test_unknown_kind_and_crashing_sender(store: MemoryOutbox, clock: FakeClock) -> None:
    """Mark a kind without a sender dead; retry a sender that raises an unexpected error."""

    class Broken:
        """A sender with a bug."""

        async def send(self, msg: OutboxMessage) -> str | None:
            """Fail the way a programming error does."""
            raise KeyError("user_id")

    unknown = await store.enqueue("sms", {}, "a", clock.now())
    broken = await store.enqueue("dm", {}, "b", clock.now())
    await dispatcher(store, clock, {"dm": Broken()}).dispatch_due()
    assert store.messages[unknown].status == "dead"
    assert "no sender configured for kind 'sms'" in store.errors[unknown][0]
    assert store.messages[broken].status == "pending"
    assert "KeyError" in store.errors[broken][0]


async def test_slow_kind_does_not_hold_up_others(store: MemoryOutbox, clock: FakeClock) -> None:
    """Deliver DMs while a webhook is still waiting on its receiver."""
    release_webhook = asyncio.Event()
    order: list[str] = []

    class Slow:
        """A webhook receiver that answers only when told to."""

        async def send(self, msg: OutboxMessage) -> str | None:
            """Wait for the test, then succeed."""
            await release_webhook.wait()
            order.append("webhook")
            return None

    class Quick:
        """A DM channel that answers at once and then lets the webhook finish."""

        async def send(self, msg: OutboxMessage) -> str | None:
            """Succeed, then release the webhook."""
            order.append(f"dm{msg.id}")
            if msg.id == 3:
                release_webhook.set()
            return None

    await store.enqueue("webhook", {}, "w", clock.now())
    await store.enqueue("dm", {}, "d2", clock.now())
    await store.enqueue("dm", {}, "d3", clock.now())
    engine = dispatcher(store, clock, {"webhook": Slow(), "dm": Quick()})
    report = await asyncio.wait_for(engine.dispatch_due(), timeout=5)
    assert order == ["dm2", "dm3", "webhook"]
    assert report.count("delivered") == 3


async def test_run_loop_delivers_on_wakeup_and_stops(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, store: MemoryOutbox, clock: FakeClock
) -> None:
    """Deliver a message enqueued while the loop idles as soon as it is woken, then stop."""
    engine = dispatcher(
        store,
        clock,
        {"webhook": WebhookClient(http, receiver.url("/hook"))},
        idle_poll=timedelta(hours=1),
    )
    wakeup, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(engine.run(wakeup, stop))
    await asyncio.sleep(0.05)
    msg_id = await store.enqueue("webhook", {"event": "x"}, "late", clock.now())
    wakeup.set()
    for _ in range(200):
        if store.messages[msg_id].status == "delivered":
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert store.messages[msg_id].status == "delivered"
    assert len(receiver.received) == 1


def test_bad_settings_are_rejected(store: MemoryOutbox, clock: FakeClock) -> None:
    """Refuse zero attempts and an inverted backoff range."""
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        OutboxDispatcher(store, {}, clock, max_attempts=0)
    with pytest.raises(ValueError, match="base_backoff <= max_backoff"):
        OutboxDispatcher(store, {}, clock, max_backoff=timedelta(seconds=1))
