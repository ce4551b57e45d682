"""Fixtures for the chat tests: a real bot on a tmp SQLite file inside a SimCord world."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord
from discord import app_commands
from simcord import Env, InteractionResult, MemberActor

from bot.app import create_bot
from bot.chat.failures import unwrap
from bot.chat.roles import actor_for
from bot.config import Settings, build_settings
from bot.core.actors import Source
from bot.core.audit import AuditEvent
from bot.core.clock import FakeClock
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.chat.bot import ReleaseBot
from bot.releases.domain.release import Release

ROOT = Path(__file__).resolve().parents[2]
# The extensions of issue 3. Other features add theirs to bot/chat while these tests run;
# pinning the list keeps these tests about the release room (discovery is tested apart).
ROOM_EXTENSIONS = ["bot.releases.chat.commands", "bot.releases.chat.signoffs"]
SERVICE = {
    "name": "nexis-gateway",
    "prometheus_url": "http://127.0.0.1:9090",
    "kubernetes": {"production": {"namespace": "production", "deployment": "nexis-gateway"}},
}


def make_settings(db: Path, **sections: Any) -> Settings:
    """Return settings with one service, the project's checklist and a SQLite file `db`."""
    raw: dict[str, Any] = {
        "services": [SERVICE],
        "database": {"url": f"sqlite+aiosqlite:///{db}"},
        "checklist": {"path": str(ROOT / "config/checklists/release.md")},
    }
    raw.update(sections)
    return build_settings(raw, env={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return test settings backed by a fresh SQLite file."""
    return make_settings(tmp_path / "releasebot.db")


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot under test (SimCord's pytest plugin starts it)."""
    return create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS)


@pytest.fixture
def allow_logged_errors() -> None:
    """Mark a test that expects the bot to log errors (e.g. an injected bug)."""


@pytest.fixture(autouse=True)
def _no_unexpected_errors(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail any test in which the bot logged an error it was not expected to."""
    caplog.set_level(logging.INFO)
    yield
    if "allow_logged_errors" in request.fixturenames:
        return
    logged = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.name.startswith(("bot", "discord"))
    ]
    assert not logged, logged


@dataclass
class World:
    """A guild with the release channel, the roles and five people, around the bot."""

    env: Env
    guild: simcord.GuildHandle
    channel: simcord.ChannelHandle
    ann: MemberActor  # Release Lead
    tom: MemberActor  # Tech Lead
    dora: MemberActor  # DevOps
    omar: MemberActor  # On-call
    eve: MemberActor  # a developer without sign-off roles

    @property
    def bot(self) -> ReleaseBot:
        """Return the bot currently attached to the world."""
        assert isinstance(self.env.bot, ReleaseBot)
        return self.env.bot

    async def start(self, by: MemberActor | None = None, **options: Any) -> InteractionResult:
        """Run /release start (default version v1.2.3, by Ann)."""
        options.setdefault("version", "v1.2.3")
        return await (by or self.ann).slash(self.channel, "release start", **options)

    def thread(self) -> simcord.ChannelHandle:
        """Return the only release thread."""
        threads = self.channel.threads
        assert len(threads) == 1, threads
        return threads[0]

    async def release(self, release_id: int = 1) -> Release:
        """Return the release as stored now."""
        return await self.bot.releases.get(release_id)

    async def audit(self, release_id: int = 1) -> list[AuditEvent]:
        """Return the release's audit events, oldest first."""
        return list(await self.bot.releases.timeline(release_id, 500))

    async def message(self, kind: str, key: str = "", release_id: int = 1) -> discord.Message:
        """Return the room message stored as (`kind`, `key`), as Discord shows it now."""
        refs = await self.bot.releases.messages(release_id)
        ref = next(r for r in refs if r.kind == kind and r.key == key)
        return next(m for m in self.thread().history() if m.id == ref.message_id)

    async def locate(self, item_id: str, release_id: int = 1) -> tuple[int, int]:
        """Return (phase index, item index) of `item_id`."""
        release = await self.release(release_id)
        for p, phase in enumerate(release.phases):
            for i, item in enumerate(phase.all_items()):
                if item.id == item_id:
                    return p, i
        raise KeyError(item_id)

    async def control(
        self, action: str, item_id: str, release_id: int = 1
    ) -> tuple[discord.Message, str]:
        """Return the message and select custom id offering `item_id` for `action`."""
        p, i = await self.locate(item_id, release_id)
        refs = await self.bot.releases.messages(release_id)
        for ref in refs:
            if ref.kind != "phase" or not ref.key.startswith(f"{p}:"):
                continue
            message = next(m for m in self.thread().history() if m.id == ref.message_id)
            for row in message.components:
                for component in getattr(row, "children", []):
                    custom_id = getattr(component, "custom_id", "") or ""
                    values = [o.value for o in getattr(component, "options", [])]
                    if custom_id.startswith(f"rb:{action}:") and str(i) in values:
                        return message, custom_id
        raise LookupError(f"no {action} control offers {item_id}")

    async def choose(
        self, member: MemberActor, action: str, *item_ids: str, release_id: int = 1
    ) -> InteractionResult:
        """Choose `item_ids` (all on one message) in the `action` select as `member`."""
        message, custom_id = await self.control(action, item_ids[0], release_id)
        values = [str((await self.locate(item_id, release_id))[1]) for item_id in item_ids]
        return await member.select(message, values, custom_id=custom_id)

    async def waive(
        self, member: MemberActor, item_id: str, reason: str, release_id: int = 1
    ) -> InteractionResult:
        """Waive `item_id` through the Waive select and its reason modal."""
        shown = await self.choose(member, "waive", item_id, release_id=release_id)
        assert shown.modal is not None, shown
        field = shown.modal["components"][0]["components"][0]["custom_id"]
        return await member.submit_modal(shown, {field: reason})

    async def phase_messages(self, phase: int, release_id: int = 1) -> list[discord.Message]:
        """Return the messages of phase `phase`, in order, as Discord shows them now."""
        refs = await self.bot.releases.messages(release_id)
        wanted = sorted(
            (int(r.key.split(":")[1]), r.message_id)
            for r in refs
            if r.kind == "phase" and r.key.startswith(f"{phase}:")
        )
        history = {m.id: m for m in self.thread().history()}
        return [history[message_id] for _chunk, message_id in wanted]

    async def tick_all(self, member: MemberActor, release_id: int = 1) -> None:
        """Tick every open, unlocked item of the current phase through the Tick selects."""
        release = await self.release(release_id)
        for message in await self.phase_messages(release.phase_index, release_id):
            for row in message.components:
                for select in getattr(row, "children", []):
                    if not (getattr(select, "custom_id", "") or "").startswith("rb:tick:"):
                        continue
                    values = [
                        o.value
                        for o in select.options
                        if not (o.description or "").startswith("🔒")
                    ]
                    if values:
                        result = await member.select(message, values, custom_id=select.custom_id)
                        assert not result.followups, result.followups[0].content

    async def sign(self, member: MemberActor, key: str, release_id: int = 1) -> None:
        """React with ✅ on sign-off `key` as `member`."""
        await member.react(await self.message("signoff", key, release_id), "✅")

    async def advance(self, member: MemberActor, release_id: int = 1) -> InteractionResult:
        """Click Advance under the current phase as `member`."""
        release = await self.release(release_id)
        last = (await self.phase_messages(release.phase_index, release_id))[-1]
        return await member.click(last, label="Advance")

    async def run_whole_release_until(self, phase_key: str, release_id: int = 1) -> None:
        """Move the seed release forward until phase `phase_key` is the current one."""
        await self.run_whole_release(release_id, until=phase_key)

    async def run_whole_release(self, release_id: int = 1, until: str | None = None) -> None:
        """Take the seed release to Completed (or to phase `until`), each step by the right role."""
        Step = tuple[list[MemberActor], list[tuple[MemberActor, str]]]
        plan: dict[str, list[Step]] = {
            "pre-release": [([self.ann], [(self.ann, "pre-release")])],
            "release": [([self.ann], [])],
            # Production items stay locked until the approval: tick, approve, tick the rest.
            "deployment": [
                ([self.dora], [(self.tom, "approval")]),
                ([self.dora], [(self.dora, "production-deployed")]),
            ],
            "post-release": [([self.omar], [(self.omar, "monitoring-complete")])],
        }
        while True:
            current = (await self.release(release_id)).current_phase
            if current is None or current.key == until:
                return
            if current.key == "post-release":
                # The sign-off and the completion wait for the 24-hour window: Tom closes it.
                await self.close_monitoring(self.tom, "whole-release run", release_id)
            for tickers, signers in plan[current.key]:
                for member in tickers:
                    await self.tick_all(member, release_id)
                for member, key in signers:
                    await self.sign(member, key, release_id)
            result = await self.advance(self.ann, release_id)
            assert not result.followups, result.followups[0].content

    async def close_monitoring(
        self, member: MemberActor, reason: str, release_id: int = 1
    ) -> InteractionResult | None:
        """Close the release's monitoring window early as `member`, if it is open.

        Through `/release monitor action:close` when the monitoring extension is loaded;
        the room-only bots (no monitoring commands) call the monitoring service as `member`.
        """
        service = self.bot.handle(MonitoringService)
        view = await service.window_view(release_id=release_id)
        if not view.record.is_open:
            return None
        group = self.bot.tree.get_command("release")
        if isinstance(group, app_commands.Group) and group.get_command("monitor"):
            return await member.slash(
                self.thread(), "release monitor", action="close", reason=reason
            )
        guild = self.bot.get_guild(self.guild.id)
        assert guild is not None
        found = guild.get_member(member.id) or await guild.fetch_member(member.id)
        actor = actor_for(found, self.bot.config.role_refs)
        await service.close_early(release_id, reason, actor, Source.SLASH)
        return None

    def errors(self) -> list[type[BaseException]]:
        """Return (and acknowledge) the types of the errors the command tree handled."""
        return [type(unwrap(error)) for error in self.env.errors]


@pytest.fixture
async def world(simcord_env: Env) -> AsyncIterator[World]:
    """Return the SimCord world; close whichever bot is attached at the end."""
    guild = simcord_env.create_guild("Nexis")
    channel = guild.create_text_channel("releases")
    roles = {
        name: guild.create_role(name)
        for name in ("Release Lead", "Tech Lead", "DevOps", "On-call", "Developers")
    }

    def person(name: str, role: str) -> MemberActor:
        return guild.add_member(simcord_env.create_user(name), roles=[roles[role]])

    yield World(
        simcord_env,
        guild,
        channel,
        ann=person("ann", "Release Lead"),
        tom=person("tom", "Tech Lead"),
        dora=person("dora", "DevOps"),
        omar=person("omar", "On-call"),
        eve=person("eve", "Developers"),
    )
    await simcord_env.bot.close()
