"""The reports feature in Discord.

Outbox senders: the announcement (with the feedback message after a production deploy) in
the announcements channel, the feedback tally refresh, the retrospective prompt and the
release report in the release thread. Controls: the 1-5 feedback buttons, the comment and
the retrospective modals (custom ids carry the release, so they work after a restart).
Commands: `/release report`, `/release stats`, `/release feedback`.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.failures import run_guarded, send_private
from bot.chat.layout import clip
from bot.core.actors import Source
from bot.core.errors import InvalidInput
from bot.core.ports import MessageRef
from bot.releases.chat.bot import ReleaseBot, acting, release_bot
from bot.releases.chat.commands import resolve_release
from bot.releases.chat.controls import GuardedButton
from bot.reports.charts import ChartError, ChartJob, chart_name, chart_title, render
from bot.reports.domain.announcement import CHECK_ANNOUNCED, CHECK_TEAM, Announcement
from bot.reports.domain.feedback import SCORES, Tally
from bot.reports.domain.report import ReleaseReport
from bot.reports.period import stats_period
from bot.reports.service.comms import (
    ANNOUNCE_KIND,
    FEEDBACK_REFRESH_KIND,
    REPORT_POST_KIND,
    RETRO_PROMPT_KIND,
    CommsService,
)
from bot.reports.service.use_cases import ReportService
from bot.runtime.background import Background
from bot.runtime.outbox import DeliveryFailed, OutboxMessage

log = logging.getLogger(__name__)

VOTE_TEMPLATE = r"rb:fb:(?P<release>\d+):(?P<score>[1-5])"
COMMENT_TEMPLATE = r"rb:fb-comment:(?P<release>\d+)"
RETRO_TEMPLATE = r"rb:retro:(?P<release>\d+)"


@dataclass(frozen=True)
class Reports:
    """The reports services `create_bot` handed to the bot."""

    service: ReportService
    comms: CommsService


def feature(bot: ReleaseBot) -> Reports:
    """Return the reports services of the bot."""
    service, comms = bot.find_handle(ReportService), bot.find_handle(CommsService)
    if service is None or comms is None:
        raise InvalidInput("release reports are not set up in this bot")
    return Reports(service, comms)


def _failed(error: discord.HTTPException) -> DeliveryFailed:
    retry = error.status >= 500 or error.status == 429
    return DeliveryFailed(retry, f"Discord answered {error.status}: {error.text}")


async def thread_of(bot: ReleaseBot, release_id: int) -> discord.Thread | None:
    """Return the release's thread, if the bot can see it."""
    thread_id = await bot.room.thread_id(release_id)
    channel = bot.get_channel(thread_id) if thread_id else None
    return channel if isinstance(channel, discord.Thread) else None


def find_channel(bot: ReleaseBot, ref: str | None) -> discord.TextChannel | None:
    """Return the text channel named (or numbered) `ref` in the home guild."""
    if not ref:
        return None
    wanted = ref.strip().lstrip("#")
    guilds = [bot.get_guild(bot.config.guild_id)] if bot.config.guild_id else list(bot.guilds)
    for guild in guilds:
        for channel in guild.text_channels if guild else ():
            if (wanted.isdigit() and channel.id == int(wanted)) or channel.name == wanted:
                return channel
    return None


def feedback_view(release_id: int) -> discord.ui.View:
    """Return the 1-5 buttons and the Comment button of a release's feedback message."""
    view = discord.ui.View(timeout=None)
    for score in SCORES:
        view.add_item(
            VoteButton(
                discord.ui.Button(
                    label=f"{score}★", style=discord.ButtonStyle.secondary,
                    custom_id=f"rb:fb:{release_id}:{score}",
                )
            )
        )  # fmt: skip
    view.add_item(
        CommentButton(
            discord.ui.Button(
                label="Comment", style=discord.ButtonStyle.primary,
                custom_id=f"rb:fb-comment:{release_id}",
            )
        )
    )  # fmt: skip
    return view


def feedback_text(name: str, tally: Tally) -> str:
    """Return the feedback message's text: the question and the tally."""
    return clip(
        f"📝 How did the release of **{name}** go for you? One vote per person (you can "
        f"change it), 1 = bad … 5 = great; add a comment if you like.\n**Tally:** {tally.line()}",
        2000,
    )


