"""After the release (issue 16): announcements (Discord and email), feedback, CHANGELOG paths."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from bot.config.base import ConfigPath, DiscordRef, NonEmptyStr, SectionModel
from bot.config.durations import PositiveDuration
from bot.config.problems import ConfigProblem

AnnounceOn = Literal["production_deployed", "completed", "rolled_back"]
ANNOUNCE_ON: tuple[AnnounceOn, ...] = ("production_deployed", "completed", "rolled_back")


class EmailSettings(SectionModel):
    """The SMTP relay the announcement email goes through (credentials: environment only).

    `security`: "starttls" (submission, port 587), "tls" (implicit TLS, port 465) or "none"
    (a local relay on loopback only). The user and password are RELEASEBOT_SMTP_USERNAME and
    RELEASEBOT_SMTP_PASSWORD (or their _FILE forms); without them the bot does not log in.
    """

    enabled: bool = False
    host: NonEmptyStr = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    sender: NonEmptyStr = "releasebot@localhost"
    to: list[NonEmptyStr] = Field(default_factory=list)
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # A CA bundle to trust for a relay with a private certificate (default: the system's).
    ca_file: ConfigPath | None = None

    def problems(self) -> list[ConfigProblem]:
        """Refuse an enabled email without recipients, or addresses without an @."""
        found = [
            ConfigProblem(f"to[{i}]", f"{address!r} is not an email address (no @)")
            for i, address in enumerate(self.to)
            if "@" not in address
        ]
        if "@" not in self.sender:
            found.append(ConfigProblem("sender", f"{self.sender!r} is not an email address"))
        if self.enabled and not self.to:
            found.append(ConfigProblem("to", "email is enabled but no recipient list is given"))
        return found


class ReportSettings(SectionModel):
    """Announcements, the feedback window and where each service's CHANGELOG.md lives.

    `enabled` turns on what the bot posts and ticks after a release (announcements, email,
    feedback, the retrospective prompt, the report in the thread, the check=report.* ticks).
    The figures are recorded and `releasebot stats|report` work either way.
    """

    enabled: bool = False
    announcements_channel: DiscordRef | None = None
    announce_on: list[AnnounceOn] = Field(default_factory=lambda: list(ANNOUNCE_ON))
    stakeholders: list[DiscordRef] = Field(default_factory=list)
    changelogs: dict[str, ConfigPath] = Field(default_factory=dict)
    feedback_min_answers: int = Field(default=3, ge=1, le=1000)
    feedback_window: PositiveDuration = timedelta(hours=24)
    email: EmailSettings = Field(default_factory=EmailSettings)

    def problems(self) -> list[ConfigProblem]:
        """Return the email table's problems under `email.`."""
        return [ConfigProblem(f"email.{p.path}", p.message) for p in self.email.problems()]
