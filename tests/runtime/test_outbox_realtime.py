"""The outbox in real time against a receiver that goes down or throttles (issue 13).

A page is never lost: past its retry budget it is posted to Discord (fallback visible in
the channel, DMs to the paged people, a timeline note) and the failing channel keeps being
retried slowly until it delivers. An "acknowledged"/"resolved" never overtakes its trigger.
A 429 is not a failure. The receiver is a real HTTP server; the clock is the system clock.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from bot.core.clock import FakeClock
from bot.incidents.paging.fallbacks import external_to_discord
from bot.incidents.paging.pagerduty import PagerDutyClient
from bot.incidents.paging.webhook import WebhookClient
from bot.runtime.outbox import DeliveryFailed, OutboxDispatcher, OutboxMessage
from bot.store.db import make_session_factory
from bot.store.outbox import SqlOutboxStore
from tests.runtime.realtime import Inbox, eventually, runtime
from tests.runtime.receiver import Receiver

INCIDENT = 7


def pd_event(action: str) -> dict[str, Any]:
    """Return a PagerDuty event of incident 7 (the trigger knows whom it pages)."""
    body: dict[str, Any] = {"event_action": action, "dedup_key": f"releasebot-3-{INCIDENT}"}
    if action == "trigger":
        body["payload"] = {"summary": "[P1] Error rate 3%", "source": "gw", "severity": "error"}
        body["_releasebot"] = {"recipients": ["100"], "target": "oncall"}
    return body


def hook_event(event: str) -> dict[str, Any]:
    """Return a webhook body of incident 7."""
    step = {"target": "oncall", "recipients": ["100"]} if event == "incident.triggered" else None
    return {"event": event, "incident": {"id": INCIDENT, "title": "Error rate 3%"}, "step": step}


async def enqueue_incident(rt: Any) -> None:
    """Store a trigger and a resolve on each external channel, ordered per channel."""
    async with rt.uow() as u:
        for kind, events in (
            ("pagerduty", [pd_event("trigger"), pd_event("resolve")]),
            ("webhook", [hook_event("incident.triggered"), hook_event("incident.resolved")]),
        ):
            for n, body in enumerate(events):
                await u.outbox.enqueue(
                    kind, body, f"incident:{INCIDENT}:{kind}:{n}",
                    order_key=f"incident:{INCIDENT}:{kind}",
                )  # fmt: skip
        await u.commit()


async def test_receiver_down_past_the_budget_falls_back_and_loses_nothing(engine, figures):
    """Down for 3 s with a budget of ~0.3 s: fallback posted, slow retries, then delivered."""
    rt = runtime(
        engine,
        max_attempts=3,
        base_backoff=timedelta(milliseconds=50),
        max_backoff=timedelta(milliseconds=100),
        slow_retry=timedelta(milliseconds=500),
    )
    receiver = Receiver()
    await receiver.start()
    receiver.mode = "down"
    channel, dm = Inbox(), Inbox()
    notes: list[tuple[str, int, list[int]]] = []

    async def note(msg: OutboxMessage, failure: DeliveryFailed, ids: Any) -> None:
        notes.append((msg.kind, msg.id, list(ids)))

    async with httpx.AsyncClient(timeout=5) as http:
        bg = rt.background
        bg.add_sender("pagerduty", PagerDutyClient(http, "RK", receiver.url("/pd")),
                      external_to_discord("pagerduty"))  # fmt: skip
        bg.add_sender("webhook", WebhookClient(http, receiver.url("/hook"), "s3cret"),
                      external_to_discord("webhook"))  # fmt: skip
        bg.add_sender("channel", channel)
        bg.add_sender("dm", dm)
        bg.on_failure(note)
        await enqueue_incident(rt)
        cpu_before, wall_before = time.process_time(), time.monotonic()
        await bg.start()
        try:
            await asyncio.sleep(3.0)  # the receiver stays down well past the retry budget
            cpu = time.process_time() - cpu_before
            wall = time.monotonic() - wall_before
            ready, details = await rt.health.readiness()
            during = list(receiver.refused)
            fallback_posts = list(channel.got)
            receiver.mode = "up"
            assert await eventually(lambda: len(receiver.delivered) >= 4, within=20)
            await asyncio.sleep(0.3)
        finally:
            await bg.stop()
        ready_after, _ = await rt.health.readiness()
    await receiver.stop()
    figures(f"outage 3.0 s: {len(during)} refused attempts, CPU {cpu:.2f}s of {wall:.2f}s wall")
    # Only triggers were tried while down: a resolve never overtakes its trigger.
    assert {r["event"] for r in during} == {"trigger", "incident.triggered"}
    # Past the budget it is retried slowly, not in a hot loop (3 fast + about 1 per 0.5 s).
    assert len(during) <= 2 * (3 + 8)
    assert not ready and "past their retry budget" in str(details["pages"])
    # The fallback is visible in the channel (both channels named) and the person got DMs.
    texts = [m.payload["content"] for m in fallback_posts]
    assert any("PagerDuty" in t for t in texts) and any("webhook" in t for t in texts)
    assert all(m.payload["mention_user_ids"] == ["100"] for m in fallback_posts)
    assert [m.payload["user_id"] for m in dm.got] == ["100", "100"]
    assert sorted(kind for kind, _, _ in notes) == ["pagerduty", "webhook"]  # timeline notes
    # Nothing lost, nothing twice, trigger before resolve on each channel.
    assert [(r["path"], r["event"]) for r in receiver.delivered if r["path"] == "/pd"] == [
        ("/pd", "trigger"),
        ("/pd", "resolve"),
    ]
    assert [r["event"] for r in receiver.delivered if r["path"] == "/hook"] == [
        "incident.triggered",
        "incident.resolved",
    ]
    assert len({r["key"] for r in receiver.delivered}) == 4
    assert all(r["body_key"] == r["key"] for r in receiver.delivered if r["path"] == "/hook")
    assert ready_after


async def test_429_storm_is_not_counted_against_the_budget(engine):
    """Fifteen 429s in a row with a budget of 3: still delivered, no fallback, 1 attempt."""
    rt = runtime(
        engine, max_attempts=3, base_backoff=timedelta(milliseconds=10),
        max_backoff=timedelta(milliseconds=40),
    )  # fmt: skip
    receiver = Receiver()
    await receiver.start()
    receiver.throttle_left = 15
    channel = Inbox()
    async with httpx.AsyncClient(timeout=5) as http:
        rt.background.add_sender(
            "webhook", WebhookClient(http, receiver.url("/hook")), external_to_discord("webhook")
        )
        rt.background.add_sender("channel", channel)
        async with rt.uow() as u:
            await u.outbox.enqueue("webhook", hook_event("incident.triggered"), "storm")
            await u.commit()
        await rt.background.start()
        try:
            assert await eventually(lambda: len(receiver.delivered) == 1, within=20)
        finally:
            await rt.background.stop()
    await receiver.stop()
    assert len(receiver.refused) == 15
    assert channel.got == []  # never past its budget: no fallback
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT status, attempts FROM outbox"))).one()
    assert tuple(row) == ("delivered", 1)  # only the delivery counted


async def test_retry_after_is_honoured_in_real_time(engine):
    """A 429 with Retry-After: 1 is retried no sooner than a second later."""
    rt = runtime(engine, base_backoff=timedelta(milliseconds=10))
    receiver = Receiver()
    await receiver.start()
    receiver.throttle_left, receiver.retry_after = 1, "1"
    async with httpx.AsyncClient(timeout=5) as http:
        rt.background.add_sender("webhook", WebhookClient(http, receiver.url("/hook")))
        async with rt.uow() as u:
            await u.outbox.enqueue("webhook", hook_event("incident.triggered"), "ra")
            await u.commit()
        await rt.background.start()
        try:
            assert await eventually(lambda: len(receiver.delivered) == 1, within=20)
        finally:
            await rt.background.stop()
    await receiver.stop()
    assert receiver.delivered[0]["at"] - receiver.refused[0]["at"] >= 0.99


async def test_a_resolve_is_never_sent_when_its_trigger_was_refused(engine):
    """A trigger refused for good (400) falls back; its resolve is not sent on that channel."""
    clock = FakeClock()
    store = SqlOutboxStore(make_session_factory(engine))
    receiver = Receiver()
    await receiver.start()
    channel = Inbox()

    class Refusing:
        async def send(self, msg: OutboxMessage) -> str | None:
            """Refuse triggers the way PagerDuty refuses a bad body; accept the rest."""
            if msg.payload["event_action"] == "trigger":
                raise DeliveryFailed(False, "PagerDuty: HTTP 400: invalid routing key")
            receiver.delivered.append({"event": msg.payload["event_action"]})
            return None

    for n, action in enumerate(("trigger", "acknowledge", "resolve")):
        await store.enqueue(
            "pagerduty", pd_event(action), f"k{n}", clock.now(), order_key="incident:7:pagerduty"
        )
    engine_ = OutboxDispatcher(
        store, {"pagerduty": Refusing(), "channel": channel}, clock,
        fallbacks={"pagerduty": external_to_discord("pagerduty")},
    )  # fmt: skip
    for _ in range(4):
        await engine_.dispatch_due()
    await receiver.stop()
    assert receiver.delivered == []  # neither the acknowledge nor the resolve went out
    stored = await store.messages(kind="pagerduty")
    statuses = [(m.payload["event_action"], m.status, e) for m, e in stored]
    assert statuses[0][:2] == ("trigger", "dead")
    for _action, status, error in statuses[1:3]:
        assert status == "dead" and "trigger of this incident was never delivered" in str(error)
    assert [m.payload["fallback_for"] for m in channel.got] == [1]  # the refusal is visible


async def test_ordered_messages_follow_each_other_without_waiting_for_the_idle_poll(engine):
    """With an idle poll of an hour, an incident's 5 ordered messages all go out in turn."""
    rt = runtime(engine, idle_poll=timedelta(hours=1))  # no safety tick to lean on
    inbox = Inbox()
    rt.background.add_sender("pagerduty", inbox)
    await rt.background.start()
    try:
        async with rt.uow() as u:
            for n in range(5):
                await u.outbox.enqueue(
                    "pagerduty", pd_event("trigger" if n == 0 else "acknowledge"), f"o{n}",
                    order_key="incident:7:pagerduty",
                )  # fmt: skip
            await u.commit()
        assert await eventually(lambda: len(inbox.got) == 5, within=20)
    finally:
        await rt.background.stop()
    assert inbox.keys() == ["o0", "o1", "o2", "o3", "o4"]
    # One wake-up by the commit, then one pass per message: never an idle wait in between.
    assert rt.background.dispatcher.passes <= 5 + 3
