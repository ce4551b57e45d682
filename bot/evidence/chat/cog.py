"""`/release verify [phase]`, the "Delete release branch" button, and the thread notices.

`/release verify` runs the github.* checks of the current phase (or a named one, or "all")
now and answers privately with each verdict: ticked as the bot with its link, failing with
its reason, inconclusive with why. When the release branch still exists and a Cleanup item
checks for its deletion, the answer carries the "Delete release branch" button.

The button (`rb:gh-del:<release>`) checks the clicker's roles (`[github]
delete_branch_roles`, read from the home guild at the click), then answers privately with the
branch and its merge state (GitHub's compare with main) and Confirm / Cancel; an unmerged
branch gets no Confirm. Confirm checks the roles and the merge state again, deletes the
branch and audits it; every denial is audited.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.layout import clip
from bot.core.actors import ROLE_TITLES, Source
from bot.core.errors import InvalidInput
from bot.evidence.domain import VerdictStatus
from bot.evidence.service import NOTICE_KIND, EvidenceService, VerifyReport
from bot.releases.chat.bot import ReleaseBot, acting, release_bot
from bot.releases.chat.commands import resolve_release
from bot.releases.chat.controls import GuardedButton
from bot.runtime.background import Background
from bot.runtime.outbox import DeliveryFailed, OutboxMessage

log = logging.getLogger(__name__)

DELETE_TEMPLATE = r"rb:gh-del:(?P<release>\d+)"
CONFIRM_TEMPLATE = r"rb:gh-del-ok:(?P<release>\d+)"
CANCEL_TEMPLATE = r"rb:gh-del-no:(?P<release>\d+)"
ACTIONS = {
    "ticked": " — ticked by the bot",
    "person": " — ticked by a person (left as it is)",
    "waived": " — waived (left as it is)",
    "regressed": " — ticked by the bot earlier, failing now (reported in the thread)",
    "not current": " — its phase is not open",
}
MARKS = {VerdictStatus.PASS: "✅", VerdictStatus.FAIL: "❌", VerdictStatus.INCONCLUSIVE: "❔"}


def evidence_service(bot: ReleaseBot) -> EvidenceService:
    """Return the evidence service `create_bot` handed to the bot."""
    found = bot.find_handle(EvidenceService)
    if found is None:
        raise InvalidInput("GitHub evidence is not set up in this bot")
    return found


def report_text(report: VerifyReport) -> str:
    """Return the private answer of `/release verify`: problems first, with their reasons.

    A failure carries its link (the failed check run, the Release page); a pass shows its
    reason only, since its link is on the ticked item in the thread.
    """
    head = f"**GitHub evidence for {report.release.name}** ({report.scope})"
    if report.note:
        return f"{head}: {report.note}"
    lines = [head]
    order = (VerdictStatus.FAIL, VerdictStatus.INCONCLUSIVE, VerdictStatus.PASS)
    for status in order:
        for result in report.by_status(status):
            verdict = result.verdict
            link = f" <{verdict.link}>" if verdict.link and status is not VerdictStatus.PASS else ""
            action = ACTIONS.get(result.action, "")
            lines.append(
                f"{MARKS[status]} “{clip(result.text, 60)}” `{result.check}`: "
                f"{clip(verdict.reason, 300)}{link}{action}"
            )
    return clip("\n".join(lines), 2000)


def delete_button(release_id: int) -> discord.ui.Button[Any]:
    """Return the "Delete release branch" button."""
    return discord.ui.Button(
        label="Delete release branch",
        style=discord.ButtonStyle.danger,
        custom_id=f"rb:gh-del:{release_id}",
    )


def _offers_delete(report: VerifyReport) -> bool:
    return any(
        r.check == "github.branch_deleted" and r.verdict.status is VerdictStatus.FAIL
        for r in report.results
    )


class _Control(GuardedButton, template=r"rb:gh-abstract"):
    """A button of a release's branch deletion: its custom id names the release."""

    @property
    def release_id(self) -> int:
        """Return the release the button belongs to."""
        return int(self.fields["release"])


class DeleteBranchButton(_Control, template=DELETE_TEMPLATE):
    """Ask the clicker (with the role) to confirm, naming the branch and its merge state."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Answer privately with the confirmation, or why it is refused."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        plan = await evidence_service(bot).plan_delete(self.release_id, actor, Source.BUTTON)
        view = discord.ui.View(timeout=None)
        if plan.merged:
            view.add_item(
                ConfirmDelete(
                    discord.ui.Button(
                        label=f"Delete {plan.branch}",
                        style=discord.ButtonStyle.danger,
                        custom_id=f"rb:gh-del-ok:{self.release_id}",
                    )
                )
            )
        view.add_item(
            CancelDelete(
                discord.ui.Button(
                    label="Cancel",
                    style=discord.ButtonStyle.secondary,
                    custom_id=f"rb:gh-del-no:{self.release_id}",
                )
            )
        )
        await interaction.edit_original_response(content=clip(plan.question(), 2000), view=view)


class ConfirmDelete(_Control, template=CONFIRM_TEMPLATE):
    """Delete the branch (roles and merge state checked again, now)."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Delete and replace the confirmation with what was done."""
        await interaction.response.defer()
        bot, actor = acting(interaction)
        plan = await evidence_service(bot).delete_branch(self.release_id, actor, Source.BUTTON)
        await interaction.edit_original_response(
            content=f"🗑️ Deleted `{plan.branch}` in {plan.repository} ({plan.state}).", view=None
        )


