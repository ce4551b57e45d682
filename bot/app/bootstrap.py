"""The composition root: settings, database, template and every feature wired into one client."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import discord
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app.events import (
    after_commit_handlers,
    event_handlers,
    monitoring_series,
    release_changed_handlers,
    release_hold_sources,
    still_firing_handlers,
)
from bot.app.uow import SqlUnitOfWorkFactory
from bot.chat.room_config import RoomConfig
from bot.checklist.limits import DEFAULT_LIMITS, TemplateLimits
from bot.config import PermissionSettings, Settings
from bot.core.actors import AccessPolicy
from bot.core.clock import Clock, SystemClock
from bot.core.events import EventBus
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.redaction import install_redaction
from bot.evidence.wiring import wire_evidence
from bot.incidents.chat.delivery import GuildDirectory
from bot.incidents.paging.pagerduty_webhook import PATH as PAGERDUTY_WEBHOOK
from bot.incidents.wiring import wire_incidents
from bot.monitoring.service.config import ProbeFactory
from bot.monitoring.wiring import wire_monitoring
from bot.releases.chat.bot import ReleaseBot
from bot.releases.chat.controls import DYNAMIC_ITEMS
from bot.releases.chat.room import ReleaseRoom
from bot.releases.service import ReleaseService, TemplateSource
from bot.reports.wiring import wire_reports
from bot.rollouts.service.rollback import ControllerFactory
from bot.rollouts.wiring import availability_reader, wire_rollouts
from bot.runtime.background import Background
from bot.runtime.checks import database_writable, leader_check
from bot.runtime.health import Health, gateway_connected
from bot.runtime.leader import LeaderLock
from bot.runtime.outbox import OutboxMessage
from bot.runtime.timers import TimerService
from bot.store import migrate
from bot.store.db import make_engine, make_session_factory
from bot.store.outbox import DEFAULT_LEASE, SqlOutboxStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["EXTENSIONS", "Database", "ReleaseBot", "TemplateFile", "create_bot"]

# The chat extensions, in load order: the /release group first, so the rollouts and
# monitoring extensions can add their subcommands to it as they load.
EXTENSIONS: tuple[str, ...] = (
    "bot.releases.chat.commands",
    "bot.releases.chat.signoffs",
    "bot.rollouts.chat.cog",
    "bot.monitoring.chat.cog",
    "bot.incidents.chat.cog",
    "bot.evidence.chat.cog",
    "bot.reports.chat.cog",
)


class Database:
    """The store behind the bot: created and upgraded when the bot starts, disposed at close.

    Until `start()` nothing touches the disk, so building a bot has no side effects.
    """

    def __init__(self, url: str, clock: Clock, engine: AsyncEngine | None = None) -> None:
        self.url = url
        self.clock = clock
        self.engine = engine
        self._units: SqlUnitOfWorkFactory | None = None
        # Called after every commit once started (the background wakes timers and the outbox).
        self.after_commit: list[Callable[[Any], None]] = []
        self.outbox: SqlOutboxStore | None = None
        self.outbox_lease = DEFAULT_LEASE

    async def start(self) -> None:
        """Create the engine if needed and upgrade the schema to the newest migration."""
        if self.engine is None:
            self.engine = make_engine(self.url)
        await migrate.upgrade(self.engine)
        self._units = SqlUnitOfWorkFactory(make_session_factory(self.engine), self.clock)
        self._units.after_commit.extend(self.after_commit)
        self.outbox = SqlOutboxStore(self._units.sessions, self.outbox_lease)

    async def close(self) -> None:
        """Dispose the engine's connections."""
        if self.engine is not None:
            await self.engine.dispose()

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """Return a new unit of work (the bot must have started)."""
        if self._units is None:
            raise RuntimeError("the database is not started yet: the bot starts it in setup_hook")
        # SqlUnitOfWork satisfies the port at run time; mypy rejects it because its
        # repositories are declared as concrete classes (a store-side typing gap).
        return cast(UnitOfWork, self._units(read_only=read_only))


class TemplateFile:
    """The checklist template, read from its file on first use and then kept."""

    def __init__(
        self,
        path: Path,
        source: TemplateSource | None = None,
        limits: TemplateLimits = DEFAULT_LIMITS,
    ) -> None:
        self.path = path
        self._source = source
        self._limits = limits

    def resolved_path(self) -> Path:
        """Return the template path; a relative one missing here is looked up in the project."""
        if self.path.is_absolute() or self.path.exists():
            return self.path
        beside_project = PROJECT_ROOT / self.path
        return beside_project if beside_project.exists() else self.path

    def __call__(self) -> TemplateSource:
        """Return the parsed template (TemplateError names every problem in the file)."""
        if self._source is None:
            self._source = TemplateSource.from_path(self.resolved_path(), self._limits)
        return self._source

    async def check(self) -> None:
        """Load the template now, so a broken one stops the bot at start-up."""
        self()


