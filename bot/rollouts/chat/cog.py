"""Kubernetes in the release room: Roll back buttons, `/release rollback|deploy|deploy-status`.

`/release deploy` answers privately with the rendered plan (image v1.3.2 → v1.4.0,
replicas) and Confirm deploy / Cancel; only the person who asked can press them, and
Confirm checks the roles, the deployment window and what runs again at the click: a plan
that went stale (what runs changed since) is refused and shown anew.

The "Roll back" buttons that alerts and incidents post carry `rb:rollback:<release>`; a click
checks the clicker's roles at that moment, then answers privately with what the rollback would
do and Confirm / Cancel buttons. Confirm checks the roles again and starts the rollback in the
background; its progress and outcome appear in the release thread through the outbox (one
message edited as the rollout moves, plus an outcome line when it ends).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.failures import send_private
from bot.chat.ids import ROLLBACK_TEMPLATE, rollback_id
from bot.chat.kit import to_embed
from bot.chat.layout import clip
from bot.core.actors import Source
from bot.core.errors import InvalidInput
from bot.core.ports import MessageRef
from bot.releases.chat.bot import ReleaseBot, acting, release_bot
from bot.releases.chat.commands import resolve_release
from bot.releases.chat.controls import GuardedButton
from bot.releases.chat.summary import release_choice
from bot.rollouts.chat.render import deploy_status_embed, operation_embed, outcome_line
from bot.rollouts.service.deploy import DeployPlan, DeployService, StalePlan
from bot.rollouts.service.rollback import (
    OUTBOX_KIND,
    NotRunningRelease,
    RollbackPlan,
    RollbackService,
)
from bot.runtime.background import Background
from bot.runtime.outbox import DeliveryFailed, OutboxMessage

log = logging.getLogger(__name__)

CONFIRM_TEMPLATE = (
    r"rb:rollback-ok:(?P<release>\d+):(?P<env>[sp]):(?P<src>\d+):(?P<dst>\d+):(?P<explicit>[01])"
    r"(?::r:(?P<running>[A-Za-z0-9._+,-]{1,40}))?"
)
RUNNING_TEMPLATE = r"rb:rollback-running:(?P<release>\d+):(?P<env>[sp])"
CANCEL_TEMPLATE = r"rb:rollback-no:(?P<release>\d+)"
DEPLOY_OK_TEMPLATE = (
    r"rb:deploy-ok:(?P<release>\d+):(?P<env>[sp]):(?P<user>\d+):(?P<digest>[0-9a-f]{16})"
)
DEPLOY_NO_TEMPLATE = r"rb:deploy-no:(?P<release>\d+):(?P<user>\d+)"
OVERRIDE_PREFIX = "Override reason: "
ENV_CODES = {"p": "production", "s": "staging"}
Environment = Literal["production", "staging"]


def services(bot: ReleaseBot) -> tuple[RollbackService, DeployService]:
    """Return the rollback and deploy services `create_bot` handed to the bot."""
    rollbacks, deploys = bot.find_handle(RollbackService), bot.find_handle(DeployService)
    if rollbacks is None or deploys is None:
        raise InvalidInput("Kubernetes rollouts are not set up in this bot")
    return rollbacks, deploys


def rollback_button(release_id: int) -> discord.ui.Button[Any]:
    """Return the danger "Roll back" button for alerts and incidents of a release."""
    return discord.ui.Button(
        label="Roll back", style=discord.ButtonStyle.danger, custom_id=rollback_id(release_id)
    )


def confirmation_view(plan: RollbackPlan, explicit: bool) -> discord.ui.View:
    """Return the Confirm / Cancel buttons for a previewed rollback."""
    env = plan.environment[0]
    view = discord.ui.View(timeout=None)
    confirm = discord.ui.Button[discord.ui.View](
        label="Confirm rollback",
        style=discord.ButtonStyle.danger,
        custom_id=(
            f"rb:rollback-ok:{plan.release_id}:{env}:{plan.from_revision}:{plan.to_revision}:"
            f"{int(explicit)}" + (f":r:{plan.running[:40]}" if plan.running else "")
        ),
    )
    cancel = discord.ui.Button[discord.ui.View](
        label="Cancel",
        style=discord.ButtonStyle.secondary,
        custom_id=f"rb:rollback-no:{plan.release_id}",
    )
    view.add_item(ConfirmRollback(confirm))
    view.add_item(CancelRollback(cancel))
    return view


async def ask_to_confirm(
    interaction: discord.Interaction,
    release_id: int,
    source: Source,
    environment: str = "production",
    to_revision: int | None = None,
    running: bool = False,
) -> None:
    """Check the role and the refusals, then show the private confirmation (after a defer).

    When the Deployment does not run the release's version the answer says what runs, with
    a button to roll that back anyway (`running`: the person confirmed it explicitly).
    """
    bot, actor = acting(interaction)
    rollbacks, _ = services(bot)
    try:
        plan = await rollbacks.preview(
            release_id,
            actor,
            source,
            environment=environment,
            to_revision=to_revision,
            running=running,
        )
    except NotRunningRelease as refused:
        view = discord.ui.View(timeout=None)
        anyway = discord.ui.Button[discord.ui.View](
            label=f"Roll back the running {refused.running} instead"[:80],
            style=discord.ButtonStyle.danger,
            custom_id=f"rb:rollback-running:{release_id}:{environment[0]}",
        )
        view.add_item(RollbackRunning(anyway))
        text = (
            f"⚠️ Rollback refused: {refused.message}. Rolling back from this room would "
            f"withdraw {refused.running}, which is not this release. If that is what you "
            "mean, confirm it explicitly (the button, or `/release rollback running:True`)."
        )
        await interaction.edit_original_response(content=clip(text, 2000), view=view)
        return
    view = confirmation_view(plan, explicit=bool(to_revision))
    await interaction.edit_original_response(content=clip(plan.question(), 2000), view=view)


class RollbackButton(GuardedButton, template=ROLLBACK_TEMPLATE):
    """The Roll back button on alerts and incidents: ask the clicker to confirm."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Answer privately with the confirmation (or why it is refused)."""
        # Reading the Deployment's history can take longer than Discord's 3 s to answer.
        await interaction.response.defer(ephemeral=True, thinking=True)
        await ask_to_confirm(interaction, int(self.fields["release"]), Source.BUTTON)


