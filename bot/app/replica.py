"""`releasebot run` with `[leader] enabled`: stand by until this replica leads, then run.

A standby serves a small web app on the web port (`/healthz`, `/readyz`: 200 with role
"standby"; `POST /alertmanager` forwarded to the leader's advertised address) and tries for
the leader lock every `leader.poll_seconds`. Once it holds the lock it migrates the
schema (still unfenced: the epoch row may not exist yet), increments the epoch, and runs the
whole bot (Discord gateway, timers, outbox, web) with every transaction fenced by that epoch
and every send confirmed (`bot.runtime.leader`). When it loses the lock it stops all work and
exits with status 3, so its supervisor restarts it as a standby.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from bot.runtime.leader import LOST_EXIT_CODE, LeaderLock, serve_standby
from bot.runtime.shutdown import Shutdown, run_bot
from bot.store import migrate
from bot.store.db import make_engine

log = logging.getLogger(__name__)


def advertise_address(settings: Settings) -> str:
    """Return where this replica's web server answers: RELEASEBOT_ADVERTISE_URL, else its IP.

    In Kubernetes a pod's hostname resolves to its pod IP, which the other replicas reach.
    """
    given = os.environ.get("RELEASEBOT_ADVERTISE_URL", "").strip()
    if given:
        return given
    try:
        host = socket.gethostbyname(socket.gethostname())
    except OSError:
        host = "127.0.0.1"
    return f"http://{host}:{settings.web.port}"


def leader_lock(settings: Settings, holder: str | None = None) -> LeaderLock:
    """Return this replica's lock on the configured database."""
    return LeaderLock(
        settings.database_url,
        holder or f"{socket.gethostname()}:{os.getpid()}",
        poll_seconds=settings.leader.poll_seconds,
        lost_after_seconds=settings.leader.lost_after_seconds,
        address=advertise_address(settings) if settings.web.enabled else None,
    )


async def become_leader(
    lock: LeaderLock,
    stop: asyncio.Event,
    *,
    standby_web: tuple[str, int] | None = None,
) -> bool:
    """Wait for the lock (serving the standby probes meanwhile), migrate, take the epoch.

    Return False if `stop` was set before this replica got the lead.
    """
    runner = await serve_standby(lock, *standby_web) if standby_web else None
    try:
        log.warning("standby: %s waits to lead", lock.holder)
        if not await lock.acquire(stop):
            return False
    finally:
        if runner is not None:
            await runner.cleanup()  # the leader's own web server takes the port
    await _migrate(lock.url)
    await lock.take_over()
    return True


async def _migrate(url: str, attempts: int = 4) -> None:
    """Upgrade the schema; retry while a paused predecessor still holds the write lock.

    Its transaction is ended by the server within IDLE_IN_TRANSACTION_TIMEOUT, shorter than
    the lock timeout, so the next attempt gets through.
    """
    for attempt in range(1, attempts + 1):
        engine = make_engine(url)
        try:
            await migrate.upgrade(engine)
            return
        except DBAPIError as error:
            if attempt == attempts or "lock timeout" not in str(error):
                raise
            log.warning("standby: the write lock is still held; migrating again (%d)", attempt)
        finally:
            await engine.dispose()


async def run_replica(settings: Settings, token: str, *, grace: float) -> int:
    """Stand by, then lead until stopped (exit 0) or until the lead is lost (exit 3)."""
    from bot.app.bootstrap import create_bot

    shutdown = Shutdown()
    shutdown.install()
    lock = leader_lock(settings)
    web = (settings.web.host, settings.web.port) if settings.web.enabled else None
    try:
        if not await become_leader(lock, shutdown.requested, standby_web=web):
            return 0
        bot = create_bot(settings, leader=lock)
        code = await run_bot(bot, token, grace=grace, stop=lock.lost)
        return LOST_EXIT_CODE if lock.lost.is_set() else code
    finally:
        await lock.release()