class DatabaseOutbox:
    """The started database's outbox store (the dispatcher only runs once the bot started)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _store(self) -> SqlOutboxStore:
        if self._database.outbox is None:
            raise RuntimeError("the database is not started yet: the bot starts it in setup_hook")
        return self._database.outbox

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Return up to `limit` due messages (leased)."""
        return await self._store().claim_due(now, limit)

    async def mark_delivered(self, msg_id: int, now: datetime, detail: str | None) -> None:
        """Record a delivery."""
        await self._store().mark_delivered(msg_id, now, detail)

    async def mark_retry(
        self,
        msg_id: int,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
        *,
        count: bool = True,
    ) -> None:
        """Record a failed attempt and when to try again."""
        await self._store().mark_retry(msg_id, now, next_attempt_at, error, count=count)

    async def next_due(self) -> datetime | None:
        """Return when the earliest claimable message is due."""
        return await self._store().next_due()

    async def delivered_before(self, msg: OutboxMessage) -> bool:
        """Return True if an older message of the same order was delivered."""
        return await self._store().delivered_before(msg)

    async def reclaim(self, now: datetime) -> int:
        """Make the leases a previous process left due now."""
        return await self._store().reclaim(now)

    async def mark_dead(self, msg_id: int, now: datetime, error: str) -> None:
        """Record that a message will never be delivered."""
        await self._store().mark_dead(msg_id, now, error)

    async def enqueue(
        self, kind: str, payload: Mapping[str, Any], idempotency_key: str, now: datetime
    ) -> int:
        """Store a new message (or return the existing id for the key)."""
        return await self._store().enqueue(kind, payload, idempotency_key, now)


def access_policy(permissions: PermissionSettings) -> AccessPolicy:
    """Return the access policy the configured permissions describe."""
    return AccessPolicy(
        {action: frozenset(permissions.roles_for(action)) for action in permissions.actions()}
    )


