"""Leader election for replicas on one PostgreSQL: an advisory lock, an epoch, a fence.

Several bot processes may run against one PostgreSQL database; exactly one is the leader
(the Discord gateway, the timer loop, the outbox), the others are standbys that serve only the small
web app below and try to take the lead every `poll_seconds`.

- **Standby.** A standby is alive and ready (`/healthz`, `/readyz` 200, role "standby") and
  forwards `POST /alertmanager` to the leader's address, so a Service may route to any replica.
- **Lock.** The leader holds `pg_try_advisory_lock(LEADER_KEY)` on a dedicated connection.
  PostgreSQL releases it the moment that session ends: the process died (SIGKILL: the kernel
  closes the socket), the node vanished (TCP keepalive), or the session sat idle longer than
  `lost_after_seconds` (`idle_session_timeout`: a process that is paused, SIGSTOP or a frozen
  VM, stops heartbeating and the server ends its session for it).
- **Epoch.** On taking the lock the new leader increments `leadership.epoch` (under the write
  lock every transaction takes, `bot.store.db`) and remembers it.
- **Fence.** `fence` runs at the start of every transaction of the leader's engine and
  refuses when the row no longer holds its epoch (or the lock was seen lost), so a deposed
  leader can neither claim a timer nor an outbox message nor record anything. `confirm()`
  is checked by the outbox right before each send, for a message claimed just before a pause.

What the fence cannot cover is a request already on the wire when the process paused: that
message stays leased and the new leader sends it again with the same idempotency key (the
documented at-least-once). The deposed process notices on its next heartbeat and exits
(status 3); its supervisor restarts it as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# The advisory lock that makes a leader ("RBLD"), distinct from the write lock's key.
LEADER_KEY = 0x52424C44
# The same value as bot.store.db.WRITE_LOCK_KEY (the runtime layer cannot import the store).
WRITE_LOCK_KEY = 0x72626F74
LOST_EXIT_CODE = 3

_BUMP = text(
    "INSERT INTO leadership (id, epoch, holder, address, acquired_at) "
    "VALUES (1, 1, :holder, :address, :now) "
    "ON CONFLICT (id) DO UPDATE SET epoch = leadership.epoch + 1, holder = EXCLUDED.holder, "
    "address = EXCLUDED.address, acquired_at = EXCLUDED.acquired_at RETURNING epoch"
)
# Request headers a standby passes on when it forwards an Alertmanager push to the leader.
_FORWARDED = ("Authorization", "Content-Type", "X-Releasebot-Signature", "User-Agent")


class LeadershipLost(RuntimeError):
    """This process is no longer the leader: it must not write or send anything."""


class LeaderLock:
    """Take, hold and check the leadership of the replicas sharing `url` (PostgreSQL only)."""

    def __init__(
        self,
        url: str,
        holder: str,
        *,
        poll_seconds: float = 2.0,
        lost_after_seconds: float = 10.0,
        address: str | None = None,
    ) -> None:
        self.url = url
        self.holder = holder[:200]
        self.address = address[:300] if address else None
        self.poll_seconds = poll_seconds
        self.lost_after_seconds = lost_after_seconds
        self.heartbeat_seconds = max(0.2, lost_after_seconds / 5)
        self.epoch: int | None = None
        self.acquired_at: float | None = None
        self.lost = asyncio.Event()
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._use = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        """Return True while the lock is held and was not seen lost."""
        return self.epoch is not None and not self.lost.is_set()

    def _make_engine(self) -> AsyncEngine:
        if self._engine is None:
            # Its own engine, without the store's listeners: the lock session must not take
            # the write lock, and must never be shared with units of work.
            self._engine = create_async_engine(self.url, poolclass=NullPool)
        return self._engine

    async def _connect(self) -> AsyncConnection:
        conn = await self._make_engine().connect()
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("SELECT set_config('application_name', :name, false)"), {
            "name": f"releasebot-leader {self.holder}"[:63]
        })  # fmt: skip
        return conn

    async def try_acquire(self) -> bool:
        """Try once to take the lock; on success bump the epoch and return True."""
        async with self._use:
            if self._conn is None:
                self._conn = await self._connect()
            got = await self._conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {
                "key": LEADER_KEY
            })  # fmt: skip
            if not got:
                return False
            # From now on a pause longer than lost_after_seconds ends this session (and the lock);
            # the heartbeat keeps it busy from here on, through the migrations to take_over.
            await self._conn.execute(
                text("SELECT set_config('idle_session_timeout', :ms, false)"),
                {"ms": str(int(self.lost_after_seconds * 1000))},
            )
        self._watch = asyncio.create_task(self._heartbeat(), name="releasebot-leader")
        return True

    async def acquire(self, stop: asyncio.Event | None = None) -> bool:
        """Wait until this process holds the lock (False if `stop` was set first)."""
        while stop is None or not stop.is_set():
            try:
                if await self.try_acquire():
                    return True
            except (OSError, SQLAlchemyError) as error:
                log.warning("leader: cannot reach the database (%s); retrying", error)
                await self._drop_connection()
            if stop is None:
                await asyncio.sleep(self.poll_seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
        return False

    async def take_over(self) -> int:
        """Increment the epoch (call once holding the lock, after migrating); return it."""
        if self.lost.is_set():
            raise LeadershipLost("the lock was lost before taking over")
        async with self._make_engine().begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
            epoch = int(
                (
                    await conn.execute(
                        _BUMP,
                        {"holder": self.holder, "address": self.address, "now": datetime.now(UTC)},
                    )
                ).scalar_one()
            )
        self.epoch = epoch
        self.acquired_at = time.monotonic()
        log.warning("leader: %s leads with epoch %d", self.holder, epoch)
        return epoch

    def fence(self, connection: Any) -> None:
        """Refuse a transaction of a deposed leader (a SQLAlchemy "begin" listener)."""
        if self.epoch is None or self.lost.is_set():
            raise LeadershipLost("this process is not the leader")
        found = connection.exec_driver_sql("SELECT epoch FROM leadership WHERE id = 1").scalar()
        if found != self.epoch:
            self._lose(f"epoch {found} in the database, ours is {self.epoch}")
            raise LeadershipLost(f"another replica took over (epoch {found}, ours {self.epoch})")

    async def confirm(self) -> bool:
        """Return True if the lock session is alive and still holds the lock (before a send)."""
        if not self.is_leader or self._conn is None:
            return False
        try:
            async with self._use:
                held = await asyncio.wait_for(
                    self._conn.scalar(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND pid = pg_backend_pid() AND objid = :key AND granted"
                        ),
                        {"key": LEADER_KEY},
                    ),
                    timeout=max(1.0, self.heartbeat_seconds),
                )
        except (OSError, SQLAlchemyError, TimeoutError) as error:
            self._lose(f"the lock session failed: {type(error).__name__}: {error}")
            return False
        if not held:
            self._lose("the lock is no longer held")
            return False
        return True

    async def leader_address(self) -> str | None:
        """Return where the current leader's web server answers (None: no leader known)."""
        async with self._use:
            if self._conn is None:
                self._conn = await self._connect()
            found = await self._conn.scalar(text("SELECT address FROM leadership WHERE id = 1"))
        return str(found) if found else None

    def _lose(self, reason: str) -> None:
        if not self.lost.is_set():
            log.error("leader: lost leadership (%s): stopping all work", reason)
            self.lost.set()

    async def _heartbeat(self) -> None:
        """Keep the lock session busy; notice at once when it ends."""
        while not self.lost.is_set():
            await asyncio.sleep(self.heartbeat_seconds)
            if self.epoch is not None:
                await self.confirm()
                continue
            try:  # holding the lock, not leading yet (migrating): just keep the session alive
                async with self._use:
                    assert self._conn is not None
                    await self._conn.execute(text("SELECT 1"))
            except (OSError, SQLAlchemyError, AssertionError) as error:
                self._lose(f"the lock session failed before taking over: {error}")

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def release(self) -> None:
        """Give the lock up (a clean shutdown) so a standby takes over at once."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        async with self._use:
            if self._conn is not None and not self.lost.is_set():
                with contextlib.suppress(Exception):
                    await self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            await self._drop_connection()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def standby_app(lock: LeaderLock, *, forward_timeout: float = 10.0) -> web.Application:
    """Return the standby's web app.

    `/healthz` and `/readyz` answer 200 with `"role": "standby"` while the standby can reach
    the database (so a rolling update and a PodDisruptionBudget count it as a replica ready
    to take over); `POST /alertmanager` is forwarded to the leader's address (from the
    leadership row), so any replica behind the Service accepts a push.
    """

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": "standby", "holder": lock.holder})

    async def readyz(_request: web.Request) -> web.Response:
        try:
            leader = await asyncio.wait_for(lock.leader_address(), 5)
        except (OSError, SQLAlchemyError, TimeoutError) as error:
            detail = f"cannot reach the database: {type(error).__name__}"
            return web.json_response({"status": "not ready", "detail": detail}, status=503)
        return web.json_response({"status": "ready", "role": "standby", "leader": leader})

    async def alertmanager(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            leader = await asyncio.wait_for(lock.leader_address(), 5)
        except (OSError, SQLAlchemyError, TimeoutError):
            leader = None
        if not leader:
            return web.json_response(
                {"status": "error", "reason": "standby: no leader to forward the push to"},
                status=503,
            )
        headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=forward_timeout)
                ) as session,
                session.post(
                    f"{leader.rstrip('/')}/alertmanager", data=body, headers=headers
                ) as answer,
            ):
                payload = await answer.read()
                return web.Response(
                    body=payload, status=answer.status, content_type=answer.content_type
                )
        except (aiohttp.ClientError, TimeoutError) as error:
            reason = f"standby: the leader did not answer ({type(error).__name__})"
            return web.json_response({"status": "error", "reason": reason}, status=503)

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/alertmanager", alertmanager)
    return app


async def serve_standby(lock: LeaderLock, host: str, port: int) -> web.AppRunner:
    """Start the standby web server (stop it with `runner.cleanup()` before leading)."""
    runner = web.AppRunner(standby_app(lock), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner


__all__ = [
    "LEADER_KEY",
    "LOST_EXIT_CODE",
    "LeaderLock",
    "LeadershipLost",
    "serve_standby",
    "standby_app",
]
