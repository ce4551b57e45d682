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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.clock import Clock

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED, DEAD = "pending", "delivered", "failed", "dead"


class DeliveryFailed(Exception):
    """Report that a sender could not deliver; `retryable` says whether trying again may help."""

    def __init__(self, retryable: bool, reason: str, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """Hold one notification waiting to be delivered ("channel", "dm", "pagerduty", ...)."""

    id: int
    kind: str
    payload: Mapping[str, Any]
    idempotency_key: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    status: str = PENDING


class OutboxStore(Protocol):
    """Persist outbox messages; every mark_* counts one attempt."""

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Return up to `limit` pending messages due by `now`, oldest first."""
        ...

    async def mark_delivered(self, msg_id: int, now: datetime, detail: str | None) -> None:
        """Record a delivery (attempts + 1, status delivered)."""
        ...

    async def mark_retry(
        self, msg_id: int, now: datetime, next_attempt_at: datetime, error: str
    ) -> None:
        """Record a failed attempt and when to try again (attempts + 1, stays pending)."""
        ...

    async def mark_dead(self, msg_id: int, now: datetime, error: str) -> None:
        """Record that the message will never be delivered (attempts + 1, status dead)."""
        ...

    async def enqueue(
        self, kind: str, payload: Mapping[str, Any], idempotency_key: str, now: datetime
    ) -> int:
        """Store a new message, or return the existing id if the key is already stored."""
        ...


class Sender(Protocol):
    """Deliver one message; raise DeliveryFailed when it cannot."""

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver `msg` and return a short detail (e.g. the remote id), or raise."""
        ...


Fallback = Callable[[OutboxMessage, DeliveryFailed], tuple[str, dict[str, Any]] | None]


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

    def count(self, outcome: str) -> int:
        """Return how many messages ended the pass with `outcome` (delivered/retry/dead)."""
        return sum(1 for d in self.deliveries if d.outcome == outcome)


def dm_to_channel_mention(channel_id: int | str) -> Fallback:
    """Return a fallback that turns a refused DM into a mention in `channel_id`.

    A DM payload needs "user_id" and "content"; the channel payload carries the same content
    prefixed by the mention, plus which message it replaces.
    """

    def fallback(msg: OutboxMessage, error: DeliveryFailed) -> tuple[str, dict[str, Any]] | None:
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


@dataclass
class _Pass:
    deliveries: list[Delivery] = field(default_factory=list)
    fallbacks: list[int] = field(default_factory=list)
    retries: list[datetime] = field(default_factory=list)


class OutboxDispatcher:
    """Deliver due outbox messages through per-kind senders, with backoff and fallbacks."""

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
        self._fallbacks = dict(fallbacks or {})
        self._rng = rng or random.Random()
        self._batch = batch_size
        self._idle = idle_poll
        self._next_retry: datetime | None = None

    def backoff(self, attempts_made: int) -> timedelta:
        """Return the wait after `attempts_made` failures: exponential, capped, jittered."""
        exponent = min(attempts_made - 1, 30)
        ceiling = min(self._cap, self._base * (1 << exponent))
        # Half fixed, half random: spreads a burst of retries without ever retrying at once.
        return ceiling * (0.5 + 0.5 * self._rng.random())

    async def dispatch_due(self) -> DispatchReport:
        """Deliver every due message once; one sender kind never waits on another."""
        now = self._clock.now()
        messages = await self._store.claim_due(now, self._batch)
        by_kind: dict[str, list[OutboxMessage]] = {}
        for msg in messages:
            by_kind.setdefault(msg.kind, []).append(msg)
        result = _Pass()
        # Within a kind, keep the stored order (a PagerDuty trigger before its resolve).
        outcomes = await asyncio.gather(
            *(self._deliver_in_order(batch, result) for batch in by_kind.values()),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        next_retry = min(result.retries, default=None)
        if next_retry is not None and (self._next_retry is None or next_retry < self._next_retry):
            self._next_retry = next_retry
        return DispatchReport(tuple(result.deliveries), tuple(result.fallbacks), next_retry)

    async def _deliver_in_order(self, batch: list[OutboxMessage], result: _Pass) -> None:
        for msg in batch:
            await self._deliver(msg, result)

    async def _deliver(self, msg: OutboxMessage, result: _Pass) -> None:
        sender = self._senders.get(msg.kind)
        if sender is None:
            failure = DeliveryFailed(False, f"no sender configured for kind {msg.kind!r}")
            await self._give_up(msg, failure, result)
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
            result.deliveries.append(Delivery(msg.id, msg.kind, DELIVERED, detail))
            return
        attempts_made = msg.attempts + 1
        if failure.retryable and attempts_made < self._max_attempts:
            now = self._clock.now()
            wait = max(self.backoff(attempts_made), failure.retry_after or timedelta(0))
            await self._store.mark_retry(msg.id, now, now + wait, failure.reason)
            result.retries.append(now + wait)
            result.deliveries.append(Delivery(msg.id, msg.kind, "retry", failure.reason))
            log.warning("outbox %s #%s retry in %s: %s", msg.kind, msg.id, wait, failure.reason)
            return
        if failure.retryable:
            failure = DeliveryFailed(False, f"gave up after {attempts_made} attempts: {failure}")
        await self._give_up(msg, failure, result)

    async def _give_up(self, msg: OutboxMessage, failure: DeliveryFailed, result: _Pass) -> None:
        error = failure.reason
        fallback = self._fallbacks.get(msg.kind)
        replacement = fallback(msg, failure) if fallback is not None else None
        if replacement is not None:
            kind, payload = replacement
            key = f"{msg.idempotency_key}/fallback:{kind}"
            new_id = await self._store.enqueue(kind, payload, key, self._clock.now())
            result.fallbacks.append(new_id)
            error = f"{error}; fell back to {kind} message #{new_id}"
        await self._store.mark_dead(msg.id, self._clock.now(), error)
        result.deliveries.append(Delivery(msg.id, msg.kind, DEAD, error))
        # A message replaced by its fallback still reaches its person: a warning, not an error.
        report = log.warning if replacement is not None else log.error
        report("outbox %s #%s dead: %s", msg.kind, msg.id, error)

    def _idle_for(self, report: DispatchReport) -> float:
        now = self._clock.now()
        if self._next_retry is not None and self._next_retry <= now:
            self._next_retry = None
        wake = now + self._idle
        if self._next_retry is not None:
            wake = min(wake, self._next_retry)
        if report.fallbacks_enqueued:
            wake = now
        return max((wake - now).total_seconds(), 0.0)

    async def run(self, wakeup: asyncio.Event, stop: asyncio.Event) -> None:
        """Dispatch until `stop` is set; sleep until the next retry, `wakeup` or the idle poll."""
        while not stop.is_set():
            wakeup.clear()
            try:
                report = await self.dispatch_due()
            except Exception:
                log.exception("outbox dispatch pass failed; trying again after the idle poll")
                report = DispatchReport()
                self._next_retry = None
            if len(report.deliveries) >= self._batch:
                await asyncio.sleep(0)  # more may be waiting: go again, but let others run
                continue
            await _wait_any(wakeup, stop, self._idle_for(report))


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
