"""Graceful shutdown on SIGTERM/SIGINT: stop new work, finish in-flight sends, exit 0.

The first signal stops the timer loop and the outbox from taking new work, waits for the
sends already in flight (at most `grace` seconds, configured as `[paging.outbox]
shutdown_grace`, under Kubernetes' default 30 s), then closes the gateway and the database
engine; the process exits 0. A second signal exits at once (status 128 + signal number).
A message whose send was cut short stays leased; the next start takes the lease back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drainable(Protocol):
    """What shutdown needs from the background."""

    async def drain(self, grace: float) -> bool:
        """Stop taking new work; wait up to `grace` seconds for in-flight sends."""
        ...


class Shutdown:
    """Turn the first SIGTERM/SIGINT into a request to stop; exit at once on the second."""

    def __init__(self, *, exit_now: Callable[[int], Any] = os._exit) -> None:
        self.requested = asyncio.Event()
        self.signals = 0
        self._exit_now = exit_now

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Handle SIGTERM and SIGINT on the running loop."""
        loop = loop or asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.add_signal_handler(sig, self.on_signal, sig)

    def on_signal(self, signum: int) -> None:
        """Record a signal: the first asks to stop, the second exits at once."""
        self.signals += 1
        name = signal.Signals(signum).name
        if self.signals > 1:
            log.warning("%s again: exiting at once", name)
            self._exit_now(128 + signum)
            return
        log.warning("%s: shutting down (in-flight sends may finish)", name)
        self.requested.set()


async def drain_and_close(
    background: Drainable | None, close: Callable[[], Awaitable[None]], grace: float
) -> bool:
    """Drain the background within `grace` s, then close; return True if sends finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    finished = True
    if background is not None:
        finished = await background.drain(grace)
    remaining = max(1.0, deadline - loop.time())
    try:
        await asyncio.wait_for(close(), remaining)
    except TimeoutError:
        log.warning("shutdown: closing took longer than %.1fs; exiting anyway", remaining)
    return finished


async def run_bot(bot: Any, token: str, *, grace: float, stop: asyncio.Event | None = None) -> int:
    """Run a discord.py client until it stops or a signal (or `stop`) asks it to.

    Return the exit code. `stop` is the leader lock's "lost" event on a replica.
    """
    shutdown = Shutdown()
    shutdown.install()
    async with bot:
        runner = asyncio.create_task(bot.start(token), name="releasebot-gateway")
        waiter = asyncio.create_task(shutdown.requested.wait())
        waiters = {runner, waiter}
        if stop is not None:
            waiters.add(asyncio.create_task(stop.wait()))
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in waiters - {runner}:
            task.cancel()
        if runner in done:
            runner.result()  # the client stopped by itself: raise its error, if any
            return 0
        await drain_and_close(getattr(bot, "background", None), bot.close, grace)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
    log.info("shut down cleanly")
    return 0


__all__ = ["Shutdown", "drain_and_close", "run_bot"]
