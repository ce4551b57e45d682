"""Monitoring in Discord: alert and window messages (outbox senders), Acknowledge and Silence.

An alert is posted once per place (the alerts channel and the release thread) and then
edited in place on every later evaluation, always rendered from the alert's current state.
An escalation of an alert already posted (first breach -> condition met) adds one short
reply with the mentions, since Discord notifies nobody for a mention added by an edit.
The Roll back button only carries `rb:rollback:<release>`; the Kubernetes feature handles it.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.chat.kit import to_embed
from bot.chat.layout import ButtonSpec, MessageSpec
from bot.config import Settings
from bot.monitoring.chat.command import attach_monitor_command
from bot.monitoring.chat.controls import AlertAckButton, AlertSilenceButton
from bot.monitoring.chat.render import (
    AlertMessage,
    ping_text,
    render_alert,
    render_window_event,
)
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.service.config import ALERT_KIND, WINDOW_KIND
from bot.monitoring.service.use_cases import MonitoringService
from bot.monitoring.service.views import AlertView
from bot.releases.chat.bot import release_bot
from bot.runtime.background import Background
from bot.runtime.outbox import DeliveryFailed, OutboxMessage

if TYPE_CHECKING:
    from bot.releases.chat.bot import ReleaseBot

log = logging.getLogger(__name__)

PLACES = ("alerts", "thread")
Place = discord.TextChannel | discord.Thread


def _failure(error: discord.HTTPException, what: str) -> DeliveryFailed:
    retryable = error.status >= 500 or error.status == 429
    return DeliveryFailed(retryable, f"{what}: HTTP {error.status} {error.text or error}")


def _find_role(guild: discord.Guild, ref: str) -> discord.Role | None:
    text = ref.strip()
    if text.isdigit():
        return guild.get_role(int(text))
    return discord.utils.find(lambda r: r.name.casefold() == text.casefold(), guild.roles)


class Audience:
    """Turn role keys into mentions for one guild, remembering which roles were mentioned."""

    def __init__(self, bot: ReleaseBot, guild: discord.Guild | None) -> None:
        """Resolve against `guild` (names when the role is missing there)."""
        self._bot, self._guild = bot, guild
        self.roles: list[discord.Role] = []

    def __call__(self, key: str) -> str:
        """Return "<@&id>" for the role of `key`, or "@Name" when it is not in the guild."""
        ref = self._bot.config.role_refs.get(key, "")
        role = _find_role(self._guild, ref) if self._guild is not None and ref else None
        if role is None:
            return f"@{self._bot.config.role_name(key)}"
        if role not in self.roles:
            self.roles.append(role)
        return role.mention

    def allowed(self) -> discord.AllowedMentions:
        """Return allowed mentions that ping exactly the roles mentioned."""
        return discord.AllowedMentions(everyone=False, users=False, roles=self.roles)


class MonitoringMessages:
    """Find where monitoring messages go: the alerts channel and the release's thread."""

    def __init__(self, bot: ReleaseBot, alerts_channel: str) -> None:
        """Keep the bot and the configured alerts channel (a name or an id)."""
        self.bot = bot
        self.alerts_channel = alerts_channel.strip().lstrip("#")

    async def thread(self, release_id: int) -> discord.Thread | None:
        """Return the release's thread, if it has one the bot can see."""
        thread_id = await self.bot.room.thread_id(release_id)
        channel = self.bot.get_channel(thread_id) if thread_id else None
        return channel if isinstance(channel, discord.Thread) else None

    def guild(self, thread: discord.Thread | None) -> discord.Guild | None:
        """Return the guild monitoring messages belong to."""
        if thread is not None:
            return thread.guild
        if self.bot.config.guild_id is not None:
            return self.bot.get_guild(self.bot.config.guild_id)
        return self.bot.guilds[0] if len(self.bot.guilds) == 1 else None

    def alerts(self, guild: discord.Guild | None) -> discord.TextChannel | None:
        """Return the configured alerts channel of `guild`."""
        if guild is None:
            return None
        ref = self.alerts_channel
        for channel in guild.text_channels:
            if (ref.isdigit() and channel.id == int(ref)) or channel.name == ref:
                return channel
        return None

    async def places(self, release_id: int) -> tuple[dict[str, Place], discord.Guild | None]:
        """Return the places to post in, by name, and their guild."""
        thread = await self.thread(release_id)
        guild = self.guild(thread)
        found: dict[str, Place] = {}
        alerts = self.alerts(guild)
        if alerts is not None:
            found["alerts"] = alerts
        if thread is not None:
            found["thread"] = thread
        return found, guild


