"""After the release, end to end: SimCord, real SQLite, a real SMTP server on loopback.

The bot is the real one with every extension; Discord is SimCord; the email goes through
aiosmtplib to an aiosmtpd server on 127.0.0.1; the report is read back with the real
`releasebot report` command from the same SQLite file. Probes are scripted fakes (as in
tests/monitoring/chat/test_lifecycle.py): no Prometheus is needed for the window to run.
"""

from __future__ import annotations

import asyncio
import email
import io
import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import discord
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import create_bot
from bot.cli import main
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from bot.releases.domain.release import ItemState, ReleaseStatus
from bot.reports.domain.announcement import message_id_for
from bot.reports.service.use_cases import ReportService
from bot.runtime.background import Background
from bot.store.tables import AuditRow
from tests.monitoring.service.harness import Script, ScriptedProbes
from tests.support.world import World, make_settings

CHANGELOG = """\
# Changelog

## [Unreleased]

## [1.2.3] - 2026-01-05
### Added
- Canary routing for the gateway
### Fixed
- Timeouts on slow upstreams
### Breaking
- Drops the v1 auth header

## [1.2.2] - 2025-12-01
### Fixed
- An older fix that must not be announced
"""
SENDER = "releasebot@nexis.example"
REPORT_ITEMS = {
    "report.announced": "发布公告已发送（Discord/Email）",
    "report.team_notified": "团队已通知",
    "report.duration": "发布时长记录",
    "report.issues": "问题数量统计",
    "report.feedback": "用户反馈收集",
    "report.retrospective": "发布经验总结已完成",
}


class Collect:
    """An aiosmtpd handler that keeps every message it accepts (nothing de-duplicated)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept and keep the message."""
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Collect, int]]:
    """Run a real SMTP server (aiosmtpd) on loopback; yield its handler and port."""
    handler, port = Collect(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def settings(tmp_path: Path, smtp: tuple[Collect, int]) -> Settings:
    """Return settings with announcements, a CHANGELOG and email to the loopback server."""
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG, encoding="utf-8")
    return make_settings(
        tmp_path / "releasebot.db",
        reports={
            "enabled": True,
            "announcements_channel": "announcements",
            "changelogs": {"nexis-gateway": str(changelog)},
            "feedback_min_answers": 3,
            "email": {
                "enabled": True, "host": "127.0.0.1", "port": smtp[1], "security": "none",
                "sender": SENDER, "to": ["team@nexis.example", "ops@nexis.example"],
            },
        },
    )  # fmt: skip


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot with every extension and healthy scripted probes."""
    return create_bot(settings, clock=clock, extensions=None, probes=ScriptedProbes(Script()))


async def pump(world: World, clock: FakeClock, minutes: float = 0) -> None:
    """Move time on and let the background fire timers and deliver messages."""
    clock.advance(timedelta(minutes=minutes))
    await world.bot.handle(Background).pump()


def by_footer(channel: Any, text: str) -> list[discord.Message]:
    """Return the channel's messages whose embed footer contains `text`."""
    return [m for m in channel.history() if m.embeds and text in (m.embeds[0].footer.text or "")]


