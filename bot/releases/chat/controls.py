"""Persistent controls of the release room: item selects, the waive modal, phase buttons.

Every control is a `DynamicItem` whose custom id carries the release, phase and chunk it
sits on, so it works on any message however old and after any restart. Each callback
builds the actor from the member's roles at the moment of the click, acknowledges at once
(`defer`) and leaves the message edit to the room's coalescing updater.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import discord

from bot.chat import ids
from bot.chat.failures import run_guarded, send_private
from bot.chat.layout import clip
from bot.checklist.model import TemplateItem
from bot.core.actors import Actor, Source
from bot.core.errors import (
    DomainError,
    InvalidInput,
    NotAuthorized,
    UnknownTarget,
)
from bot.releases.chat.bot import ReleaseBot, acting, release_bot
from bot.releases.chat.render import REASON_MAX
from bot.releases.domain.release import Release

log = logging.getLogger(__name__)


def phase_item(release: Release, phase: int, value: str) -> TemplateItem:
    """Return item number `value` (an index) of phase `phase`, or raise UnknownTarget."""
    if not 0 <= phase < len(release.phases) or not (value.isascii() and value.isdigit()):
        raise UnknownTarget(f"this control no longer matches {release.name}; press Refresh")
    items = release.phases[phase].all_items()
    if int(value) >= len(items):
        raise UnknownTarget(f"this control no longer matches {release.name}; press Refresh")
    return items[int(value)]


async def require_role(
    bot: ReleaseBot, release: Release, actor: Actor, action: str, target: str, source: Source
) -> None:
    """Raise NotAuthorized, after auditing the denial, unless `actor` may do `action`."""
    try:
        bot.releases.policy.require(actor, action, lead_id=release.lead_id, target=target)
    except NotAuthorized as denied:
        await bot.releases.record_denial(release.id, actor, action, target, source, denied.message)
        raise


# ----- the controls --------------------------------------------------------------------------


class GuardedButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"rb:abstract-btn"):
    """A persistent button of any feature: `fields` are its custom id's named groups, and
    failures of `act` go to the central reporter (a private answer, never a traceback)."""

    def __init__(self, item: discord.ui.Button[Any], match: re.Match[str] | None = None) -> None:
        super().__init__(item)
        found = match or re.fullmatch(self.__discord_ui_compiled_template__, item.custom_id or "")
        if found is None:
            raise ValueError(f"custom id {item.custom_id!r} does not fit {type(self).__name__}")
        self.fields = found.groupdict()

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> GuardedButton:
        """Rebuild the button from the component Discord sent back."""
        assert isinstance(item, discord.ui.Button)
        return cls(item, match)

    async def callback(self, interaction: discord.Interaction) -> None:
        """Run the button's action; failures go to the central reporter."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self.act(interaction))

    async def act(self, interaction: discord.Interaction) -> None:
        """Do what the button is for."""
        raise NotImplementedError


class _Control(discord.ui.DynamicItem[Any], template=r"rb:abstract-control"):
    """Common ground of the room's controls: parse the custom id, guard the callback."""

    id_template: ClassVar[str] = ""

    def __init__(self, item: Any) -> None:
        super().__init__(item)
        self.refusal: InvalidInput | None = None
        try:
            self.target = ids.parse(self.id_template, item.custom_id)
        except InvalidInput as refused:  # a forged id: refused when clicked, not a crash
            self.refusal, self.target = refused, {}

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: Any, match: re.Match[str], /
    ) -> _Control:
        """Rebuild the control from the component Discord sent back."""
        return cls(item)

    async def callback(self, interaction: discord.Interaction) -> None:
        """Run the control's action; failures go to the central reporter."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self._checked_act(interaction))

    async def _checked_act(self, interaction: discord.Interaction) -> None:
        if self.refusal is not None:
            raise self.refusal
        await self._require_own_room(interaction)
        await self.act(interaction)

    async def _require_own_room(self, interaction: discord.Interaction) -> None:
        """Refuse a control that is not on a message of its own release's room."""
        bot = release_bot(interaction.client)
        room: int | None = None
        if interaction.message is not None:
            ref = await bot.releases.find_message(interaction.message.id)
            room = ref.release_id if ref is not None else None
        if room is None and interaction.channel_id is not None:
            room = await bot.room.release_in_channel(interaction.channel_id)
        if room != self.target["release"]:
            log.info(
                "refused a control for release #%s in channel %s (the room of %s)",
                self.target["release"],
                interaction.channel_id,
                f"release #{room}" if room is not None else "no release",
            )
            raise InvalidInput(
                "this control does not belong to this room: use the controls in the "
                "release's own thread; nothing was changed"
            )

    async def act(self, interaction: discord.Interaction) -> None:
        """Do what the control is for."""
        raise NotImplementedError