class AlertSender:
    """Deliver "alert" outbox messages: post once per place, then edit; ping on escalation."""

    def __init__(
        self,
        messages: MonitoringMessages,
        monitoring: MonitoringService,
        metrics: MonitoringMetrics | None,
    ) -> None:
        """Keep what the sender needs."""
        self.messages, self.monitoring, self.metrics = messages, monitoring, metrics

    async def send(self, msg: OutboxMessage) -> str | None:
        """Show the alert's current state everywhere it belongs."""
        alert_id, event = int(msg.payload["alert_id"]), str(msg.payload["event"])
        view = await self.monitoring.alert_view(alert_id)
        places, guild = await self.messages.places(view.alert.release_id)
        if not places:
            raise DeliveryFailed(
                False,
                f"no alerts channel {self.messages.alerts_channel!r} and no thread for "
                f"release #{view.alert.release_id}",
            )
        done = [await self._show(view, event, name, place, guild) for name, place in places.items()]
        return "; ".join(done)

    async def _show(
        self, view: AlertView, event: str, name: str, place: Place, guild: discord.Guild | None
    ) -> str:
        audience = Audience(self.messages.bot, guild)
        rendered = render_alert(view, audience)
        ref = view.message(name)
        try:
            if ref is not None:
                edited = await self._edit(place, ref.message_id, rendered, audience, view)
                if edited:
                    return await self._ping(view, event, name, place, ref.message_id, guild)
            if view.silenced:
                return f"{name}: silenced, not posted"
            sent = await place.send(**_kwargs(rendered, audience, view.alert.key, edit=False))
        except discord.HTTPException as error:
            raise _failure(error, f"alert #{view.alert.key} in {name}") from error
        await self.monitoring.record_alert_message(view.alert.key, name, place.id, sent.id)
        self._count(event)
        return f"{name}: posted {sent.id}"

    async def _edit(
        self,
        place: Place,
        message_id: int,
        rendered: AlertMessage,
        audience: Audience,
        view: AlertView,
    ) -> bool:
        message = place.get_partial_message(message_id)
        try:
            await message.edit(**_kwargs(rendered, audience, view.alert.key, edit=True))
        except discord.NotFound:
            log.warning("alert message %s is gone; posting it again", message_id)
            return False
        return True

    async def _ping(
        self,
        view: AlertView,
        event: str,
        name: str,
        place: Place,
        message_id: int,
        guild: discord.Guild | None,
    ) -> str:
        audience = Audience(self.messages.bot, guild)
        text = ping_text(view, audience, event)
        if text is None:
            return f"{name}: edited {message_id}"
        reference = discord.MessageReference(
            message_id=message_id, channel_id=place.id, fail_if_not_exists=False
        )
        await place.send(content=text, allowed_mentions=audience.allowed(), reference=reference)
        self._count(event)
        return f"{name}: edited {message_id} and notified"

    def _count(self, event: str) -> None:
        if self.metrics is not None:
            self.metrics.record_alert(event)


def _kwargs(
    rendered: AlertMessage, audience: Audience, alert_id: int, *, edit: bool
) -> dict[str, Any]:
    embed = to_embed(rendered.spec.embeds[0])
    embed.set_image(url=f"attachment://{rendered.filename}")
    return {
        "content": rendered.spec.content,
        "embed": embed,
        # An edit replaces the attachments (the chart of the series so far); a send adds one.
        ("attachments" if edit else "files"): [
            discord.File(io.BytesIO(rendered.chart), filename=rendered.filename)
        ],
        "view": alert_view(rendered.spec, alert_id),
        "allowed_mentions": audience.allowed(),
    }


def alert_view(spec: MessageSpec, alert_id: int) -> discord.ui.View:
    """Return a fresh view with the alert's buttons (never reused across edits).

    Acknowledge and Silence are this module's dynamic items; Roll back stays a plain button
    so that only the Kubernetes feature's dynamic item claims its `rb:rollback:` pattern.
    """
    view = discord.ui.View(timeout=None)
    styles = {
        "success": discord.ButtonStyle.success,
        "danger": discord.ButtonStyle.danger,
        "secondary": discord.ButtonStyle.secondary,
    }
    for row_number, row in enumerate(spec.rows):
        for control in row:
            if not isinstance(control, ButtonSpec):
                continue
            button = discord.ui.Button[discord.ui.View](
                label=control.label,
                custom_id=control.custom_id,
                style=styles.get(control.style, discord.ButtonStyle.secondary),
                disabled=control.disabled,
                row=row_number,
            )
            if control.action == "alert-ack":
                view.add_item(AlertAckButton(button, alert_id))
            elif control.action == "alert-silence":
                view.add_item(AlertSilenceButton(button, alert_id))
            else:
                view.add_item(button)
    return view


class WindowSender:
    """Deliver "monitor" outbox messages (window opened, paused, closed...) to the thread."""

    def __init__(self, messages: MonitoringMessages, monitoring: MonitoringService) -> None:
        """Keep what the sender needs."""
        self.messages, self.monitoring = messages, monitoring

    async def send(self, msg: OutboxMessage) -> str | None:
        """Post the window event in the release's thread (or the alerts channel)."""
        view = await self.monitoring.window_view(window_id=int(msg.payload["window_id"]))
        places, guild = await self.messages.places(view.record.release_id)
        place = places.get("thread") or places.get("alerts")
        if place is None:
            raise DeliveryFailed(False, f"nowhere to post for release #{view.record.release_id}")
        audience = Audience(self.messages.bot, guild)
        actor = str(msg.payload.get("actor", "someone"))
        note = str(msg.payload.get("note", ""))
        spec = render_window_event(view, str(msg.payload["event"]), actor, audience, note)
        try:
            sent = await place.send(
                content=spec.content or None,
                embeds=[to_embed(e) for e in spec.embeds],
                allowed_mentions=audience.allowed(),
            )
        except discord.HTTPException as error:
            raise _failure(error, f"window #{view.record.key} message") from error
        return f"posted {sent.id}"


async def setup(bot: commands.Bot) -> None:
    """Register the alert buttons and the outbox senders for "alert" and "monitor"."""
    client = release_bot(bot)
    service = client.find_handle(MonitoringService)
    background = client.find_handle(Background)
    if service is None or background is None:
        log.warning("monitoring is not wired: no alert messages will be sent")
        return
    client.add_dynamic_items(AlertAckButton, AlertSilenceButton)
    settings = client.find_handle(Settings)
    alerts_channel = settings.discord.alerts_channel if settings is not None else ""
    messages = MonitoringMessages(client, alerts_channel or client.config.release_channel)
    background.add_sender(
        ALERT_KIND, AlertSender(messages, service, client.find_handle(MonitoringMetrics))
    )
    background.add_sender(WINDOW_KIND, WindowSender(messages, service))
    attach_monitor_command(client)  # bot.app.EXTENSIONS loads the /release group before this
