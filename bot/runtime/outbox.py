"""Outbox delivery: send stored notifications once, retry with backoff, fall back when refused.

The store behind it is a Protocol: the SQL store implements it, tests use an in-memory one.
A state change and the messages it causes are written in one transaction elsewhere; this
module only delivers what is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from bot.core.clock import Clock
from bot.runtime.health import Health

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED, DEAD = "pending", "delivered", "failed", "dead"


class DeliveryFailed(Exception):
    """Report that a sender could not deliver; `retryable` says whether trying again may help.

    `throttled` marks a receiver asking us to slow down (HTTP 429): retried after its
    Retry-After (or the backoff), and not counted against the message's retry budget.
    """

    def __init__(
        self,
        retryable: bool,
        reason: str,
        retry_after: timedelta | None = None,
        *,
        throttled: bool = False,
    ) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """Hold one notification waiting to be delivered ("channel", "dm", "pagerduty", ...).

    `idempotency_key` is stable for the message's whole life (every retry, every restart):
    delivery is at-least-once, and receivers drop repeats by this key.
    """

    id: int
    kind: str
    payload: Mapping[str, Any]
    idempotency_key: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    status: str = PENDING
    order_key: str | None = None
    created_at: datetime | None = None


class OutboxStore(Protocol):
    """Persist outbox messages; every mark_* counts one attempt (a throttled retry does not)."""

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Return up to `limit` pending messages due by `now`, oldest first."""
        ...

    async def mark_delivered(self, msg_id: int, now: datetime, detail: str | None) -> None:
        """Record a delivery (attempts + 1, status delivered)."""
        ...

    async def mark_retry(
        self,
        msg_id: int,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
        *,
        count: bool = True,
    ) -> None:
        """Record a failed attempt and when to try again (attempts + 1 if `count`, pending)."""
        ...

    async def mark_dead(self, msg_id: int, now: datetime, error: str) -> None:
        """Record that the message will never be delivered (attempts + 1, status dead)."""
        ...

    async def enqueue(
        self, kind: str, payload: Mapping[str, Any], idempotency_key: str, now: datetime
    ) -> int:
        """Store a new message, or return the existing id if the key is already stored."""
        ...

    async def next_due(self) -> datetime | None:
        """Return when the earliest claimable message is due (None: nothing waits)."""
        ...

    async def delivered_before(self, msg: OutboxMessage) -> bool:
        """Return True if an older message of `msg`'s order key was delivered."""
        ...