def create_bot(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
    engine: AsyncEngine | None = None,
    uow_factory: UnitOfWorkFactory | None = None,
    template_source: TemplateSource | None = None,
    http_client: httpx.AsyncClient | None = None,
    kubernetes: ControllerFactory | None = None,
    rollout_poll_seconds: float = 2.0,
    probes: ProbeFactory | None = None,
    start_web: bool | None = None,
    start_background: bool | None = None,
    health: Health | None = None,
    intents: discord.Intents | None = None,
    extensions: Sequence[str] | None = None,
    leader: LeaderLock | None = None,
) -> ReleaseBot:
    """Return a ready-to-start releasebot client built from `settings`.

    Nothing happens until the bot starts (``async with bot: await bot.start(token)``, or
    ``simcord.run(bot)`` offline): ``setup_hook`` then upgrades the database to the newest
    migration, loads the checklist template, registers the persistent controls, loads every
    chat extension and syncs the slash commands (to ``settings.discord.guild_id`` when set,
    else globally). ``await bot.close()`` stops pending message edits and disposes the
    database engine.

    Overrides, all optional and all named (an unknown keyword is a TypeError): ``clock``
    (default: the system clock), ``database_url`` (default: ``settings.database_url``),
    ``engine`` (an AsyncEngine to use instead of creating one), ``uow_factory`` (use this
    unit of work instead of the SQL store; no migrations then), ``template_source`` (a parsed
    template instead of ``settings.checklist.path``), ``http_client`` (for probes and
    paging), ``kubernetes`` (an async factory of a RolloutController instead of the
    configured cluster) and ``rollout_poll_seconds``, ``probes`` (a monitoring ProbeFactory),
    ``start_web`` / ``start_background`` (start the web server / the background loop with
    the bot; default: only on the system clock, since tests and the demo drive time
    themselves and call ``background.pump()``), ``health`` (the liveness and readiness
    state behind ``/healthz`` and ``/readyz``; default: a fresh one), ``intents``,
    ``extensions`` (module names to load, in `EXTENSIONS` order; default: all of them),
    ``leader`` (the LeaderLock this replica holds: every transaction is fenced by its epoch,
    every send confirmed, and readiness follows it)::

        bot = create_bot(load_settings("config/releasebot.toml"))
        async with bot:
            await bot.start(settings.require_discord_token().get_secret_value())
    """
    install_redaction(settings.secrets.values())
    clock = clock or SystemClock()
    real_time = isinstance(clock, SystemClock)
    database: Database | None = None
    if uow_factory is None:
        url = database_url or settings.database_url
        if leader is not None and engine is None:
            engine = make_engine(url, fence=leader.fence)
        database = Database(url, clock, engine)
        uow_factory = database
    checklist = settings.checklist
    limits = TemplateLimits(
        max_bytes=checklist.max_bytes,
        max_checkboxes=checklist.max_checkboxes,
        max_items_per_phase=checklist.max_items_per_phase,
        max_item_length=checklist.max_item_length,
    )
    template = TemplateFile(checklist.path, template_source, limits)
    config = RoomConfig.from_settings(settings)
    policy = access_policy(settings.permissions)
    events = EventBus()
    releases = ReleaseService(
        uow=uow_factory,
        clock=clock,
        policy=policy,
        template=template,
        services=config.services,
        events=events,
    )
    timers = TimerService(uow_factory, clock)
    paging = settings.paging.outbox
    health = health or Health()
    background = (
        Background(
            timers, DatabaseOutbox(database), clock, health=health,
            max_attempts=paging.max_attempts, base_backoff=paging.base_backoff,
            max_backoff=paging.max_backoff, slow_retry=paging.slow_retry,
            send_guard=leader.confirm if leader else None,
        )
        if database
        else None
    )  # fmt: skip
    if leader is not None:
        health.checks["leader"] = leader_check(leader)
    if database is not None:
        database.outbox_lease = paging.lease
        health.checks["database"] = database_writable(lambda: database.engine)
    monitoring = wire_monitoring(
        settings, uow_factory, clock, policy, timers, events,
        start_web=real_time if start_web is None else start_web,
        probes=probes, http_client=http_client, health=health,
    )  # fmt: skip
    rollouts = wire_rollouts(
        settings, uow_factory, clock, policy, releases, timers,
        controller=kubernetes, poll_seconds=rollout_poll_seconds,
        events=events, http_client=http_client,
    )  # fmt: skip
    # Availability conditions are measured through the rollout feature's cluster access.
    monitoring.read_availability_with(availability_reader(rollouts.cluster))
    member_directory = GuildDirectory(config.role_refs, config.guild_id)
    incidents = wire_incidents(
        settings, uow_factory, clock, policy, timers, member_directory,
        background=background, http_client=http_client,
    )  # fmt: skip
    if monitoring.web is not None and incidents.pagerduty_webhook is not None:
        monitoring.web.add_post(PAGERDUTY_WEBHOOK, incidents.pagerduty_webhook.handle)
    evidence = wire_evidence(settings, uow_factory, clock, releases, timers, background)
    reports = wire_reports(settings, uow_factory, clock, policy, releases, timers, background)
    reports.comms.series_readers.append(monitoring_series(uow_factory))
    # The event table (bot/app/events.py): in the transaction, then after the commit.
    events.route(event_handlers(monitoring, incidents, rollouts, reports, releases, evidence))
    releases.hold_sources.extend(release_hold_sources(monitoring))
    if rollouts.silences is not None:
        rollouts.silences.still_firing.extend(still_firing_handlers(monitoring))
    if database is not None:
        database.after_commit.extend(after_commit_handlers(background, rollouts, releases))
    bot = ReleaseBot(
        releases=releases,
        config=config,
        clock=clock,
        extensions=_in_load_order(extensions),
        handles=[
            settings, health, *([database] if database else []), timers,
            *([background] if background else []),
            monitoring.service, monitoring.metrics, *([monitoring.web] if monitoring.web else []),
            rollouts.rollbacks, rollouts.deploys,
            incidents.service, incidents.oncall, member_directory, evidence.service,
            reports.service, reports.comms, reports,
        ],
        dynamic_items=DYNAMIC_ITEMS,
        on_start=[*([database.start] if database else []), template.check,
                  monitoring.start, rollouts.start],
        on_close=[*([database.close] if database else []), monitoring.close, rollouts.close,
                  incidents.close, *([background.stop] if background else [])],  # in reverse
        intents=intents,
    )  # fmt: skip
    bot.room = ReleaseRoom(bot, releases, config)
    bot.before_close.append(bot.room.close)
    releases.listeners.extend(release_changed_handlers(bot.room.changed))
    run_background = real_time if start_background is None else start_background
    if background is not None and run_background:
        health.checks["gateway"] = gateway_connected(bot)
        bot.add_listener(_once(background), "on_ready")  # after every sender registered
    return bot


def _in_load_order(extensions: Sequence[str] | None) -> list[str]:
    """Return `extensions` (default: all), in the explicit order of `EXTENSIONS`."""
    if extensions is None:
        return list(EXTENSIONS)
    unknown = [name for name in extensions if name not in EXTENSIONS]
    return [name for name in EXTENSIONS if name in extensions] + unknown


def _once(background: Background) -> Callable[[], Any]:
    """Return a listener that starts the background, retrying until it is up (idempotent)."""

    async def listener() -> None:
        background.ensure_started()  # on_ready repeats; a failed start retries with backoff

    return listener