def report_embed(report: ReleaseReport) -> discord.Embed:
    """Return the report's embed: the same figure lines `releasebot report` writes."""
    embed = discord.Embed(
        title=clip(report.title, 256), description=clip("\n".join(report.figure_lines()), 4000)
    )
    lessons = "\n".join(f"• {n}" for n in report.metrics.notes) or "(none noted)"
    embed.add_field(name="Lessons learned", value=clip(lessons, 1024), inline=False)
    retro = report.retrospective
    embed.add_field(
        name="Retrospective",
        value=clip(
            "not submitted yet"
            if retro is None
            else f"by {retro.author_name}\nWent well: {retro.went_well or '—'}\n"
            f"Went badly: {retro.went_badly or '—'}\nActions: {retro.actions or '—'}",
            1024,
        ),
        inline=False,
    )
    embed.set_footer(text=f"report of release #{report.metrics.release_id}")
    return embed


async def report_files(
    report: ReleaseReport, reports: Reports
) -> tuple[ReleaseReport, list[discord.File]]:
    """Draw the charts: the phases, and each monitored condition against its threshold with
    the previous release of the service over the same offsets from its deploy; return the
    report naming them and the files to attach.
    """
    rid = report.metrics.release_id
    jobs: list[ChartJob] = [("phases", report.metrics)]
    names = [f"release-{rid}-phases.png"]
    previous = {}
    if report.previous_release_id is not None:
        earlier = await reports.comms.series(report.previous_release_id)
        label = f"release #{report.previous_release_id}"
        previous = {s.condition: s.labelled(label) for s in earlier}
    for series in await reports.comms.series(rid):
        if not series.points:
            continue
        slug = re.sub(r"[^a-z0-9]+", "-", series.condition.lower()).strip("-") or "series"
        title = f"{report.metrics.service} {report.metrics.version}: {series.condition}"
        mine = series.labelled(f"release #{rid}")
        jobs.append(("series", title, mine, previous.get(series.condition)))
        names.append(f"release-{rid}-{slug}.png")
    try:  # in a child process: the event loop (and open transactions) never wait on it
        charts = list(zip(names, await render(jobs), strict=True))
    except (ChartError, OSError) as error:  # the figures still go out, without pictures
        log.warning("release #%s: no charts: %s", rid, error)
        charts = []
    files = [discord.File(io.BytesIO(png), filename=name) for name, png in charts]
    named = ReleaseReport(
        report.metrics, report.tally, report.retrospective, report.previous_release_id,
        tuple(name for name, _ in charts),
    )  # fmt: skip
    return named, files


# ----- outbox senders -----------------------------------------------------------------------