class RollbackRunning(GuardedButton, template=RUNNING_TEMPLATE):
    """Roll back what the Deployment runs although it is not the room's release: confirm it."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Show the usual confirmation, saying which version it withdraws."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await ask_to_confirm(
            interaction,
            int(self.fields["release"]),
            Source.BUTTON,
            ENV_CODES[self.fields["env"]],
            running=True,
        )


class ConfirmRollback(GuardedButton, template=CONFIRM_TEMPLATE):
    """Start the confirmed rollback (the roles are checked again, now)."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Request the rollback and replace the confirmation with where to follow it."""
        await interaction.response.defer()
        bot, actor = acting(interaction)
        rollbacks, _ = services(bot)
        op = await rollbacks.request(
            int(self.fields["release"]),
            actor,
            Source.BUTTON,
            environment=ENV_CODES[self.fields["env"]],
            from_revision=int(self.fields["src"]),
            to_revision=int(self.fields["dst"]),
            explicit=self.fields["explicit"] == "1",
            running=self.fields.get("running"),
        )
        await interaction.edit_original_response(
            content=(
                f"↩️ Rolling back {op.target} from revision {op.from_revision} to "
                f"{op.to_revision} (rollback #{op.id}); follow it in the release thread."
            ),
            view=None,
        )


class CancelRollback(GuardedButton, template=CANCEL_TEMPLATE):
    """Drop the confirmation; nothing was changed."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Replace the confirmation with a note that nothing happened."""
        await interaction.response.edit_message(
            content="Rollback cancelled; nothing was changed.", view=None
        )


def deploy_question(plan: DeployPlan, lead: str = "") -> str:
    """Return the private confirmation text of a deploy plan."""
    lines = [f"{lead}Deploy {plan.release_name} to {plan.target}?"]
    lines += [f"• {line}" for line in plan.lines]
    if plan.override_reason:
        lines.append(f"{OVERRIDE_PREFIX}{plan.override_reason}")
    lines.append("Nothing is applied until you press Confirm deploy.")
    return clip("\n".join(lines), 2000)


