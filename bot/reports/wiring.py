"""Build the reports feature: recorded metrics, DORA, announcements, feedback, retrospective.

`bot.app.create_bot` calls `wire_reports` once. The Discord senders (announcement, feedback
message, retrospective prompt, the report) are registered by `bot.reports.chat.cog`; the
tick sender and the SMTP sender here. The event subscriptions are in `bot.app.events`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.core.actors import AccessPolicy
from bot.core.clock import Clock
from bot.core.ports import UnitOfWorkFactory
from bot.releases.service import ReleaseService
from bot.reports.domain.announcement import CHECK_ANNOUNCED, ChangelogSection
from bot.reports.mail.smtp import EmailSender
from bot.reports.service.comms import EMAIL_KIND, FEEDBACK_TIMER, TICK_KIND, CommsService
from bot.reports.service.use_cases import ReportService
from bot.reports.store.changelog import read_section
from bot.runtime.background import Background
from bot.runtime.outbox import OutboxMessage
from bot.runtime.timers import TimerService


@dataclass
class ReportFeature:
    """The reports services of one bot."""

    service: ReportService
    comms: CommsService


class TickSender:
    """Deliver `report.tick`: tick the open items of a check as the bot (never a person's)."""

    def __init__(self, comms: CommsService) -> None:
        self.comms = comms

    async def send(self, msg: OutboxMessage) -> str | None:
        """Tick and say what happened to each item."""
        return await self.comms.tick_check(
            int(msg.payload["release_id"]), str(msg.payload["check"])
        )


def changelog_reader(settings: Settings) -> Callable[[str, str], ChangelogSection | None]:
    """Return (service, version) -> the CHANGELOG section, from `[reports] changelogs`."""
    paths: dict[str, Path] = dict(settings.reports.changelogs)

    def read(service: str, version: str) -> ChangelogSection | None:
        path = paths.get(service)
        return None if path is None else read_section(path, version)

    return read


def wire_reports(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    policy: AccessPolicy,
    releases: ReleaseService,
    timers: TimerService,
    background: Background | None = None,
) -> ReportFeature:
    """Return the reports feature; register its timer, the tick sender and the SMTP sender."""
    service = ReportService(uow, clock)
    comms = CommsService(uow, clock, settings.reports, releases, policy, changelog_reader(settings))
    feature = ReportFeature(service, comms)
    timers.register(FEEDBACK_TIMER, comms.on_feedback_timer)
    if background is not None:
        background.add_sender(TICK_KIND, TickSender(comms))
        email = settings.reports.email
        if email.enabled:
            background.add_sender(
                EMAIL_KIND,
                EmailSender(
                    email, settings.secrets.smtp_username, settings.secrets.smtp_password,
                    comms.thread_link, comms.delivered, [CHECK_ANNOUNCED],
                ),
            )  # fmt: skip
    return feature
