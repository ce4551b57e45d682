"""`releasebot demo`: a whole release on a simulated Discord (SimCord), offline, scripted.

The real bot runs unmodified against SimCord with the example config and a temporary SQLite
file. Five people (Ann the release lead, Tom the tech lead, Dora from DevOps, Omar on call,
Eve a developer) drive release v1.4.0 from `/release start` to Completed through the same
slash commands, selects, modal and reactions a team would use; the transcript says what each
of them did and what the bot answered or posted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import discord
import simcord
from simcord import Env, MemberActor

from bot.app import PROJECT_ROOT
from bot.config import ROLE_KEYS, ServiceSettings, Settings, default_settings, load_settings
from bot.config.team import DiscordSettings, RoleSettings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot

EXAMPLE_CONFIG = Path("config/releasebot.example.toml")
DEFAULT_CHECKLIST = Path("config/checklists/release.md")
SERVICE = "nexis-gateway"
VERSION = "v1.4.0"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PEOPLE = (
    ("ann", "Ann", "release_lead"),
    ("tom", "Tom", "tech_lead"),
    ("dora", "Dora", "devops"),
    ("omar", "Omar", "oncall"),
    ("eve", "Eve", "dev_team"),
)


def demo_settings(config_path: str | None) -> tuple[Settings, str]:
    """Return the settings the demo runs with, and where they came from.

    The example config is used when present (else the built-in defaults with one service);
    Discord references that are ids become names, since the simulated server is created
    fresh, and the release channel is always a named channel.
    """
    path = Path(config_path) if config_path else _example()
    if path is not None:
        settings, origin = load_settings(path, env={}), str(path)
    else:
        settings, origin = default_settings(), "built-in defaults"
    if not settings.services:
        settings = settings.model_copy(update={"services": [ServiceSettings(name=SERVICE)]})
    channel = settings.discord.release_channel
    discord_section = settings.discord.model_copy(
        update={"release_channel": "releases" if channel.isdigit() else channel, "guild_id": None}
    )
    roles = {key: settings.roles.discord_role(key) for key in ROLE_KEYS}
    names = {
        key: (RoleSettings().discord_role(key) if ref.isdigit() else ref)
        for key, ref in roles.items()
    }
    checklist = settings.checklist
    if not checklist.path.is_file():  # a relative path read from another working directory
        checklist = checklist.model_copy(update={"path": PROJECT_ROOT / DEFAULT_CHECKLIST})
    settings = settings.model_copy(
        update={
            "discord": DiscordSettings.model_validate(discord_section.model_dump()),
            "roles": RoleSettings.model_validate(names),
            "checklist": checklist,
        }
    )
    return settings, origin


def _example() -> Path | None:
    for candidate in (EXAMPLE_CONFIG, PROJECT_ROOT / EXAMPLE_CONFIG):
        if candidate.is_file():
            return candidate
    return None


class Transcript:
    """Print who did what, stamped with the demo clock."""

    def __init__(self, out: TextIO, clock: FakeClock) -> None:
        self.out = out
        self.clock = clock

    def say(self, who: str, text: str) -> None:
        """Print one line: "[HH:MM] who › text" (a new day is announced first)."""
        day = self.clock.now().date()
        if getattr(self, "_day", day) != day:
            print(f"\n── {self.clock.now():%A %d %B}", file=self.out)
        self._day = day
        for number, line in enumerate(text.split("\n")):
            stamp = f"[{self.clock.now():%H:%M}]" if number == 0 else " " * 7
            lead = f"{who} ›" if number == 0 else " " * (len(who) + 2)
            print(f"{stamp} {lead} {line}", file=self.out)

    def note(self, text: str) -> None:
        """Print a narrator line."""
        print(f"\n── {text}", file=self.out)


class DemoRelease:
    """The scripted team and the release room they work in."""

    def __init__(self, env: Env, out: Transcript, clock: FakeClock, settings: Settings) -> None:
        self.env, self.out, self.clock = env, out, clock
        guild = env.create_guild("Nexis")
        self.channel = guild.create_text_channel(settings.discord.release_channel)
        self.guild = guild
        self.people: dict[str, MemberActor] = {}
        self.names: dict[str, str] = {}  # mention -> what Discord shows
        for name, shown, key in PEOPLE:
            role = guild.create_role(settings.roles.discord_role(key))
            self.people[shown] = guild.add_member(
                env.create_user(name, global_name=shown), roles=[role]
            )
            self.names[f"<@&{role.id}>"] = f"@{role.name}"
            self.names[f"<@{self.people[shown].user.id}>"] = f"@{shown}"
        for key in ROLE_KEYS:
            ref = settings.roles.discord_role(key)
            if not any(value == f"@{ref}" for value in self.names.values()):
                role = guild.create_role(ref)
                self.names[f"<@&{role.id}>"] = f"@{role.name}"
        self.release_id = 0

    @property
    def bot(self) -> ReleaseBot:
        """Return the bot under demonstration."""
        assert isinstance(self.env.bot, ReleaseBot)
        return self.env.bot

    def thread(self) -> simcord.ChannelHandle:
        """Return the thread of the current release (the newest one)."""
        return self.channel.threads[-1]

    async def message(self, kind: str, key: str = "") -> discord.Message:
        """Return a room message as the thread shows it now."""
        refs = await self.bot.releases.messages(self.release_id)
        ref = next(r for r in refs if r.kind == kind and r.key == key)
        found: discord.Message = next(m for m in self.thread().history() if m.id == ref.message_id)
        return found

    async def phase_messages(self, phase: int) -> list[discord.Message]:
        """Return the messages of phase `phase` in order."""
        refs = await self.bot.releases.messages(self.release_id)
        keys = sorted(
            (int(r.key.split(":")[1]), r.message_id)
            for r in refs
            if r.kind == "phase" and r.key.startswith(f"{phase}:")
        )
        history = {m.id: m for m in self.thread().history()}
        return [history[message_id] for _chunk, message_id in keys]

    def step(self, minutes: int = 1) -> None:
        """Let a little time pass between people's actions."""
        self.clock.advance(60 * minutes)

    async def start(self, who: str, version: str = VERSION, window: str | None = None) -> None:
        """Run /release start and describe the room that opens."""
        options = {"version": version, "service": SERVICE}
        if window is not None:
            options["window"] = window
        shown = " ".join(f"{key}:{value}" for key, value in options.items())
        self.out.say(who, f"/release start {shown}")
        result = await self.people[who].slash(self.channel, "release start", **options)
        answer = result.response.content if result.response else "(no answer)"
        release = (await self.bot.releases.list(active=True, limit=1))[0]
        self.release_id = release.id or 0
        answer = answer.replace(self.thread().mention, f"#{self.thread().name}")
        self.out.say("bot", f"(only {who} sees) {answer}")
        refs = await self.bot.releases.messages(self.release_id)
        kinds = [r.kind for r in refs]
        self.out.say(
            "bot",
            f"thread #{self.thread().name} opened: pinned summary, "
            f"{kinds.count('phase')} phase messages, "
            f"{kinds.count('signoff')} sign-off messages",
        )

    async def tick_phase(self, who: str) -> None:
        """Tick, through the Tick… selects, every open item of the current phase `who` may."""
        release = await self.bot.releases.get(self.release_id)
        for message in await self.phase_messages(release.phase_index):
            for select in _selects(message, "rb:tick:"):
                values = [
                    o.value for o in select.options if not (o.description or "").startswith("🔒")
                ]
                if not values:
                    continue
                self.step()
                title = message.embeds[0].title
                self.out.say(who, f"ticks {len(values)} items in “Tick…” on “{title}”")
                result = await self.people[who].select(message, values, custom_id=select.custom_id)
                for followup in result.followups:
                    self.out.say("bot", f"(only {who} sees) {followup.content}")
        release = await self.bot.releases.get(self.release_id)
        phase = release.current_phase
        if phase is not None:
            done = sum(1 for i in phase.all_items() if release.progress(i.id).state.value != "open")
            self.out.say(
                "bot",
                f"edits the phase messages and the summary: {phase.title} "
                f"{done}/{len(phase.all_items())}",
            )

    async def waive(self, who: str, item_text: str, reason: str) -> None:
        """Waive the current phase's item containing `item_text` (Waive… select, then modal)."""
        release = await self.bot.releases.get(self.release_id)
        items = release.phases[release.phase_index].all_items()
        item_number = next(n for n, i in enumerate(items, start=1) if item_text in i.text)
        for message in await self.phase_messages(release.phase_index):
            for select in _selects(message, "rb:waive:"):
                if str(item_number - 1) not in [o.value for o in select.options]:
                    continue
                self.step()
                text = release.phases[release.phase_index].all_items()[item_number - 1].text
                self.out.say(who, f"picks “{text}” in “Waive…” and gives the reason: {reason}")
                shown = await self.people[who].select(
                    message, [str(item_number - 1)], custom_id=select.custom_id
                )
                assert shown.modal is not None, "the waive select opens a modal"
                field = shown.modal["components"][0]["components"][0]["custom_id"]
                result = await self.people[who].submit_modal(shown, {field: reason})
                if result.response is not None:
                    self.out.say("bot", f"(only {who} sees) {result.response.content}")
                return

    async def sign(self, who: str, key: str) -> None:
        """React ✅ on sign-off `key` as `who` and report what the bot did."""
        self.step()
        message = await self.message("signoff", key)
        emoji = self.bot.config.signoff_emoji
        self.out.say(who, f"reacts {emoji} on “{message.embeds[0].title}”")
        member = self.people[who]
        dms_before = len(member.user.dm_channel.history())
        await member.react(message, emoji)
        release = await self.bot.releases.get(self.release_id)
        if key in release.signoffs:
            given = release.signoffs[key]
            self.out.say(
                "bot",
                f"records the sign-off: {given.actor_name} at {given.at:%H:%M} "
                "UTC, and edits the message",
            )
            return
        dms = member.user.dm_channel.history()[dms_before:]
        told = dms[-1].content if dms else "(nothing)"
        self.out.say("bot", f"removes {who}'s {emoji}, audits the denial and DMs {who}:\n{told}")

    async def advance(self, who: str) -> bool:
        """Click Advance under the current phase; return True if the release moved on."""
        self.step()
        release = await self.bot.releases.get(self.release_id)
        last = (await self.phase_messages(release.phase_index))[-1]
        self.out.say(who, f"clicks Advance on “{last.embeds[0].title}”")
        result = await self.people[who].click(last, label="Advance")
        if result.followups:
            lines = result.followups[-1].content.split("\n")
            shown = "\n".join(
                lines[:4] + ([f"… ({len(lines) - 4} more lines)"] if len(lines) > 4 else [])
            )
            self.out.say("bot", f"(only {who} sees) {shown}")
            return False
        self.out.say("bot", self.thread().history()[-1].content)
        return True


def _selects(message: discord.Message, prefix: str) -> Sequence[discord.SelectMenu]:
    return [
        c
        for row in message.components
        for c in getattr(row, "children", [])
        if isinstance(c, discord.SelectMenu) and (c.custom_id or "").startswith(prefix)
    ]