def deploy_view(plan: DeployPlan, user_id: int) -> discord.ui.View:
    """Return the Confirm / Cancel buttons of a previewed deploy (only `user_id` may press)."""
    env = plan.environment[0]
    view = discord.ui.View(timeout=None)
    confirm = discord.ui.Button[discord.ui.View](
        label="Confirm deploy",
        style=discord.ButtonStyle.primary,
        custom_id=f"rb:deploy-ok:{plan.release_id}:{env}:{user_id}:{plan.digest}",
    )
    cancel = discord.ui.Button[discord.ui.View](
        label="Cancel",
        style=discord.ButtonStyle.secondary,
        custom_id=f"rb:deploy-no:{plan.release_id}:{user_id}",
    )
    view.add_item(ConfirmDeploy(confirm))
    view.add_item(CancelDeploy(cancel))
    return view


def _override_in(message: discord.Message | None) -> str | None:
    """Return the override reason the confirmation shows, if it shows one."""
    content = message.content if message is not None else ""
    for line in content.splitlines():
        if line.startswith(OVERRIDE_PREFIX):
            return line.removeprefix(OVERRIDE_PREFIX).strip() or None
    return None


async def _only_the_invoker(interaction: discord.Interaction, user_id: str, what: str) -> bool:
    """Refuse privately unless the clicker asked for the deploy."""
    if str(interaction.user.id) == user_id:
        return True
    await send_private(interaction, f"⛔ Only <@{user_id}>, who asked for this deploy, can {what}.")
    return False


class ConfirmDeploy(GuardedButton, template=DEPLOY_OK_TEMPLATE):
    """Apply the confirmed plan: roles, window and what runs are checked again, now."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Start the deploy, or re-show the plan when what runs changed since."""
        await interaction.response.defer()
        if not await _only_the_invoker(interaction, self.fields["user"], "confirm it"):
            return
        bot, actor = acting(interaction)
        _, deploys = services(bot)
        release_id, environment = int(self.fields["release"]), ENV_CODES[self.fields["env"]]
        try:
            op = await deploys.request(
                release_id,
                actor,
                Source.BUTTON,
                environment=environment,
                override=_override_in(interaction.message),
                expected=self.fields["digest"],
            )
        except StalePlan as stale:
            await interaction.edit_original_response(
                content=deploy_question(stale.plan, f"⚠️ {stale.message}.\n"),
                view=deploy_view(stale.plan, interaction.user.id),
            )
            return
        release = await bot.releases.get(release_id)
        note = " (deployment window overridden)" if op.override_reason else ""
        plan = op.progress.removeprefix("plan: ").replace("; ", "\n• ")
        shown = f"\n• {plan}" if plan else ""
        await interaction.edit_original_response(
            content=clip(
                f"🚀 Deploying {release.name} to {op.target}{note} (deploy #{op.id}); "
                f"follow it in the release thread.{shown}",
                2000,
            ),
            view=None,
        )


class CancelDeploy(GuardedButton, template=DEPLOY_NO_TEMPLATE):
    """Drop the deploy confirmation; nothing was changed."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Replace the confirmation with a note that nothing happened."""
        if not await _only_the_invoker(interaction, self.fields["user"], "cancel it"):
            return
        await interaction.response.edit_message(
            content="Deploy cancelled; nothing was changed.", view=None
        )


class RolloutPoster:
    """Deliver rollout updates to the release thread: one message kept current, one outcome."""

    def __init__(self, bot: ReleaseBot, rollbacks: RollbackService) -> None:
        self.bot = bot
        self.rollbacks = rollbacks

    async def send(self, msg: OutboxMessage) -> str | None:
        """Post or edit the operation's message (rendered from its state now)."""
        op = await self.rollbacks.get(int(msg.payload["operation_id"]))
        assert op.id is not None
        release = await self.bot.releases.get(op.release_id)
        thread_id = await self.bot.room.thread_id(op.release_id)
        if thread_id is None:
            return "the release has no thread"
        channel = self.bot.get_partial_messageable(thread_id)
        refs = {
            r.kind: r
            for r in await self.bot.releases.messages(op.release_id)
            if r.key == str(op.id)
        }
        embed = to_embed(operation_embed(op, release))
        none = discord.AllowedMentions.none()
        try:
            if "rollout" in refs:
                message = channel.get_partial_message(refs["rollout"].message_id)
                await message.edit(embed=embed, allowed_mentions=none)
            else:
                sent = await channel.send(embed=embed, allowed_mentions=none)
                await self._remember(op.release_id, "rollout", op.id, thread_id, sent.id)
            if not op.in_flight and "rollout-outcome" not in refs:
                sent = await channel.send(outcome_line(op), allowed_mentions=none)
                await self._remember(op.release_id, "rollout-outcome", op.id, thread_id, sent.id)
        except discord.HTTPException as error:
            retry = error.status >= 500 or error.status == 429
            raise DeliveryFailed(retry, f"Discord answered {error.status}: {error.text}") from error
        return f"{op.kind} #{op.id} shown as {op.status}"

    async def _remember(
        self, release_id: int, kind: str, op_id: int, channel_id: int, message_id: int
    ) -> None:
        await self.bot.releases.put_message(
            MessageRef(release_id, kind, str(op_id), channel_id, message_id)
        )


