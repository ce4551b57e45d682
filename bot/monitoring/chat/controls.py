"""Monitoring controls on alert messages: Acknowledge and Silence for… (with its form).

Roles are checked when the person clicks (denials audited by the service); the Roll back
button next to them belongs to the Kubernetes feature.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.chat.failures import run_guarded, send_private
from bot.chat.roles import home_actor
from bot.config import parse_duration
from bot.core.actors import Source
from bot.core.errors import InvalidInput
from bot.monitoring.chat.render import ACK_TEMPLATE, SILENCE_TEMPLATE, when
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.chat.bot import release_bot

if TYPE_CHECKING:
    from bot.releases.chat.bot import ReleaseBot


def monitoring_of(bot: ReleaseBot) -> MonitoringService:
    """Return the bot's monitoring service."""
    return bot.handle(MonitoringService)


def _observe(bot: ReleaseBot, kind: str, started: float) -> None:
    metrics = bot.find_handle(MonitoringMetrics)
    if metrics is not None:
        metrics.observe_interaction(kind, time.perf_counter() - started)


class AlertAckButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=ACK_TEMPLATE):
    """Acknowledge an alert (roles checked at click time; denials audited)."""

    def __init__(self, item: discord.ui.Button[Any], alert_id: int) -> None:
        """Keep the alert id from the custom id."""
        super().__init__(item)
        self.alert_id = alert_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: Any, match: re.Match[str], /
    ) -> AlertAckButton:
        """Rebuild the button from the component Discord sent back."""
        return cls(item, int(match["alert"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Acknowledge the alert for the person who clicked."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self._ack(interaction, bot))

    async def _ack(self, interaction: discord.Interaction, bot: ReleaseBot) -> None:
        started = time.perf_counter()
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = home_actor(bot, interaction.user, bot.config.role_refs, bot.config.guild_id)
        alert = await monitoring_of(bot).acknowledge(self.alert_id, actor, Source.BUTTON)
        await send_private(interaction, f"✅ You acknowledged alert #{alert.key} ({alert.title}).")
        _observe(bot, "alert-ack", started)


class AlertSilenceButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SILENCE_TEMPLATE):
    """Ask for a duration and a reason (a modal), then silence the alert's condition."""

    def __init__(self, item: discord.ui.Button[Any], alert_id: int) -> None:
        """Keep the alert id from the custom id."""
        super().__init__(item)
        self.alert_id = alert_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: Any, match: re.Match[str], /
    ) -> AlertSilenceButton:
        """Rebuild the button from the component Discord sent back."""
        return cls(item, int(match["alert"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Refuse (audited) before asking, or open the silence form."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self._ask(interaction, bot))

    async def _ask(self, interaction: discord.Interaction, bot: ReleaseBot) -> None:
        actor = home_actor(bot, interaction.user, bot.config.role_refs, bot.config.guild_id)
        alert = await monitoring_of(bot).require_alert_permission(
            self.alert_id, actor, "silence", Source.BUTTON
        )
        await interaction.response.send_modal(SilenceModal(alert.key, alert.title))


class SilenceModal(discord.ui.Modal):
    """Ask how long to silence an alert's condition, and why."""

    duration: discord.ui.TextInput[SilenceModal] = discord.ui.TextInput(
        label="Silence for (e.g. 30m, 2h, 1d)", min_length=2, max_length=16, default="1h"
    )
    reason: discord.ui.TextInput[SilenceModal] = discord.ui.TextInput(
        label="Why?", style=discord.TextStyle.paragraph, min_length=3, max_length=300
    )

    def __init__(self, alert_id: int, title: str) -> None:
        """Build the form for alert `alert_id`."""
        super().__init__(
            title=f"Silence alert #{alert_id}"[:45],
            timeout=900,
            custom_id=f"rb:alert-silence-form:{alert_id}",
        )
        self.alert_id = alert_id
        self.reason.placeholder = title[:100]

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        """Silence the condition for the given duration."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self._silence(interaction, bot))

    async def _silence(self, interaction: discord.Interaction, bot: ReleaseBot) -> None:
        started = time.perf_counter()
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            duration = parse_duration(self.duration.value)
        except ValueError as error:
            raise InvalidInput(f"silence duration {self.duration.value!r}: {error}") from None
        actor = home_actor(bot, interaction.user, bot.config.role_refs, bot.config.guild_id)
        silence = await monitoring_of(bot).silence(
            self.alert_id, duration, self.reason.value, actor, Source.MODAL
        )
        await send_private(
            interaction, f"🔕 Alert #{self.alert_id} silenced until {when(silence.until)}."
        )
        _observe(bot, "alert-silence", started)

    async def on_error(  # type: ignore[override]  # discord.py types it as BaseView.on_error
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        """Send anything unexpected to the central reporter."""
        await release_bot(interaction.client).reporter.report(interaction, error)
