"""An in-memory OutboxStore: a working fake of the SQL store (same contract), not a mock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.runtime.outbox import OutboxMessage


class MemoryOutbox:
    """Keep outbox messages in a dict, honouring the OutboxStore contract."""

    def __init__(self) -> None:
        self.messages: dict[int, OutboxMessage] = {}
        self.errors: dict[int, list[str]] = {}
        self.details: dict[int, str | None] = {}
        self._keys: dict[str, int] = {}

    async def enqueue(
        self, kind: str, payload: Mapping[str, Any], idempotency_key: str, now: datetime
    ) -> int:
        """Store a message once per key; return its id."""
        if idempotency_key in self._keys:
            return self._keys[idempotency_key]
        msg_id = len(self.messages) + 1
        self.messages[msg_id] = OutboxMessage(
            msg_id, kind, dict(payload), idempotency_key, 0, now, "pending"
        )
        self._keys[idempotency_key] = msg_id
        return msg_id

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Return pending messages due by `now`, oldest first."""
        due = [
            m
            for m in self.messages.values()
            if m.status == "pending" and (m.next_attempt_at is None or m.next_attempt_at <= now)
        ]
        return sorted(due, key=lambda m: m.id)[:limit]

    async def mark_delivered(self, msg_id: int, now: datetime, detail: str | None) -> None:
        """Record a delivery."""
        self._bump(msg_id, status="delivered")
        self.details[msg_id] = detail

    async def mark_retry(
        self,
        msg_id: int,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
        *,
        count: bool = True,
    ) -> None:
        """Record a failed attempt (counted unless throttled) and the next try."""
        if count:
            self._bump(msg_id, next_attempt_at=next_attempt_at)
        else:
            self.messages[msg_id] = replace(self.messages[msg_id], next_attempt_at=next_attempt_at)
        self.errors.setdefault(msg_id, []).append(error)

    async def next_due(self) -> datetime | None:
        """Return the earliest due time of a pending message."""
        due = [m.next_attempt_at for m in self.messages.values() if m.status == "pending"]
        return min((d for d in due if d is not None), default=None)

    async def delivered_before(self, msg: OutboxMessage) -> bool:
        """Return True if an older message of the same order key was delivered."""
        if not msg.order_key:
            return True
        return any(
            m.order_key == msg.order_key and m.id < msg.id and m.status == "delivered"
            for m in self.messages.values()
        )

    async def mark_dead(self, msg_id: int, now: datetime, error: str) -> None:
        """Record a message that will never be delivered."""
        self._bump(msg_id, status="dead")
        self.errors.setdefault(msg_id, []).append(error)

    def _bump(self, msg_id: int, **changes: Any) -> None:
        msg = self.messages[msg_id]
        self.messages[msg_id] = replace(msg, attempts=msg.attempts + 1, **changes)
