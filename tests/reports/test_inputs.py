"""Bad input gets a clear error naming what is wrong: settings, CHANGELOG files, CLI options."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.config import ConfigError, build_settings
from bot.core.clock import FakeClock
from bot.releases.service import ReleaseService
from bot.reports.domain.announcement import Announcement
from bot.reports.domain.feedback import valid_score
from bot.reports.store.changelog import read_section
from tests.reports.test_dora import seed


def test_email_settings_name_every_problem() -> None:
    """Enabled without recipients, an address without @, an unknown security: all named."""
    with pytest.raises(ConfigError) as bad:
        build_settings(
            {"reports": {"email": {"enabled": True, "sender": "nobody", "to": ["ops"]}}}, env={}
        )
    text = str(bad.value)
    assert "reports.email.to[0]" in text and "'ops' is not an email address" in text
    assert "reports.email.sender" in text
    with pytest.raises(ConfigError) as empty:
        build_settings({"reports": {"email": {"enabled": True}}}, env={})
    assert "email is enabled but no recipient list is given" in str(empty.value)
    with pytest.raises(ConfigError) as security:
        build_settings({"reports": {"email": {"security": "ssl3"}}}, env={})
    assert "reports.email.security" in str(security.value)


def test_the_changelog_section_is_read_with_keep_a_changelog_headings(tmp_path: Path) -> None:
    """The version's section (a leading v ignored), Breaking and Security first; else None."""
    path = tmp_path / "CHANGELOG.md"
    path.write_text(
        "# Changelog\n\n## [2.0.0] - 2026-02-01\n### Fixed\n- a bug\n### Security\n- CVE-1\n"
        "### Breaking\n- API v1 removed\n\n## [1.9.0] - 2026-01-01\n### Added\n- old\n",
        encoding="utf-8",
    )
    section = read_section(path, "v2.0.0")
    assert section is not None and section.date == "2026-02-01"
    assert [h for h, _ in section.groups] == ["breaking", "security", "fixed"]
    lines = Announcement(1, "gw", "v2.0.0", "Ann", "production_deployed", section).body_lines()
    assert "⚠️ Breaking:" in lines and "  • API v1 removed" in lines and "  • old" not in lines
    assert read_section(path, "v3.0.0") is None
    assert read_section(tmp_path / "missing.md", "v2.0.0") is None
    nothing = Announcement(1, "gw", "v3.0.0", "Ann", "production_deployed", None).body_lines()
    assert "What changed: no CHANGELOG section was found for this version." in nothing


def test_a_feedback_score_is_one_to_five() -> None:
    """0 and 6 are refused with the scale named."""
    assert valid_score(5) == 5
    for wrong in (0, 6):
        with pytest.raises(ValueError, match="1 to 5"):
            valid_score(wrong)


async def test_releasebot_report_writes_md_json_csv_and_refuses_bad_input(
    service: ReleaseService, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    """--out writes the file; a bad or unknown release is named; an empty database is said."""
    await seed(service, clock)
    url = engine.url.render_as_string(hide_password=False)

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        return main(["report", *args, "--url", url], out), out.getvalue()

    for fmt in ("md", "json", "csv"):
        code, said = await asyncio.to_thread(run, "#3", "--format", fmt, "--out", str(tmp_path))
        assert code == 0 and f"release-3.{fmt}" in said
    assert (tmp_path / "release-3.md").read_text(encoding="utf-8").startswith("# Release report")
    assert "rollbacks,1" in (tmp_path / "release-3.csv").read_text(encoding="utf-8")
    code, said = await asyncio.to_thread(run, "three")
    assert code == 1 and "RELEASE must be a release number" in said
    code, said = await asyncio.to_thread(run, "99")
    assert code == 1 and "no release #99" in said
    empty = io.StringIO()
    code = await asyncio.to_thread(
        main, ["stats", "--url", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"], empty
    )
    assert code == 1 and "the database is empty" in empty.getvalue()