class _ItemSelect(_Control, template=r"rb:abstract-select"):
    """A select whose values are item indexes of one phase."""

    verb: ClassVar[str] = ""

    async def act(self, interaction: discord.Interaction) -> None:
        """Apply the action to every chosen item; report the refusals together."""
        await interaction.response.defer()
        bot, actor = acting(interaction)
        release = await bot.releases.peek(self.target["release"])
        chosen = [phase_item(release, self.target["phase"], v) for v in self.item.values]
        refused: list[DomainError] = []
        for item in chosen:
            try:
                async with bot.room.serial(self.target["release"]):
                    await self.apply(bot, self.target["release"], item, actor)
            except DomainError as error:
                refused.append(error)
        if len(refused) == len(chosen) == 1:
            raise refused[0]
        if refused:
            lines = [f"{self.verb} {len(chosen) - len(refused)} of {len(chosen)} items."]
            lines += [bot.reporter.describe(error)[0] for error in refused]
            await send_private(interaction, clip("\n".join(lines), 2000))

    async def apply(
        self, bot: ReleaseBot, release_id: int, item: TemplateItem, actor: Actor
    ) -> None:
        """Apply the action to one item."""
        raise NotImplementedError


class TickSelect(_ItemSelect, template=ids.TICK_TEMPLATE):
    """Tick the chosen open items.

    Ticking the production-deployed item outside the deployment window needs an override:
    a holder of "override_window" is asked for the reason (a modal, which must be the first
    answer); anyone else is refused by the release, naming who may override.
    """

    id_template = ids.TICK_TEMPLATE
    verb = "Ticked"

    async def act(self, interaction: discord.Interaction) -> None:
        """Ask a window-override holder for the reason when the window applies; else tick."""
        bot, actor = acting(interaction)
        release = await bot.releases.peek(self.target["release"])
        now = bot.releases.clock.now()
        chosen = [phase_item(release, self.target["phase"], v) for v in self.item.values]
        gated = [item for item in chosen if release.window_refusal(item, now) is not None]
        if gated and bot.releases.policy.may(actor, "override_window", lead_id=release.lead_id):
            modal = TickOverrideModal(self.target["release"], [item.id for item in chosen])
            await interaction.response.send_modal(modal)
            return
        await super().act(interaction)

    async def apply(
        self, bot: ReleaseBot, release_id: int, item: TemplateItem, actor: Actor
    ) -> None:
        """Tick `item`."""
        await bot.releases.tick(release_id, item.id, actor, Source.SELECT)


class UntickSelect(_ItemSelect, template=ids.UNTICK_TEMPLATE):
    """Reopen the chosen done or waived items."""

    id_template = ids.UNTICK_TEMPLATE
    verb = "Reopened"

    async def apply(
        self, bot: ReleaseBot, release_id: int, item: TemplateItem, actor: Actor
    ) -> None:
        """Reopen `item`."""
        await bot.releases.untick(release_id, item.id, actor, Source.SELECT)


class WaiveSelect(_Control, template=ids.WAIVE_TEMPLATE):
    """Ask for the reason to waive the chosen item (a modal), then waive it."""

    id_template = ids.WAIVE_TEMPLATE

    async def act(self, interaction: discord.Interaction) -> None:
        """Open the reason modal (a modal must be the first answer, so no defer here)."""
        bot, actor = acting(interaction)
        release = await bot.releases.peek(self.target["release"])
        item = phase_item(release, self.target["phase"], self.item.values[0])
        # Refuse (and audit) before asking for a reason the person could not use anyway.
        await require_role(bot, release, actor, "waive", item.id, Source.SELECT)
        modal = WaiveReasonModal(
            self.target["release"],
            self.target["phase"],
            int(self.item.values[0]),
            item.text,
            opening=interaction.id,
        )
        await interaction.response.send_modal(modal)