class AnnouncementSender:
    """Post an announcement (and, after a production deploy, the feedback message)."""

    def __init__(
        self,
        bot: ReleaseBot,
        reports: Reports,
        channel: str | None,
        stakeholders: list[str],
        email: bool,
    ) -> None:
        self.bot = bot
        self.reports = reports
        self.channel = channel
        self.stakeholders = stakeholders
        self.email = email

    async def send(self, msg: OutboxMessage) -> str | None:
        """Post once (a retry finds the message it already posted); record the evidence."""
        announcement = Announcement.from_payload(msg.payload)
        channel = find_channel(self.bot, self.channel)
        if channel is None:
            raise DeliveryFailed(
                False, f"no announcements channel {self.channel!r} in the home guild"
            )
        rid = announcement.release_id
        refs = {(r.kind, r.key): r for r in await self.bot.releases.messages(rid)}
        thread = await thread_of(self.bot, rid)
        mentions = " ".join(f"<@{s}>" if s.isdigit() else f"@{s}" for s in self.stakeholders)
        try:
            posted = refs.get(("announcement", announcement.kind))
            if posted is None:
                embed = discord.Embed(
                    title=clip(f"📣 {announcement.subject}", 256),
                    description=clip(
                        "\n".join(announcement.body_lines(thread.jump_url if thread else None)),
                        4000,
                    ),
                )
                embed.set_footer(text=f"announcement of release #{rid}")
                sent = await channel.send(
                    content=mentions or None,
                    embed=embed,
                    allowed_mentions=discord.AllowedMentions(
                        users=True, roles=False, everyone=False
                    ),
                )
                await self.bot.releases.put_message(
                    MessageRef(rid, "announcement", announcement.kind, channel.id, sent.id)
                )
                link = sent.jump_url
            else:
                link = f"https://discord.com/channels/{channel.guild.id}/{posted.channel_id}/{posted.message_id}"
            if announcement.kind == "production_deployed" and ("feedback", "1") not in refs:
                tally = await self.reports.comms.tally(rid)
                name = f"{announcement.service} {announcement.version}"
                sent = await channel.send(
                    feedback_text(name, tally),
                    view=feedback_view(rid),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
                await self.bot.releases.put_message(
                    MessageRef(rid, "feedback", "1", channel.id, sent.id)
                )
        except discord.HTTPException as error:
            raise _failed(error) from error
        if announcement.kind == "production_deployed":
            checks = [CHECK_TEAM] if self.email else [CHECK_TEAM, CHECK_ANNOUNCED]
            said = f"Discord announcement {link}" + (f" (mentioned {mentions})" if mentions else "")
            await self.reports.comms.delivered(rid, checks, said)
        return f"announced {announcement.kind} at {link}"


class FeedbackRefresher:
    """Edit the feedback message to show the current tally."""

    def __init__(self, bot: ReleaseBot, reports: Reports) -> None:
        self.bot = bot
        self.reports = reports

    async def send(self, msg: OutboxMessage) -> str | None:
        """Edit the stored feedback message (nothing to do if it was never posted)."""
        rid = int(msg.payload["release_id"])
        ref = {(r.kind, r.key): r for r in await self.bot.releases.messages(rid)}.get(
            ("feedback", "1")
        )
        if ref is None:
            return "no feedback message"
        release = await self.bot.releases.get(rid)
        tally = await self.reports.comms.tally(rid)
        channel = self.bot.get_partial_messageable(ref.channel_id)
        try:
            await channel.get_partial_message(ref.message_id).edit(
                content=feedback_text(release.name, tally), view=feedback_view(rid)
            )
        except discord.HTTPException as error:
            raise _failed(error) from error
        return tally.line()


class RetroPrompter:
    """Ask the release lead for the retrospective in the thread."""

    def __init__(self, bot: ReleaseBot) -> None:
        self.bot = bot

    async def send(self, msg: OutboxMessage) -> str | None:
        """Post the prompt with its button (once)."""
        rid = int(msg.payload["release_id"])
        refs = {(r.kind, r.key) for r in await self.bot.releases.messages(rid)}
        if ("retro-prompt", "1") in refs:
            return "already asked"
        thread = await thread_of(self.bot, rid)
        if thread is None:
            return "the release has no thread"
        release = await self.bot.releases.get(rid)
        view = discord.ui.View(timeout=None)
        view.add_item(
            RetroButton(
                discord.ui.Button(
                    label="Write the retrospective",
                    style=discord.ButtonStyle.primary,
                    custom_id=f"rb:retro:{rid}",
                )
            )
        )
        lead = f"<@{release.lead_id}>" if release.lead_id.isdigit() else release.lead_name
        try:
            sent = await thread.send(
                f"🔁 {lead}, {release.name} is past its monitoring: what went well, what "
                "went badly, what do we change? Your answers go into the release report.",
                view=view,
                allowed_mentions=discord.AllowedMentions(users=True, roles=False, everyone=False),
            )
        except discord.HTTPException as error:
            raise _failed(error) from error
        await self.bot.releases.put_message(
            MessageRef(rid, "retro-prompt", "1", thread.id, sent.id)
        )
        return f"asked {release.lead_name}"


class ReportPoster:
    """Post the release report (figures, lessons, retrospective, charts) in the thread."""

    def __init__(self, bot: ReleaseBot, reports: Reports) -> None:
        self.bot = bot
        self.reports = reports

    async def send(self, msg: OutboxMessage) -> str | None:
        """Post the report once per outcome."""
        rid = int(msg.payload["release_id"])
        thread = await thread_of(self.bot, rid)
        if thread is None:
            return "the release has no thread"
        report, files = await report_files(await self.reports.service.report(rid), self.reports)
        key = report.metrics.outcome
        posted = {(r.kind, r.key) for r in await self.bot.releases.messages(rid)}
        if not msg.payload.get("again") and ("report", key) in posted:
            return "already posted"  # a retry of the automatic post
        try:
            sent = await thread.send(
                embed=report_embed(report),
                files=files,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as error:
            raise _failed(error) from error
        await self.bot.releases.put_message(MessageRef(rid, "report", key, thread.id, sent.id))
        return f"report posted at {sent.jump_url}"


# ----- controls ------------------------------------------------------------------------------


class VoteButton(GuardedButton, template=VOTE_TEMPLATE):
    """A 1-5 vote: stored as the clicker's (replacing their earlier vote)."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Store the vote and answer privately with the tally."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        score = int(self.fields["score"])
        tally = await feature(bot).comms.vote(int(self.fields["release"]), actor, score)
        await send_private(interaction, f"Thanks: your vote is {score}★. {tally.line()}")


class CommentModal(discord.ui.Modal, title="Feedback on the release"):
    """An optional comment with the vote."""

    comment: discord.ui.TextInput[CommentModal] = discord.ui.TextInput(
        label="Your comment", style=discord.TextStyle.paragraph, max_length=1000
    )

    def __init__(self, release_id: int) -> None:
        super().__init__(custom_id=f"rb:fb-modal:{release_id}")
        self.release_id = release_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Store the comment."""
        bot = release_bot(interaction.client)

        async def act() -> None:
            _, actor = acting(interaction)
            tally = await feature(bot).comms.comment(
                self.release_id, actor, str(self.comment.value)
            )
            await send_private(interaction, f"Thanks for the comment. {tally.line()}")

        await run_guarded(interaction, bot.reporter, act)


class CommentButton(GuardedButton, template=COMMENT_TEMPLATE):
    """Open the comment modal."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Show the modal."""
        await interaction.response.send_modal(CommentModal(int(self.fields["release"])))


class RetroModal(discord.ui.Modal, title="Release retrospective"):
    """The lead's three answers."""

    went_well: discord.ui.TextInput[RetroModal] = discord.ui.TextInput(
        label="What went well", style=discord.TextStyle.paragraph, max_length=1000, required=False
    )
    went_badly: discord.ui.TextInput[RetroModal] = discord.ui.TextInput(
        label="What went badly", style=discord.TextStyle.paragraph, max_length=1000, required=False
    )
    actions: discord.ui.TextInput[RetroModal] = discord.ui.TextInput(
        label="What we change next time",
        style=discord.TextStyle.paragraph,
        max_length=1000,
        required=False,
    )

    def __init__(self, release_id: int) -> None:
        super().__init__(custom_id=f"rb:retro-modal:{release_id}")
        self.release_id = release_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Store the retrospective (the role is checked now)."""
        bot = release_bot(interaction.client)

        async def act() -> None:
            _, actor = acting(interaction)
            await feature(bot).comms.retrospective(
                self.release_id, actor, str(self.went_well.value), str(self.went_badly.value),
                str(self.actions.value), Source.MODAL,
            )  # fmt: skip
            await send_private(
                interaction, "Thanks: the retrospective is stored and goes into the report."
            )

        await run_guarded(interaction, bot.reporter, act)


class RetroButton(GuardedButton, template=RETRO_TEMPLATE):
    """Open the retrospective modal (only the lead's submission is accepted)."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Show the modal."""
        await interaction.response.send_modal(RetroModal(int(self.fields["release"])))


DYNAMIC_ITEMS = (VoteButton, CommentButton, RetroButton)


# ----- commands ------------------------------------------------------------------------------


def build_commands() -> list[app_commands.Command[Any, ..., Any]]:
    """Return the /release report, stats and feedback subcommands."""

    @app_commands.command(name="report", description="Post the release report in the thread")
    @app_commands.describe(release="The release (default: this thread's)")
    async def report_command(interaction: discord.Interaction, release: str | None = None) -> None:
        """Post the report (figures, lessons, retrospective, charts) again."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        bot, actor = acting(interaction)
        await feature(bot).comms.request_report(found.id or 0, actor)
        await interaction.edit_original_response(
            content=f"The report of {found.name} is being drawn; it appears in the release "
            "thread in a moment."
        )

    @app_commands.command(name="stats", description="DORA figures from the release log")
    @app_commands.describe(
        service="One service (default: all)",
        days="The period in days (default 30)",
        period="The period as a duration, e.g. 7d, 30d, 12w (instead of days)",
    )
    async def stats_command(
        interaction: discord.Interaction,
        service: str | None = None,
        days: app_commands.Range[int, 1, 3650] | None = None,
        period: str | None = None,
    ) -> None:
        """Answer privately with the four DORA figures of the period and a chart over time."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = release_bot(interaction.client)
        if service is not None and service not in bot.config.services:
            known = ", ".join(bot.config.services) or "none configured"
            raise InvalidInput(f"unknown service {service!r} (configured: {known})")
        length = stats_period(days, period)
        now = bot.clock.now()
        stats, buckets = await feature(bot).service.trend(now - length, now, service)
        text = "\n".join(stats.lines())
        files: list[discord.File] = []
        try:  # in a child process, like the report's charts
            (png,) = await render([("dora", chart_title(stats), tuple(buckets))])
            files.append(discord.File(io.BytesIO(png), filename=chart_name(stats)))
        except (ChartError, OSError) as error:  # the figures still go out, without the chart
            log.warning("/release stats: no chart: %s", error)
            text += "\n(The chart over time could not be drawn; the figures above stand.)"
        await interaction.edit_original_response(content=clip(text, 2000), attachments=files)

    @app_commands.command(name="feedback", description="Show the release's feedback tally")
    @app_commands.describe(release="The release (default: this thread's)")
    async def feedback_command(
        interaction: discord.Interaction, release: str | None = None
    ) -> None:
        """Answer privately with the tally and the comments."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        tally = await feature(release_bot(interaction.client)).comms.tally(found.id or 0)
        comments = "\n".join(f"• {who}: {text}" for who, text in tally.comments)
        await interaction.edit_original_response(
            content=clip(
                f"Feedback on {found.name}: {tally.line()}" + (f"\n{comments}" if comments else ""),
                2000,
            )
        )

    return [report_command, stats_command, feedback_command]


def attach_commands(bot: ReleaseBot) -> None:
    """Add the report subcommands to the /release group (of bot.releases.chat.commands)."""
    group = bot.tree.get_command("release")
    if not isinstance(group, app_commands.Group):
        raise RuntimeError("the /release command group is missing: load bot.releases.chat.commands")
    for command in build_commands():
        if group.get_command(command.name) is None:
            group.add_command(command)


async def setup(bot: commands.Bot) -> None:
    """Register the feedback and retrospective controls, the senders and the subcommands."""
    client = release_bot(bot)
    try:
        found = feature(client)
    except InvalidInput:
        log.warning("release reports are not wired into this bot; announcements disabled")
        return
    from bot.config import Settings

    settings = client.find_handle(Settings)
    reports = settings.reports if settings is not None else None
    client.add_dynamic_items(*DYNAMIC_ITEMS)

    async def link(release_id: int) -> str | None:
        thread = await thread_of(client, release_id)
        return thread.jump_url if thread else None

    found.comms.thread_links.append(link)
    background = client.find_handle(Background)
    if background is not None:
        channel = reports.announcements_channel if reports else None
        stakeholders = list(reports.stakeholders) if reports else []
        email = bool(reports and reports.email.enabled)
        background.add_sender(
            ANNOUNCE_KIND, AnnouncementSender(client, found, channel, stakeholders, email)
        )
        background.add_sender(FEEDBACK_REFRESH_KIND, FeedbackRefresher(client, found))
        background.add_sender(RETRO_PROMPT_KIND, RetroPrompter(client))
        background.add_sender(REPORT_POST_KIND, ReportPoster(client, found))
    attach_commands(client)
