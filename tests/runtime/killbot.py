"""The bot's runtime as a separate process, for the kill test and the SIGTERM test.

Real pieces on a persistent SQLite file: migrations, the incident service with its
escalation timers (steps shortened to seconds by config), the timer loop on APScheduler,
the outbox loop with the PagerDuty and webhook senders, the watchdog and the graceful
shutdown. Only Discord is replaced: "channel" and "dm" messages are POSTed to the receiver.

A scenario driver opens incident i at wall time t0 + i * spacing and resolves it
`resolve_after` seconds later; both are idempotent, so a restart just carries on.
Run: python tests/runtime/killbot.py --db F --receiver URL --t0 T [--incidents N ...]
`--url` takes any database URL instead of `--db` (PostgreSQL); `--leader` makes the process a
replica that stands by until it holds the leader lock (`bot.app.replica`), fences every
transaction and send by its epoch, prints "killbot: leader epoch N" when it leads and exits 3
after "killbot: lost leadership". Every request carries `X-Releasebot-Process: <--name>`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.app.bootstrap import Database, DatabaseOutbox, access_policy  # noqa: E402
from bot.app.replica import become_leader  # noqa: E402
from bot.config import build_settings  # noqa: E402
from bot.core.actors import Actor, Source  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.errors import DomainError  # noqa: E402
from bot.incidents.paging.fallbacks import discord_to_external  # noqa: E402
from bot.incidents.paging.http import post  # noqa: E402
from bot.incidents.wiring import wire_incidents  # noqa: E402
from bot.runtime.background import Background  # noqa: E402
from bot.runtime.health import Health  # noqa: E402
from bot.runtime.leader import LOST_EXIT_CODE, LeaderLock  # noqa: E402
from bot.runtime.outbox import OutboxMessage  # noqa: E402
from bot.runtime.shutdown import Shutdown, drain_and_close  # noqa: E402
from bot.runtime.timers import TimerService  # noqa: E402
from bot.store.db import make_engine  # noqa: E402

SRE = Actor("900", "sre", frozenset({"oncall", "tech_lead", "eng_manager"}))
MEMBERS = {"oncall": ["100"], "tech_lead": ["200"], "eng_manager": ["300"]}
log = logging.getLogger("killbot")


class Directory:
    """Who holds which role (a fixed team; Discord is not connected)."""

    async def role_members(self, role_key: str) -> list[str]:
        """Return the members of a role."""
        return MEMBERS.get(role_key, [])

    async def user_id(self, ref: str) -> str | None:
        """Return a numeric ref as is."""
        return ref if ref.isdigit() else None


class DiscordStandIn:
    """POST "channel"/"dm" messages to the receiver, with the key and a stable nonce."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client, self._url = client, url

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver or raise DeliveryFailed (the same mapping as the paging adapters)."""
        import json

        body = json.dumps({**msg.payload, "nonce": msg.idempotency_key[-25:]}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": msg.idempotency_key}
        response = await post(self._client, self._url, body, headers, "discord")
        return f"HTTP {response.status_code}"


def settings_for(receiver: str, steps: list[int]) -> Any:
    """Return settings: the escalation path in seconds, paging to the receiver."""
    return build_settings(
        {
            "escalation": {
                "steps": [
                    {"target": target, "after": f"{after}s", "pagerduty": True, "webhook": True}
                    for target, after in zip(
                        ("oncall", "tech_lead", "eng_manager"), steps, strict=False
                    )
                ],
                "ack_timeout": "1h",
            },
            "paging": {
                "pagerduty": {"enabled": True, "url": f"{receiver}/pd"},
                "webhook": {"enabled": True, "url": f"{receiver}/hook"},
                "outbox": {
                    "max_attempts": 4,
                    "base_backoff": "1s",
                    "max_backoff": "2s",
                    "slow_retry": "2s",
                    "lease": "2s",
                    "shutdown_grace": "10s",
                },
            },
        },
        env={"RELEASEBOT_PAGERDUTY_ROUTING_KEY": "RK", "RELEASEBOT_WEBHOOK_SECRET": "s3cret"},
    )


async def drive(service: Any, args: argparse.Namespace) -> None:
    """Open and resolve the scenario's incidents at their wall times (idempotently)."""
    done: set[int] = set()
    while len(done) < args.incidents:
        now = time.time()
        known = {i.title: i for i in await service.list_incidents(limit=100)}
        for n in range(args.incidents):
            title = f"kill test incident {n}"
            opens = args.t0 + n * args.spacing
            incident = known.get(title)
            if incident is None and now >= opens:
                try:
                    await service.open(SRE, title=title, severity="P1")
                except DomainError as error:
                    log.info("open %s: %s", n, error)
            elif (
                incident is not None
                and now
                >= (incident.opened_at.timestamp() if args.resolve_from_open else opens)
                + args.resolve_after
            ):
                if incident.status.value != "resolved":
                    try:
                        await service.resolve(incident.id, SRE, "kill test", Source.SLASH)
                    except DomainError as error:
                        log.info("resolve %s: %s", n, error)
                done.add(n)
        await asyncio.sleep(0.1)