async def _release_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    bot = release_bot(interaction.client)
    wanted = current.strip().lstrip("#").casefold()
    return [
        app_commands.Choice(name=release_choice(r), value=str(r.id))
        for r in await bot.releases.list(limit=25)
        if wanted in release_choice(r).casefold()
    ][:25]


def build_commands() -> list[app_commands.Command[Any, Any, None]]:
    """Return fresh /release rollback, deploy and deploy-status commands (one set per bot)."""

    @app_commands.command(name="rollback", description="Roll back the release (rollout undo)")
    @app_commands.describe(
        to_revision="Revision to restore (default: the previous one)",
        environment="Which Deployment (default: production)",
        release="The release (default: this thread's)",
        running=("Roll back what the Deployment runs even though it is not this release's version"),
    )
    @app_commands.autocomplete(release=_release_choices)
    async def rollback_command(
        interaction: discord.Interaction,
        to_revision: app_commands.Range[int, 1, 1_000_000_000] | None = None,
        environment: Environment = "production",
        release: str | None = None,
        running: bool = False,
    ) -> None:
        """Show the private confirmation of a rollback, like the Roll back button."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        await ask_to_confirm(
            interaction, found.id or 0, Source.SLASH, environment, to_revision, running
        )

    @app_commands.command(name="deploy", description="Apply the manifests and watch the rollout")
    @app_commands.describe(
        environment="staging or production",
        override="Reason to deploy production outside the deployment window",
        release="The release (default: this thread's)",
    )
    @app_commands.autocomplete(release=_release_choices)
    async def deploy_command(
        interaction: discord.Interaction,
        environment: Environment,
        override: app_commands.Range[str, 3, 300] | None = None,
        release: str | None = None,
    ) -> None:
        """Show the plan privately with Confirm / Cancel; nothing is applied before Confirm."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        bot, actor = acting(interaction)
        _, deploys = services(bot)
        plan = await deploys.preview(
            found.id or 0, actor, Source.SLASH, environment=environment, override=override
        )
        await interaction.edit_original_response(
            content=deploy_question(plan), view=deploy_view(plan, interaction.user.id)
        )

    @app_commands.command(name="deploy-status", description="Show each Deployment's rollout")
    @app_commands.describe(release="The release (default: this thread's)")
    @app_commands.autocomplete(release=_release_choices)
    async def deploy_status_command(
        interaction: discord.Interaction, release: str | None = None
    ) -> None:
        """Show replicas, generation, conditions and deadline of every target of the release."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        _, deploys = services(release_bot(interaction.client))
        report = await deploys.status(found.id or 0)
        await interaction.edit_original_response(embed=to_embed(deploy_status_embed(report)))

    return [rollback_command, deploy_command, deploy_status_command]


DYNAMIC_ITEMS = (
    RollbackButton,
    RollbackRunning,
    ConfirmRollback,
    CancelRollback,
    ConfirmDeploy,
    CancelDeploy,
)


def attach_commands(bot: ReleaseBot) -> None:
    """Add the Kubernetes subcommands to the /release group (of bot.releases.chat.commands)."""
    group = bot.tree.get_command("release")
    if not isinstance(group, app_commands.Group):
        raise RuntimeError("the /release command group is missing: load bot.releases.chat.commands")
    for command in build_commands():
        if group.get_command(command.name) is None:
            group.add_command(command)


async def setup(bot: commands.Bot) -> None:
    """Register the rollback buttons, the thread sender and the /release subcommands."""
    client = release_bot(bot)
    try:
        rollbacks, _ = services(client)
    except InvalidInput:
        log.warning("Kubernetes rollouts are not wired into this bot; rollback/deploy disabled")
        return
    client.add_dynamic_items(*DYNAMIC_ITEMS)
    background = client.find_handle(Background)
    if background is not None:
        background.add_sender(OUTBOX_KIND, RolloutPoster(client, rollbacks))
    attach_commands(client)  # bot.app.EXTENSIONS loads the /release group before this
