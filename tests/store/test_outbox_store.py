"""The SQL outbox store with the real dispatcher: leases, exactly-once, idempotent enqueue."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.app.uow import SqlUnitOfWorkFactory
from bot.runtime.outbox import DeliveryFailed, OutboxDispatcher, OutboxMessage
from bot.store.db import make_session_factory
from bot.store.outbox import SqlOutboxStore


class FlakySender:
    """A sender that records what it delivered and can fail on demand (a fake, not a mock)."""

    def __init__(self, fail_first: int = 0, retryable: bool = True) -> None:
        self.sent: list[str] = []
        self.fail_first = fail_first
        self.retryable = retryable

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver or fail."""
        await asyncio.sleep(0)
        if self.fail_first > 0:
            self.fail_first -= 1
            raise DeliveryFailed(self.retryable, "HTTP 500 from Discord")
        self.sent.append(msg.idempotency_key)
        return "ok"


async def test_enqueue_in_transaction_is_idempotent(engine, clock):
    """Store one message per idempotency key, only when the transaction commits."""
    uow = SqlUnitOfWorkFactory(make_session_factory(engine), clock)
    async with uow() as u:
        assert await u.outbox.enqueue("channel", {"content": "a"}, "k1") is not None
        assert await u.outbox.enqueue("channel", {"content": "a"}, "k1") is None
        # not committed: rolled back
    async with uow() as u:
        await u.outbox.enqueue("channel", {"content": "a"}, "k1")
        await u.commit()
    store = SqlOutboxStore(make_session_factory(engine))
    assert [m.idempotency_key for m, _ in await store.messages()] == ["k1"]


async def test_concurrent_passes_deliver_each_message_once(engine, clock):
    """Run three dispatch passes at once; every message is sent exactly once."""
    store = SqlOutboxStore(make_session_factory(engine))
    for n in range(20):
        await store.enqueue("channel", {"n": n}, f"key-{n}", clock.now())
    sender = FlakySender()
    dispatcher = OutboxDispatcher(store, {"channel": sender}, clock)
    await asyncio.gather(*(dispatcher.dispatch_due() for _ in range(3)))
    assert sorted(sender.sent) == sorted(f"key-{n}" for n in range(20))
    assert all(m.status == "delivered" for m, _ in await store.messages())


async def test_retry_after_failure_then_delivered_once(engine, clock):
    """Retry a message that failed with a 500 after its backoff, and deliver it once."""
    store = SqlOutboxStore(make_session_factory(engine))
    await store.enqueue("channel", {"n": 1}, "page-1", clock.now())
    sender = FlakySender(fail_first=1)
    dispatcher = OutboxDispatcher(store, {"channel": sender}, clock)
    first = await dispatcher.dispatch_due()
    assert first.count("retry") == 1
    assert (await dispatcher.dispatch_due()).deliveries == ()  # not due yet
    clock.advance(timedelta(minutes=1))
    await dispatcher.dispatch_due()
    await dispatcher.dispatch_due()
    assert sender.sent == ["page-1"]
    ((msg, error),) = await store.messages()
    assert (msg.status, msg.attempts, error) == ("delivered", 2, "HTTP 500 from Discord")


async def test_lease_expiry_makes_a_crashed_send_due_again(engine, clock):
    """Hand a message leased by a crashed pass to a later pass once the lease expires."""
    store = SqlOutboxStore(make_session_factory(engine), lease=timedelta(minutes=2))
    await store.enqueue("channel", {"n": 1}, "k", clock.now())
    assert len(await store.claim_due(clock.now(), 10)) == 1  # then the process "dies"
    assert await store.claim_due(clock.now(), 10) == []
    clock.advance(timedelta(minutes=3))
    assert [m.idempotency_key for m in await store.claim_due(clock.now(), 10)] == ["k"]


async def test_same_order_key_waits_for_the_older_message(engine, clock):
    """Hold a PagerDuty resolve back while its trigger waits for a retry."""
    store = SqlOutboxStore(make_session_factory(engine))
    await store.enqueue("pagerduty", {"action": "trigger"}, "t", clock.now(), order_key="dedup-1")
    await store.enqueue("pagerduty", {"action": "resolve"}, "r", clock.now(), order_key="dedup-1")
    await store.enqueue("pagerduty", {"action": "trigger"}, "o", clock.now(), order_key="dedup-2")
    sender = FlakySender(fail_first=1)
    dispatcher = OutboxDispatcher(store, {"pagerduty": sender}, clock)
    await dispatcher.dispatch_due()  # "t" fails and waits; "r" must not overtake it
    assert sender.sent == ["o"]
    clock.advance(timedelta(minutes=1))
    await dispatcher.dispatch_due()
    await dispatcher.dispatch_due()
    assert sender.sent == ["o", "t", "r"]