async def main(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT (or SIGKILL)."""
    settings = settings_for(args.receiver, [int(s) for s in args.steps.split(",")])
    clock = SystemClock()
    url = args.url or f"sqlite+aiosqlite:///{args.db}"
    shutdown = Shutdown()
    shutdown.install()
    lock: LeaderLock | None = None
    if args.leader:
        lock = LeaderLock(url, args.name, poll_seconds=1.0, lost_after_seconds=args.lost_after)
        if not await become_leader(lock, shutdown.requested):
            return 0
        print(f"killbot: leader epoch {lock.epoch} at {time.time():.3f}", flush=True)
    engine = make_engine(url, fence=lock.fence) if lock else None
    database = Database(url, clock, engine)
    database.outbox_lease = settings.paging.outbox.lease
    health = Health()
    timers = TimerService(database, clock)
    paging = settings.paging.outbox
    background = Background(
        timers, DatabaseOutbox(database), clock, health=health, max_attempts=paging.max_attempts,
        base_backoff=paging.base_backoff, max_backoff=paging.max_backoff,
        slow_retry=paging.slow_retry, send_guard=lock.confirm if lock else None,
    )  # fmt: skip
    database.after_commit.append(background.after_commit)
    await database.start()
    policy = access_policy(settings.permissions)
    headers = {"X-Releasebot-Process": args.name}
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), headers=headers) as client:
        wiring = wire_incidents(
            settings, database, clock, policy, timers, Directory(),
            background=background, http_client=client,
        )  # fmt: skip
        background.add_sender(
            "channel",
            DiscordStandIn(client, f"{args.receiver}/discord/channel"),
            discord_to_external(lambda: set(background.senders)),
        )
        background.add_sender("dm", DiscordStandIn(client, f"{args.receiver}/discord/dm"))
        background.ensure_started()
        driver = asyncio.create_task(drive(wiring.service, args))
        print("killbot: up", flush=True)
        stops = [asyncio.create_task(shutdown.requested.wait())]
        if lock is not None:
            stops.append(asyncio.create_task(lock.lost.wait()))
        await asyncio.wait(stops, return_when=asyncio.FIRST_COMPLETED)
        driver.cancel()
        lost = lock is not None and lock.lost.is_set()
        if lost:
            print(f"killbot: lost leadership at {time.time():.3f}", flush=True)
        finished = await drain_and_close(
            background, database.close, paging.shutdown_grace.total_seconds()
        )
        print(f"killbot: drained={finished}", flush=True)
    if lock is not None:
        await lock.release()
    return LOST_EXIT_CODE if lost else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--url", help="a database URL instead of --db (PostgreSQL)")
    parser.add_argument("--leader", action="store_true", help="stand by until leading")
    parser.add_argument("--name", default="bot", help="X-Releasebot-Process header value")
    parser.add_argument("--lost-after", type=float, default=4.0)
    parser.add_argument(
        "--resolve-from-open", action="store_true", help="resolve after the real open time"
    )
    parser.add_argument("--receiver", required=True)
    parser.add_argument("--t0", type=float, required=True)
    parser.add_argument("--incidents", type=int, default=6)
    parser.add_argument("--spacing", type=float, default=1.5)
    parser.add_argument("--resolve-after", type=float, default=8.0)
    parser.add_argument("--steps", default="0,3,6")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