async def audit_rows(settings: Settings) -> list[AuditRow]:
    """Read release 1's audit rows straight from the SQLite file (independent of the bot)."""
    engine = create_async_engine(settings.database.url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(AuditRow).where(AuditRow.release_id == 1).order_by(AuditRow.id)
            )
            return list(rows.all())  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def test_a_release_is_announced_voted_on_reported_and_its_items_ticked_by_the_bot(
    world: World, clock: FakeClock, settings: Settings, smtp: tuple[Collect, int]
) -> None:
    """Announcement + email with the CHANGELOG; a right tally; a report matching the audit."""
    handler, _ = smtp
    announcements = world.guild.create_text_channel("announcements")
    await world.start()
    await world.run_whole_release_until("deployment")
    await pump(world, clock, minutes=30)
    for member in (world.dora, world.tom, world.dora):  # tick, approve, tick the rest
        if member is world.tom:
            await world.sign(world.tom, "approval")
        else:
            await world.tick_all(member)
    await world.sign(world.dora, "production-deployed")
    await pump(world, clock, minutes=5)

    # The announcement: posted once in #announcements, with the version's CHANGELOG section.
    posted = by_footer(announcements, "announcement of release #1")
    assert len(posted) == 1
    text = posted[0].embeds[0].description or ""
    assert "nexis-gateway v1.2.3 is live in production" in (posted[0].embeds[0].title or "")
    for line in ("⚠️ Breaking:", "Drops the v1 auth header", "Canary routing for the gateway"):
        assert line in text
    assert "An older fix" not in text
    assert world.thread().id and str(world.thread().id) in text  # links to the release thread

    # The email: received by the SMTP server, the same section in the body, a stable id.
    assert len(handler.messages) == 1
    mail = handler.messages[0]
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Canary routing for the gateway" in body and "Timeouts on slow upstreams" in body
    assert "An older fix" not in body
    assert mail["To"] == "team@nexis.example, ops@nexis.example"
    assert mail["Message-ID"] == message_id_for("report.email:1:production_deployed", SENDER)

    # Feedback: three votes, one changed, one comment.
    feedback = next(m for m in announcements.history() if (m.content or "").startswith("📝"))
    for member, label in (
        (world.eve, "5★"),
        (world.tom, "3★"),
        (world.dora, "4★"),
        (world.eve, "2★"),
    ):
        result = await member.click(feedback, label=label)
        assert not any("may not" in (f.content or "") for f in result.followups)
    shown = await world.omar.click(feedback, label="Comment")
    assert shown.modal is not None
    field = shown.modal["components"][0]["components"][0]["custom_id"]
    await world.omar.submit_modal(shown, {field: "smooth, the canary caught nothing"})
    await pump(world, clock, minutes=5)
    refreshed = next(m for m in announcements.history() if m.id == feedback.id)
    assert "3 votes, mean 3.00 · 1★ 0 · 2★ 1 · 3★ 1 · 4★ 1 · 5★ 0" in (refreshed.content or "")
    answer = await world.eve.slash(world.thread(), "release feedback")
    said = " ".join(
        [answer.response.content if answer.response else ""]
        + [f.content or "" for f in answer.followups]
    )
    assert "3 votes, mean 3.00" in said and "omar: smooth, the canary caught nothing" in said

    # Post-Release: the Communication and feedback items are ticked by the bot on entry.
    result = await world.advance(world.ann)
    assert not result.followups, result.followups[0].content
    await pump(world, clock, minutes=1)
    await pump(world, clock, minutes=120)
    await world.close_monitoring(world.tom, "healthy for two hours")
    await pump(world, clock, minutes=1)

    # The retrospective prompt in the thread; Ann answers through the modal.
    prompt = next(m for m in world.thread().history() if "past its monitoring" in (m.content or ""))
    shown = await world.ann.click(prompt, label="Write the retrospective")
    assert shown.modal is not None
    ids = [row["components"][0]["custom_id"] for row in shown.modal["components"]]
    await world.ann.submit_modal(
        shown,
        {ids[0]: "the canary", ids[1]: "approval came late", ids[2]: "approve the day before"},
    )
    await pump(world, clock, minutes=1)

    release = await world.release()
    items = {item.check: item for item in release.template.items() if item.check in REPORT_ITEMS}
    assert set(items) == set(REPORT_ITEMS)
    for check, item in items.items():
        progress = release.progress(item.id)
        assert progress.state is ItemState.DONE, (check, progress)
        assert progress.actor_id == "releasebot", (check, progress.actor_name)

    await world.run_whole_release()  # Omar ticks the rest, signs; Ann completes
    await pump(world, clock, minutes=1)
    assert (await world.release()).status is ReleaseStatus.COMPLETED
    recorded = await world.bot.handle(ReportService).recorded(1)
    assert recorded is not None and recorded["outcome"] == "completed"
    assert recorded["feedback_votes"] == 3 and recorded["feedback_score"] == 3.0
    done_posts = [m for m in by_footer(announcements, "announcement of release #1")
                  if "is complete" in (m.embeds[0].title or "")]  # fmt: skip
    assert len(done_posts) == 1
    assert len(handler.messages) == 2  # and the completion email

    # Evidence in the audit log: the message link, the SMTP Message-ID, the figures.
    rows = await audit_rows(settings)
    evidence = {r.target: r.detail["evidence"] for r in rows if r.action == "report_evidence"}
    assert posted[0].jump_url in evidence["report.team_notified"]
    assert str(mail["Message-ID"]) in evidence["report.announced"]
    assert "incidents: none" in evidence["report.issues"]
    assert "start → production" in evidence["report.duration"]
    assert "3 answers" in evidence["report.feedback"]

    # The report in the thread, with its PNG, and figures matching the audit timeline.
    reports = by_footer(world.thread(), "report of release #1")
    assert len(reports) == 1
    report = reports[0]
    names = [a.filename for a in report.attachments]
    watched = ("error-rate", "p95-latency", "core-functionality")  # the example's conditions
    assert names == ["release-1-phases.png"] + [f"release-1-{slug}.png" for slug in watched]
    for attachment in report.attachments:
        assert (await attachment.read())[:8] == b"\x89PNG\r\n\x1a\n"
    start = next(r.at for r in rows if r.action == "start")
    done = next(r.at for r in rows if r.action == "complete")
    deployed = next(r.at for r in rows if r.action == "monitor_open")
    advances = [r for r in rows if r.action == "advance"]
    # the clock moved 30 + 5 + 5 + 1 + 120 + 1 + 1 minutes between /release start and completion
    assert done - start == timedelta(minutes=163)
    lines = (report.embeds[0].description or "").splitlines()
    assert f"Release duration: {_human(done - start)}" in lines
    assert f"Start → production: {_human(deployed - start)}" in lines
    ends = [start] + [r.at for r in advances] + [done]
    for row, began, ended in zip(advances, ends, ends[1:], strict=False):
        assert f"Phase {row.target}: {_human(ended - began)}" in lines
    assert "Feedback: 3 votes, mean 3.00 · 1★ 0 · 2★ 1 · 3★ 1 · 4★ 1 · 5★ 0" in lines
    assert "Incidents: none" in lines and "Rollbacks: 0" in lines

    # `releasebot report 1 --format json` from the database says what the thread shows.
    out = io.StringIO()
    code = await asyncio.to_thread(
        main, ["report", "1", "--url", settings.database.url, "--format", "json"], out
    )
    assert code == 0, out.getvalue()
    written = json.loads(out.getvalue())
    assert written["lines"] == lines
    assert written["retrospective"]["went_badly"] == "approval came late"
    assert written["figures"]["seconds_total"] == (done - start).total_seconds()
    assert written["feedback"]["comments"] == [
        {"by": "omar", "text": "smooth, the canary caught nothing"}
    ]


def _human(delta: timedelta) -> str:
    """Format a duration as people read it (hours and minutes; the report's own wording)."""
    total = round(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
