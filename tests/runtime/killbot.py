"""The bot's runtime as a separate process, for the kill test and the SIGTERM test.

Real pieces on a persistent SQLite file: migrations, the incident service with its
escalation timers (steps shortened to seconds by config), the timer loop on APScheduler,
the outbox loop with the PagerDuty and webhook senders, the watchdog and the graceful
shutdown. Only Discord is replaced: "channel" and "dm" messages are POSTed to the receiver.

A scenario driver opens incident i at wall time t0 + i * spacing and resolves it
`resolve_after` seconds later; both are idempotent, so a restart just carries on.
Run: python tests/runtime/killbot.py --db F --receiver URL --t0 T [--incidents N ...]
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
from bot.config import build_settings  # noqa: E402
from bot.core.actors import Actor, Source  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.errors import DomainError  # noqa: E402
from bot.incidents.paging.fallbacks import discord_to_external  # noqa: E402
from bot.incidents.paging.http import post  # noqa: E402
from bot.incidents.wiring import wire_incidents  # noqa: E402
from bot.runtime.background import Background  # noqa: E402
from bot.runtime.health import Health  # noqa: E402
from bot.runtime.outbox import OutboxMessage  # noqa: E402
from bot.runtime.shutdown import Shutdown, drain_and_close  # noqa: E402
from bot.runtime.timers import TimerService  # noqa: E402

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
            elif incident is not None and now >= opens + args.resolve_after:
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
    database = Database(f"sqlite+aiosqlite:///{args.db}", clock)
    database.outbox_lease = settings.paging.outbox.lease
    health = Health()
    timers = TimerService(database, clock)
    paging = settings.paging.outbox
    background = Background(
        timers, DatabaseOutbox(database), clock, health=health, max_attempts=paging.max_attempts,
        base_backoff=paging.base_backoff, max_backoff=paging.max_backoff,
        slow_retry=paging.slow_retry,
    )  # fmt: skip
    database.after_commit.append(background.after_commit)
    shutdown = Shutdown()
    shutdown.install()
    await database.start()
    policy = access_policy(settings.permissions)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
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
        await shutdown.requested.wait()
        driver.cancel()
        finished = await drain_and_close(
            background, database.close, paging.shutdown_grace.total_seconds()
        )
        print(f"killbot: drained={finished}", flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
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
