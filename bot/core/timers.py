"""Durable timers: a due time with a kind, the row it concerns, and a guard token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TimerStatus(StrEnum):
    """A timer is pending until it fires once or is cancelled."""

    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TimerRecord:
    """A stored due time. `token` lets the owner ignore timers from a superseded state."""

    id: int
    kind: str
    ref_id: int
    due_at: datetime
    token: int = 0
    payload: Mapping[str, Any] = field(default_factory=dict)
    status: TimerStatus = TimerStatus.PENDING
    attempts: int = 0