class WaiveReasonModal(discord.ui.Modal):
    """Ask why an item is skipped; waive it on submit."""

    reason: discord.ui.TextInput[WaiveReasonModal] = discord.ui.TextInput(
        label="Why is this item waived?",
        style=discord.TextStyle.paragraph,
        min_length=3,
        max_length=REASON_MAX,
    )

    def __init__(
        self, release_id: int, phase: int, item: int, text: str, *, opening: int = 0
    ) -> None:
        super().__init__(
            title=clip(f"Waive item {item + 1}", 45),
            timeout=900,
            custom_id=ids.waive_reason_id(release_id, phase, item, opening),
        )
        self.release_id, self.phase, self.item_index = release_id, phase, item
        self.reason.placeholder = clip(text, 100)

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        """Waive the item with the reason given."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self._waive(interaction))

    async def _waive(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        release = await bot.releases.peek(self.release_id)
        item = phase_item(release, self.phase, str(self.item_index))
        async with bot.room.serial(self.release_id):
            await bot.releases.waive(
                self.release_id, item.id, self.reason.value, actor, Source.MODAL
            )
        await send_private(interaction, f"⏭ Waived “{clip(item.text, 200)}”: {self.reason.value}")

    async def on_error(  # type: ignore[override]  # discord.py types it as BaseView.on_error
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        """Send anything unexpected to the central reporter."""
        await release_bot(interaction.client).reporter.report(interaction, error)


class TickOverrideModal(discord.ui.Modal):
    """Ask why production-deployed is ticked outside the window; tick the chosen items."""

    reason: discord.ui.TextInput[TickOverrideModal] = discord.ui.TextInput(
        label="Why tick it outside the deployment window?",
        style=discord.TextStyle.paragraph,
        min_length=3,
        max_length=REASON_MAX,
    )

    def __init__(self, release_id: int, item_ids: list[str]) -> None:
        super().__init__(
            title="Override the deployment window",
            timeout=900,
            custom_id=f"rb:tick-override:{release_id}",
        )
        self.release_id, self.item_ids = release_id, item_ids

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        """Tick the items with the override reason given."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self._tick(interaction))

    async def _tick(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        lines: list[str] = []
        for item_id in self.item_ids:
            try:
                async with bot.room.serial(self.release_id):
                    release = await bot.releases.tick(
                        self.release_id, item_id, actor, Source.MODAL, override=self.reason.value
                    )
            except DomainError as error:
                lines.append(bot.reporter.describe(error)[0])
                continue
            lines.append(f"✅ Ticked “{clip(release.item(item_id).text, 200)}”")
        lines.append(f"Deployment window overridden: {self.reason.value}")
        await send_private(interaction, clip("\n".join(lines), 2000))

    async def on_error(  # type: ignore[override]  # discord.py types it as BaseView.on_error
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        """Send anything unexpected to the central reporter."""
        await release_bot(interaction.client).reporter.report(interaction, error)


class AdvanceButton(_Control, template=ids.ADVANCE_TEMPLATE):
    """Close the phase this button sits under, if its gates hold."""

    id_template = ids.ADVANCE_TEMPLATE

    async def act(self, interaction: discord.Interaction) -> None:
        """Advance the release when this button's phase is the current one."""
        await interaction.response.defer()
        bot, actor = acting(interaction)
        release = await bot.releases.peek(self.target["release"])
        if not 0 <= self.target["phase"] < len(release.phases):
            raise UnknownTarget(f"this control no longer matches {release.name}; press Refresh")
        # The phase travels with the click; the service checks it inside the transaction,
        # so of two clicks at the same instant the second is told "already advanced".
        phase = release.phases[self.target["phase"]]
        await bot.room.advance(release.id or 0, actor, Source.BUTTON, phase.key)


class RefreshButton(_Control, template=ids.REFRESH_TEMPLATE):
    """Re-render every message of the release from the database."""

    id_template = ids.REFRESH_TEMPLATE

    async def act(self, interaction: discord.Interaction) -> None:
        """Refresh the room (anyone may: it changes nothing)."""
        await interaction.response.defer()
        bot = release_bot(interaction.client)
        await bot.releases.get(self.target["release"])
        bot.room.updater.request(self.target["release"], force=True)


DYNAMIC_ITEMS: tuple[type[_Control], ...] = (
    TickSelect,
    UntickSelect,
    WaiveSelect,
    AdvanceButton,
    RefreshButton,
)
