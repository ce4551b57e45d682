"""Build the reports feature: recorded metrics and DORA (announcements, feedback: chat/, mail/)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.core.clock import Clock
from bot.core.ports import UnitOfWorkFactory
from bot.reports.service.use_cases import ReportService


@dataclass
class ReportFeature:
    """The reports services of one bot."""

    service: ReportService


def wire_reports(settings: Settings, uow: UnitOfWorkFactory, clock: Clock) -> ReportFeature:
    """Return the reports feature."""
    del settings  # the announcements section is read by the chat and mail adapters
    return ReportFeature(ReportService(uow, clock))
