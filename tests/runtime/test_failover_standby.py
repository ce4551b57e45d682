"""The leader lock in-process, on the real PostgreSQL test server: lock, epoch, fence, standby.

Two `LeaderLock`s stand for two replicas (each has its own sessions, as two processes would).
The leader's web server is a real aiohttp app on loopback that records what reaches it; the
standby's web app is the real one (`bot.runtime.leader.standby_app`) served on loopback too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import text

from bot.runtime.leader import LeaderLock, LeadershipLost, serve_standby
from bot.store.db import make_engine
from tests.support.postgres import PostgresServer


@pytest.fixture
async def url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """Yield a migrated PostgreSQL database of its own."""
    name = await postgres_server.create_database()
    yield postgres_server.url(name)
    await postgres_server.drop_database(name)


async def _lead(url: str, holder: str, address: str | None = None) -> LeaderLock:
    lock = LeaderLock(url, holder, poll_seconds=0.2, lost_after_seconds=2.0, address=address)
    assert await lock.try_acquire()
    await lock.take_over()
    return lock


async def test_one_leader_at_a_time_and_the_next_epoch_on_takeover(url: str):
    """A second replica cannot lead while the first holds the lock; it takes over at release."""
    first = await _lead(url, "a")
    second = LeaderLock(url, "b", poll_seconds=0.2, lost_after_seconds=2.0)
    try:
        assert first.epoch == 1 and first.is_leader
        assert await second.try_acquire() is False
        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # still standing by
        await first.release()
        assert await asyncio.wait_for(waiting, 5) is True
        assert await second.take_over() == 2
    finally:
        await first.release()
        await second.release()


async def test_a_deposed_leader_is_fenced_out_of_every_transaction(url: str):
    """Once another replica took over, the old leader's transactions and sends are refused."""
    old = await _lead(url, "old")
    engine = make_engine(url, fence=old.fence)
    try:
        async with engine.begin() as conn:  # the leader writes
            await conn.execute(text("UPDATE leadership SET holder = holder"))
        # The old leader's lock session dies (as after a pause past idle_session_timeout).
        async with make_engine(url).connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'releasebot-leader old%'"
                )
            )
        new = await _lead(url, "new")
        try:
            assert new.epoch == 2
            with pytest.raises(LeadershipLost, match="epoch 2"):
                async with engine.begin() as conn:
                    await conn.execute(text("SELECT 1"))
            assert old.lost.is_set()
            assert await old.confirm() is False  # no send either
            assert await new.confirm() is True
        finally:
            await new.release()
    finally:
        await engine.dispose()
        await old.release()


async def test_a_silent_leader_loses_the_lock_after_lost_after_seconds(url: str):
    """A leader that stops heartbeating (paused) loses its session, and so the lock, in time."""
    lock = LeaderLock(url, "paused", poll_seconds=0.2, lost_after_seconds=2.0)
    assert await lock.try_acquire()
    assert lock._watch is not None
    lock._watch.cancel()  # the process stops running (paused): nothing heartbeats the session
    other = LeaderLock(url, "other", poll_seconds=0.2, lost_after_seconds=2.0)
    try:
        assert await other.try_acquire() is False
        assert await asyncio.wait_for(other.acquire(), 10) is True  # after ~2 s idle
    finally:
        await other.release()
        await lock.release()


class Leader:
    """A stand-in for the leader's web server: records pushes, answers 202."""

    def __init__(self) -> None:
        self.pushes: list[tuple[dict[str, str], bytes]] = []

    async def alertmanager(self, request: web.Request) -> web.Response:
        self.pushes.append((dict(request.headers), await request.read()))
        return web.json_response({"status": "accepted"}, status=202)


@pytest.fixture
async def leader_web() -> AsyncIterator[tuple[Leader, str]]:
    """Serve a recording leader on loopback."""
    leader = Leader()
    app = web.Application()
    app.router.add_post("/alertmanager", leader.alertmanager)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield leader, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_the_standby_is_ready_and_forwards_alertmanager_pushes(
    url: str, leader_web: tuple[Leader, str]
):
    """A standby answers its probes as "standby" and hands an Alertmanager push to the leader."""
    recorder, address = leader_web
    leading = await _lead(url, "leader", address)
    standby = LeaderLock(url, "standby", poll_seconds=0.2, lost_after_seconds=2.0)
    runner = await serve_standby(standby, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
            body = b'{"version": "4", "alerts": []}'
            push = await client.post(
                "/alertmanager",
                content=body,
                headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"},
            )
        assert (health.status_code, health.json()["role"]) == (200, "standby")
        assert ready.status_code == 200 and ready.json()["leader"] == address
        assert push.status_code == 202 and push.json() == {"status": "accepted"}
        headers: dict[str, Any]
        [(headers, received)] = recorder.pushes
        assert received == body and headers["Authorization"] == "Bearer t0ken"
    finally:
        await runner.cleanup()
        await standby.release()
        await leading.release()


async def test_a_push_with_no_leader_is_a_503_not_a_crash(url: str):
    """With no leader recorded, the standby answers 503 with a JSON reason."""
    standby = LeaderLock(url, "standby", poll_seconds=0.2, lost_after_seconds=2.0)
    runner = await serve_standby(standby, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient() as client:
            push = await client.post(f"http://127.0.0.1:{port}/alertmanager", content=b"{}")
        assert push.status_code == 503
        assert "no leader" in push.json()["reason"]
    finally:
        await runner.cleanup()
        await standby.release()


async def test_become_leader_serves_the_standby_probes_then_migrates_and_leads(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
):
    """A replica stands by (probes answered) while another leads; it then migrates and leads."""
    from bot.app.replica import advertise_address, become_leader, leader_lock
    from bot.config import build_settings

    name = await postgres_server.create_database(template=None)  # empty: the leader migrates
    url = postgres_server.url(name)
    monkeypatch.delenv("RELEASEBOT_ADVERTISE_URL", raising=False)
    settings = build_settings(
        {"leader": {"enabled": True, "poll_seconds": 0.2, "lost_after_seconds": 2}},
        env={"RELEASEBOT_DATABASE_URL": url},
    )
    assert advertise_address(settings).endswith(":8080")
    monkeypatch.setenv("RELEASEBOT_ADVERTISE_URL", "http://leader.example:8080")
    first = leader_lock(settings, "first")
    second = leader_lock(settings, "second")
    stop = asyncio.Event()
    try:
        assert await become_leader(first, stop) is True
        assert first.epoch == 1 and first.address == "http://leader.example:8080"
        with socket_port() as port:
            waiting = asyncio.create_task(
                become_leader(second, stop, standby_web=("127.0.0.1", port))
            )
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(100):  # the standby's web app comes up while it waits
                    try:
                        ready = await client.get("/readyz")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
            assert ready.json() == {
                "status": "ready", "role": "standby", "leader": "http://leader.example:8080"
            }  # fmt: skip
            await first.release()
            assert await asyncio.wait_for(waiting, 10) is True
        assert second.epoch == 2
        stopped = leader_lock(settings, "third")
        stop.set()
        assert await become_leader(stopped, stop) is False  # asked to stop while standing by
        await stopped.release()
    finally:
        await first.release()
        await second.release()
        await postgres_server.drop_database(name)


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """Yield a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


def test_leader_election_is_refused_on_sqlite():
    """`[leader] enabled` needs PostgreSQL: check-config names the key and the fix."""
    from bot.config import ConfigError, build_settings

    with pytest.raises(ConfigError, match=r"leader\.enabled: true, but the database is not"):
        build_settings({"leader": {"enabled": True}}, env={})
