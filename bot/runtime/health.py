"""What the bot knows about its own health: heartbeats of its loops and recent faults.

The loops (event loop ticker, timer scheduler, outbox dispatcher) call `beat(name)` each time
round; `/healthz` (liveness) fails when a started loop has not beaten within its bound.
Faults (a failed database write, a page failing past its retry budget) are reported with
`fault(name, reason)` and cleared with `ok(name)`; `/readyz` (readiness) fails while any is
set, or while a readiness check (the database is writable, the gateway is connected) fails.
Nothing here touches the database itself except the readiness checks the app registers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str | None]]  # None when fine, else the reason


@dataclass
class Heartbeat:
    """One loop's last sign of progress (monotonic seconds) and how stale it may get."""

    bound: float
    last: float = field(default_factory=time.monotonic)
    started: bool = True

    def age(self) -> float:
        """Return seconds since the last beat."""
        return time.monotonic() - self.last


def gateway_connected(client: Any) -> ReadinessCheck:
    """Return a check that the Discord client is logged in and its gateway socket is open."""

    async def check() -> str | None:
        if client.is_closed():
            return "closed"
        if not client.is_ready():
            return "not connected yet"
        ws = getattr(client, "ws", None)
        if ws is None or not getattr(ws, "open", True):
            return "gateway disconnected"
        return None

    return check


class Health:
    """Heartbeats, faults and readiness checks of one bot process."""

    def __init__(self, *, ticker_interval: float = 1.0, loop_bound: float = 10.0) -> None:
        self.beats: dict[str, Heartbeat] = {}
        self.faults: dict[str, str] = {}
        self.checks: dict[str, ReadinessCheck] = {}
        self._ticker_interval = ticker_interval
        self._loop_bound = loop_bound
        self._ticker: asyncio.Task[None] | None = None
        self.lag = 0.0  # the event loop's latest scheduling delay, in seconds

    def watch(self, name: str, bound: float) -> None:
        """Expect `name` to beat at least every `bound` seconds from now on."""
        self.beats[name] = Heartbeat(bound)

    def unwatch(self, name: str) -> None:
        """Stop expecting beats from `name` (it was stopped on purpose)."""
        self.beats.pop(name, None)

    def beat(self, name: str) -> None:
        """Record progress of `name`."""
        beat = self.beats.get(name)
        if beat is not None:
            beat.last = time.monotonic()

    def fault(self, name: str, reason: str) -> None:
        """Report a fault (kept until `ok(name)`)."""
        if self.faults.get(name) != reason:
            log.warning("health: %s: %s", name, reason)
        self.faults[name] = reason

    def ok(self, name: str) -> None:
        """Clear the fault `name`, if any."""
        if self.faults.pop(name, None) is not None:
            log.info("health: %s recovered", name)

    def stale(self) -> dict[str, float]:
        """Return the loops that have not beaten within their bound (name -> age)."""
        return {n: b.age() for n, b in self.beats.items() if b.age() > b.bound}

    def liveness(self) -> tuple[bool, dict[str, object]]:
        """Return (alive, details): every watched loop beat within its bound."""
        stale = self.stale()
        details: dict[str, object] = {
            name: f"stalled {beat.age():.1f}s" if name in stale else "ok"
            for name, beat in self.beats.items()
        }
        details["event_loop_lag"] = round(self.lag, 3)
        return not stale, details

    async def readiness(self, limit: float = 2.0) -> tuple[bool, dict[str, object]]:
        """Return (ready, details): no fault reported and every readiness check passes."""
        details: dict[str, object] = {}
        ready = True
        for name, check in self.checks.items():
            try:
                reason = await asyncio.wait_for(check(), limit)
            except Exception as exc:  # a check that fails or hangs is a failed check
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            details[name] = reason or "ok"
            ready = ready and reason is None
        for name, reason in self.faults.items():
            details[name] = reason
            ready = False
        return ready, details

    async def start(self) -> None:
        """Start the event-loop ticker (its heartbeat proves the loop is not blocked)."""
        if self._ticker is None:
            self.watch("event_loop", self._loop_bound)
            self._ticker = asyncio.create_task(self._tick(), name="releasebot-health-ticker")

    async def stop(self) -> None:
        """Stop the ticker."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
            self.unwatch("event_loop")

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self._ticker_interval)
            self.lag = max(0.0, loop.time() - before - self._ticker_interval)
            self.beat("event_loop")


__all__ = ["Health", "Heartbeat", "ReadinessCheck"]