class Sender(Protocol):
    """Deliver one message; raise DeliveryFailed when it cannot."""

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver `msg` and return a short detail (e.g. the remote id), or raise."""
        ...


Replacement = tuple[str, dict[str, Any]]
# A fallback returns the message(s) that replace or back up a failing one (or None).
Fallback = Callable[[OutboxMessage, DeliveryFailed], Replacement | Sequence[Replacement] | None]
# Called once when a message first fails past its retry budget (or fails for good).
FailureHook = Callable[[OutboxMessage, DeliveryFailed, Sequence[int]], Awaitable[None]]
# Asked before each slow retry of a message past its budget: None to go on, else why to stop
# (e.g. "incident #7 is resolved").
StillWanted = Callable[[OutboxMessage], Awaitable[str | None]]

FOLLOW_UPS = frozenset({"acknowledge", "resolve", "incident.acknowledged", "incident.resolved"})


def is_follow_up(msg: OutboxMessage) -> bool:
    """Return True for an "acknowledged"/"resolved" message (PagerDuty event or webhook)."""
    payload = msg.payload
    action = payload.get("event_action", payload.get("event"))
    return isinstance(action, str) and action in FOLLOW_UPS


def incident_of(msg: OutboxMessage) -> int | None:
    """Return the incident a message is about, whatever its kind (None: not an incident's)."""
    payload = msg.payload
    for value in (
        payload.get("incident_id"),
        (payload.get("incident") or {}).get("id")
        if isinstance(payload.get("incident"), dict)
        else None,
        ((payload.get("payload") or {}).get("custom_details") or {}).get("incident_id")
        if isinstance(payload.get("payload"), dict)
        else None,
    ):
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
    key = payload.get("dedup_key")
    if isinstance(key, str) and key.startswith("releasebot-"):
        tail = key.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else None
    return None


@dataclass(frozen=True, slots=True)
class Delivery:
    """Say what happened to one message in a dispatch pass."""

    msg_id: int
    kind: str
    outcome: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """Summarise one dispatch pass."""

    deliveries: tuple[Delivery, ...] = ()
    fallbacks_enqueued: tuple[int, ...] = ()
    next_retry_at: datetime | None = None
    exhausted: tuple[int, ...] = ()  # messages that went past their retry budget in this pass

    def count(self, outcome: str) -> int:
        """Return how many messages ended the pass with `outcome` (delivered/retry/dead)."""
        return sum(1 for d in self.deliveries if d.outcome == outcome)


def dm_to_channel_mention(
    channel_id: int | str,
) -> Callable[[OutboxMessage, DeliveryFailed], Replacement | None]:
    """Return a fallback that turns a refused DM into a mention in `channel_id`.

    A DM payload needs "user_id" and "content"; the channel payload carries the same content
    prefixed by the mention, plus which message it replaces.
    """

    def fallback(msg: OutboxMessage, error: DeliveryFailed) -> Replacement | None:
        user_id = msg.payload.get("user_id")
        if user_id is None:
            return None
        content = str(msg.payload.get("content", ""))
        return "channel", {
            "channel_id": channel_id,
            "content": f"<@{user_id}> {content} (could not DM you: {error.reason})",
            "mention_user_ids": [str(user_id)],
            "fallback_for": msg.id,
        }

    return fallback


def _replacements(value: Replacement | Sequence[Replacement] | None) -> list[Replacement]:
    if value is None:
        return []
    if len(value) == 2 and isinstance(value[0], str):
        return [cast(Replacement, value)]
    return list(cast(Sequence[Replacement], value))


def _named(made: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{kind} message #{msg_id}" for kind, msg_id in made)


@dataclass
class _Pass:
    deliveries: list[Delivery] = field(default_factory=list)
    fallbacks: list[int] = field(default_factory=list)
    retries: list[datetime] = field(default_factory=list)
    exhausted: list[int] = field(default_factory=list)


class OutboxDispatcher:
    """Deliver due outbox messages through per-kind senders, with backoff and fallbacks.

    Delivery is at-least-once: a crash between a receiver's 2xx and our commit sends the
    message again after the restart, with the same idempotency key. A retryable failure is
    retried with exponential backoff and jitter (`base_backoff` .. `max_backoff`), or after
    the receiver's Retry-After if longer; a throttled answer (429) is not counted. After
    `max_attempts` counted failures the message is past its budget: the failure hooks and
    the kind's fallback run once (the failure is posted, the next channel is used), and the
    message keeps being retried every `slow_retry` until it is delivered (or `abandon_after`
    has passed since it was created). Only a permanent failure ends a message early.
    """

    def __init__(
        self,
        store: OutboxStore,
        senders: Mapping[str, Sender],
        clock: Clock,
        *,
        max_attempts: int = 8,
        base_backoff: timedelta = timedelta(seconds=2),
        max_backoff: timedelta = timedelta(minutes=5),
        fallbacks: Mapping[str, Fallback] | None = None,
        rng: random.Random | None = None,
        batch_size: int = 50,
        idle_poll: timedelta = timedelta(seconds=30),
        slow_retry: timedelta | None = None,
        abandon_after: timedelta = timedelta(hours=24),
        on_failure: Sequence[FailureHook] = (),
        still_wanted: Sequence[StillWanted] = (),
        health: Health | None = None,
        send_guard: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if base_backoff <= timedelta(0) or max_backoff < base_backoff:
            raise ValueError("backoff needs 0 < base_backoff <= max_backoff")
        self._store = store
        self._senders = dict(senders)
        self._clock = clock
        self._max_attempts = max_attempts
        self._base = base_backoff
        self._cap = max_backoff
        self._slow = slow_retry or max_backoff
        self._abandon_after = abandon_after
        self._fallbacks = dict(fallbacks or {})
        self._on_failure = list(on_failure)
        self._still_wanted = list(still_wanted)
        self._rng = rng or random.Random()
        self._batch = batch_size
        self._idle = idle_poll
        # Asked right before each send (a standby's fencing: "do we still lead?"); False
        # leaves the message leased, for the replica that leads now.
        self._send_guard = send_guard
        self.health = health or Health()
        self._throttled: dict[int, int] = {}  # 429s in a row per message (not persisted)
        self._in_flight: set[int] = set()
        self.failing: dict[int, str] = {}  # messages past their budget, still being retried
        self.draining = False  # set on shutdown: finish what is sending, start nothing new
        self.passes = 0

    @property
    def max_attempts(self) -> int:
        """Return the retry budget (counted failures before the fallback is used)."""
        return self._max_attempts

    @property
    def in_flight(self) -> int:
        """Return how many messages are being sent right now."""
        return len(self._in_flight)

    def backoff(self, attempts_made: int) -> timedelta:
        """Return the wait after `attempts_made` failures: exponential, capped, jittered."""
        exponent = min(max(attempts_made, 1) - 1, 30)
        ceiling = min(self._cap, self._base * (1 << exponent))
        # Half fixed, half random: spreads a burst of retries without ever retrying at once.
        return ceiling * (0.5 + 0.5 * self._rng.random())

    async def dispatch_due(self) -> DispatchReport:
        """Deliver every due message once; one sender kind never waits on another."""
        now = self._clock.now()
        messages = await self._store.claim_due(now, self._batch)
        by_kind: dict[str, list[OutboxMessage]] = {}
        for msg in messages:
            if msg.id in self._in_flight:
                continue  # still being sent by this process (its lease ran out meanwhile)
            by_kind.setdefault(msg.kind, []).append(msg)
        result = _Pass()
        # Within a kind, keep the stored order (a PagerDuty trigger before its resolve).
        outcomes = await asyncio.gather(
            *(self._deliver_in_order(batch, result) for batch in by_kind.values()),
            return_exceptions=True,
        )
        self.passes += 1
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        next_retry = min(result.retries, default=None)
        self._report_failing()
        return DispatchReport(
            tuple(result.deliveries), tuple(result.fallbacks), next_retry, tuple(result.exhausted)
        )

    def _report_failing(self) -> None:
        if self.failing:
            worst = ", ".join(f"#{i}: {r}" for i, r in list(self.failing.items())[:3])
            self.health.fault("pages", f"{len(self.failing)} past their retry budget ({worst})")
        else:
            self.health.ok("pages")

    async def _deliver_in_order(self, batch: list[OutboxMessage], result: _Pass) -> None:
        for msg in batch:
            if self.draining:
                return  # shutting down: the lease lapses and the restart sends it at once
            self.health.beat("outbox")
            self._in_flight.add(msg.id)
            try:
                await self._deliver(msg, result)
            finally:
                self._in_flight.discard(msg.id)

    async def _deliver(self, msg: OutboxMessage, result: _Pass) -> None:
        sender = self._senders.get(msg.kind)
        if sender is None:
            failure = DeliveryFailed(False, f"no sender configured for kind {msg.kind!r}")
            await self._give_up(msg, failure, result)
            return
        if msg.order_key and is_follow_up(msg) and not await self._store.delivered_before(msg):
            # Every older message of its order is settled (the claim waits for them) and none
            # was delivered: the receiver never got the trigger, so it must not get this.
            reason = "not sent: the trigger of this incident was never delivered on this channel"
            await self._store.mark_dead(msg.id, self._clock.now(), reason)
            result.deliveries.append(Delivery(msg.id, msg.kind, DEAD, reason))
            log.error("outbox %s #%s %s", msg.kind, msg.id, reason)
            return
        if msg.attempts >= self._max_attempts and await self._moot(msg, result):
            return
        if self._send_guard is not None and not await self._send_guard():
            log.error("outbox %s #%s not sent: this process no longer leads", msg.kind, msg.id)
            return
        try:
            detail = await sender.send(msg)
        except DeliveryFailed as exc:
            failure = exc
        except Exception as exc:  # a sender bug must not stop the other messages
            log.exception("outbox sender for %s crashed on message %s", msg.kind, msg.id)
            failure = DeliveryFailed(True, f"{type(exc).__name__}: {exc}")
        else:
            await self._store.mark_delivered(msg.id, self._clock.now(), detail)
            self._throttled.pop(msg.id, None)
            if self.failing.pop(msg.id, None) is not None:
                log.warning(
                    "outbox %s #%s delivered after failing past its budget", msg.kind, msg.id
                )
            result.deliveries.append(Delivery(msg.id, msg.kind, DELIVERED, detail))
            return
        if not failure.retryable:
            await self._give_up(msg, failure, result)
            return
        now = self._clock.now()
        if failure.throttled:
            count = self._throttled[msg.id] = self._throttled.get(msg.id, 0) + 1
            wait = failure.retry_after if failure.retry_after is not None else self.backoff(count)
            await self._store.mark_retry(msg.id, now, now + wait, failure.reason, count=False)
            result.retries.append(now + wait)
            result.deliveries.append(Delivery(msg.id, msg.kind, "retry", failure.reason))
            log.info(
                "outbox %s #%s throttled, retry in %s: %s", msg.kind, msg.id, wait, failure.reason
            )
            return
        attempts_made = msg.attempts + 1
        if attempts_made < self._max_attempts:
            wait = max(self.backoff(attempts_made), failure.retry_after or timedelta(0))
            await self._store.mark_retry(msg.id, now, now + wait, failure.reason)
            result.retries.append(now + wait)
            result.deliveries.append(Delivery(msg.id, msg.kind, "retry", failure.reason))
            log.warning("outbox %s #%s retry in %s: %s", msg.kind, msg.id, wait, failure.reason)
            return
        created = msg.created_at
        if created is not None and now - created > self._abandon_after:
            failure = DeliveryFailed(
                False, f"gave up after {attempts_made} attempts over {now - created}: {failure}"
            )
            await self._give_up(msg, failure, result)
            return
        wait = max(
            self._slow * (0.75 + 0.25 * self._rng.random()), failure.retry_after or timedelta(0)
        )
        budget = f"{attempts_made} attempts, max {self._max_attempts}"
        error = f"past its retry budget ({budget}): {failure.reason}"
        first_time = attempts_made == self._max_attempts or msg.id not in self.failing
        self.failing[msg.id] = failure.reason[:200]
        if first_time:
            made = await self._fall_back(msg, failure, result)
            if made:
                error = f"{error}; fell back to {_named(made)}"
            result.exhausted.append(msg.id)
            log.error("outbox %s #%s %s; retrying every %s", msg.kind, msg.id, error, self._slow)
        await self._store.mark_retry(msg.id, now, now + wait, error)
        result.retries.append(now + wait)
        result.deliveries.append(Delivery(msg.id, msg.kind, "retry", error))

    async def _moot(self, msg: OutboxMessage, result: _Pass) -> bool:
        """End a message past its budget that nobody needs any more (its incident ended)."""
        for check in self._still_wanted:
            try:
                reason = await check(msg)
            except Exception:  # cannot tell: keep retrying
                log.exception("outbox still-wanted check failed for %s #%s", msg.kind, msg.id)
                continue
            if reason is not None:
                error = f"not retried any more: {reason}"
                await self._store.mark_dead(msg.id, self._clock.now(), error)
                self.failing.pop(msg.id, None)
                self._throttled.pop(msg.id, None)
                result.deliveries.append(Delivery(msg.id, msg.kind, DEAD, error))
                log.warning("outbox %s #%s %s", msg.kind, msg.id, error)
                return True
        return False

    async def _fall_back(
        self, msg: OutboxMessage, failure: DeliveryFailed, result: _Pass
    ) -> list[tuple[str, int]]:
        made: list[tuple[str, int]] = []
        fallback = self._fallbacks.get(msg.kind)
        for kind, payload in _replacements(fallback(msg, failure) if fallback else None):
            # The key is derived from the failing message's: a repeat (after a crash) is a no-op.
            suffix = f"/fallback:{kind}" if not made else f"/fallback:{kind}:{len(made)}"
            new_id = await self._store.enqueue(
                kind, payload, f"{msg.idempotency_key}{suffix}", self._clock.now()
            )
            made.append((kind, new_id))
            result.fallbacks.append(new_id)
        for hook in self._on_failure:
            try:
                await hook(msg, failure, [i for _, i in made])
            except Exception:  # reporting must never stop delivery
                log.exception("outbox failure hook for %s #%s failed", msg.kind, msg.id)
        return made

    async def _give_up(self, msg: OutboxMessage, failure: DeliveryFailed, result: _Pass) -> None:
        error = failure.reason
        made = await self._fall_back(msg, failure, result)
        if made:
            error = f"{error}; fell back to {_named(made)}"
        await self._store.mark_dead(msg.id, self._clock.now(), error)
        self.failing.pop(msg.id, None)
        result.deliveries.append(Delivery(msg.id, msg.kind, DEAD, error))
        # A message replaced by its fallback still reaches its person: a warning, not an error.
        report = log.warning if made else log.error
        report("outbox %s #%s dead: %s", msg.kind, msg.id, error)

    async def _sleep_for(self) -> float:
        """Return how long to sleep: until the earliest due message, at most the idle poll."""
        now = self._clock.now()
        wake = now + self._idle
        nxt = await self._store.next_due()
        if nxt is not None:
            wake = min(wake, nxt)
        return max((wake - now).total_seconds(), 0.01)

    async def run(
        self, wakeup: asyncio.Event, stop: asyncio.Event, *, heartbeat: float = 5.0
    ) -> None:
        """Dispatch until `stop` is set; sleep until the next due message, `wakeup` or idle.

        A delivery is followed by another pass at once, so the next message of the same
        incident (its order key) goes out right after the one before it. A failing pass (the
        database down) is retried with backoff and reported; the loop never ends on its own.
        """
        failures = 0
        while not stop.is_set() and not self.draining:
            self.health.beat("outbox")
            wakeup.clear()
            try:
                report = await self.dispatch_due()
                seconds = 0.0
                if (
                    not (report.count(DELIVERED) or report.fallbacks_enqueued or report.count(DEAD))
                    and len(report.deliveries) < self._batch
                ):
                    seconds = await self._sleep_for()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                seconds = min(self._cap.total_seconds(), 0.2 * (1 << min(failures - 1, 10)))
                seconds *= 0.5 + 0.5 * self._rng.random()
                if failures == 1:
                    log.exception("outbox dispatch pass failed; retrying in %.1fs", seconds)
                self.health.fault(
                    "outbox", f"dispatch failed ({failures}x): {type(exc).__name__}: {exc}"[:500]
                )
            else:
                if failures:
                    log.warning("outbox dispatch recovered after %d failed passes", failures)
                failures = 0
                self.health.ok("outbox")
            if seconds <= 0:
                await asyncio.sleep(0)  # more may be waiting: go again, but let others run
                continue
            remaining = seconds
            while remaining > 0 and not stop.is_set() and not wakeup.is_set():
                step = min(remaining, heartbeat)
                await _wait_any(wakeup, stop, step)
                self.health.beat("outbox")
                remaining -= step


async def _wait_any(first: asyncio.Event, second: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