class CancelDelete(_Control, template=CANCEL_TEMPLATE):
    """Drop the confirmation; nothing was changed."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Replace the confirmation with a note that nothing happened."""
        await interaction.response.edit_message(
            content="Branch deletion cancelled; nothing was changed.", view=None
        )


class NoticePoster:
    """Deliver "an item the bot ticked fails now" to the release thread."""

    def __init__(self, bot: ReleaseBot) -> None:
        self.bot = bot

    async def send(self, msg: OutboxMessage) -> str | None:
        """Post the notice in the release thread."""
        payload = msg.payload
        release_id = int(payload["release_id"])
        thread_id = await self.bot.room.thread_id(release_id)
        if thread_id is None:
            return "the release has no thread"
        none = discord.AllowedMentions.none()
        if payload.get("kind") == "offer_delete":
            return await self._offer_delete(thread_id, release_id, payload, none)
        link = f" <{payload['link']}>" if payload.get("link") else ""
        text = (
            f"⚠️ “{payload['text']}” was ticked by the bot from GitHub, but `{payload['check']}` "
            f"fails now: {payload['reason']}{link}. The tick stays; check it and untick it if "
            "it no longer holds."
        )
        try:
            channel = self.bot.get_partial_messageable(thread_id)
            await channel.send(clip(text, 2000), allowed_mentions=none)
        except discord.HTTPException as error:
            raise _failed(error) from error
        return f"notice for {payload['item']}"

    async def _offer_delete(
        self,
        thread_id: int,
        release_id: int,
        payload: Any,
        none: discord.AllowedMentions,
    ) -> str:
        """Post the Cleanup message with the "Delete release branch" button."""
        roles = ", ".join(
            sorted(ROLE_TITLES.get(r, r) for r in evidence_service(self.bot).delete_roles)
        )
        text = (
            f"🧹 Cleanup: “{payload['text']}”. `{payload['branch']}` in {payload['repository']} "
            f"can be deleted once it is merged into main ({roles} may; the merge state is "
            "checked at the click)."
        )
        view = discord.ui.View(timeout=None)
        view.add_item(delete_button(release_id))
        try:
            channel = self.bot.get_partial_messageable(thread_id)
            await channel.send(clip(text, 2000), view=view, allowed_mentions=none)
        except discord.HTTPException as error:
            raise _failed(error) from error
        return f"offered to delete {payload['branch']}"


def _failed(error: discord.HTTPException) -> DeliveryFailed:
    retry = error.status >= 500 or error.status == 429
    return DeliveryFailed(retry, f"Discord answered {error.status}: {error.text}")


def build_commands() -> list[app_commands.Command[Any, Any, None]]:
    """Return a fresh /release verify command."""

    @app_commands.command(name="verify", description="Check the phase's items against GitHub")
    @app_commands.describe(
        phase="A phase key, or all (default: the current phase)",
        release="The release (default: this thread's)",
    )
    async def verify_command(
        interaction: discord.Interaction,
        phase: app_commands.Range[str, 1, 64] | None = None,
        release: str | None = None,
    ) -> None:
        """Run the checks now and answer with each verdict."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        bot = release_bot(interaction.client)
        wanted = phase.strip().lower() if phase else None
        if wanted and wanted != "all" and wanted not in [p.key for p in found.phases]:
            keys = ", ".join(p.key for p in found.phases)
            raise InvalidInput(f"unknown phase {phase!r}; expected all or one of: {keys}")
        report = await evidence_service(bot).verify(found.id or 0, wanted, source=Source.SLASH)
        view = discord.ui.View(timeout=None)
        if _offers_delete(report) and report.release.is_active:
            view.add_item(delete_button(found.id or 0))
        await interaction.edit_original_response(content=report_text(report), view=view)

    return [verify_command]


DYNAMIC_ITEMS = (DeleteBranchButton, ConfirmDelete, CancelDelete)


async def setup(bot: commands.Bot) -> None:
    """Register the buttons, the thread notice sender and /release verify."""
    client = release_bot(bot)
    if client.find_handle(EvidenceService) is None:
        log.warning("GitHub evidence is not wired into this bot; /release verify disabled")
        return
    client.add_dynamic_items(*DYNAMIC_ITEMS)
    background = client.find_handle(Background)
    if background is not None:
        background.add_sender(NOTICE_KIND, NoticePoster(client))
    group = client.tree.get_command("release")
    if not isinstance(group, app_commands.Group):
        raise RuntimeError("the /release command group is missing: load bot.releases.chat.commands")
    for command in build_commands():
        if group.get_command(command.name) is None:
            group.add_command(command)
