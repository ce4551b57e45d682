"""Heavy libraries load on first use: the CLI and a built bot leave them out (issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "releasebot.example.toml"
TEMPLATE = ROOT / "config" / "checklists" / "release.md"
HEAVY = ("kubernetes_asyncio", "matplotlib")

PROBE = """
import contextlib, io, sys
from bot.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
LAZY = ("kubernetes_asyncio", "matplotlib", "alembic")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in LAZY)
print(code, ",".join(heavy) or "none")
"""


def _probe(*argv: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    code, loaded = done.stdout.split()
    return code, loaded


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("--help",), "0"),
        (("check-config", str(EXAMPLE)), "0"),
        (("checklist", "validate", str(TEMPLATE)), "0"),
    ],
)
def test_cli_commands_import_neither_kubernetes_nor_matplotlib(argv, code) -> None:
    """`--help`, `check-config` and `checklist validate` succeed without the heavy libraries
    (kubernetes-asyncio, matplotlib, Alembic)."""
    assert _probe(*argv) == (code, "none")


BUILD = """
import sys
import bot.app
from bot.app import create_bot
from bot.config import build_settings
settings = build_settings({"services": [{"name": "gw", "prometheus_url": "http://127.0.0.1:9090",
    "kubernetes": {"production": {"namespace": "p", "deployment": "gw"}}}]}, env={})
create_bot(settings)
before = "kubernetes_asyncio" in sys.modules
alembic = "alembic" in sys.modules
from bot.rollouts.k8s import RolloutController
print(before, "kubernetes_asyncio" in sys.modules, RolloutController.__name__, alembic)
"""


def test_building_a_bot_with_kubernetes_targets_defers_the_client_to_first_use() -> None:
    """A bot with Kubernetes targets is built without kubernetes-asyncio (nor Alembic: that
    loads only when a migration has to run); asking for the controller loads kubernetes."""
    done = subprocess.run(
        [sys.executable, "-c", BUILD], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "RolloutController", "False"]


def test_an_unknown_adapter_name_is_an_attribute_error() -> None:
    """The lazy loader only knows the adapter's own names (typos fail as usual)."""
    import bot.rollouts.k8s as k8s

    with pytest.raises(AttributeError, match="no attribute 'RolloutControler'"):
        k8s.RolloutControler  # noqa: B018


CONNECTED = """
import asyncio, sys, tempfile
from datetime import UTC, datetime
from pathlib import Path
import simcord
from bench.bot_settings import release_settings
from bot.app import create_bot
from bot.core.clock import FakeClock
FEATURE_ONLY = ("PIL", "icalendar", "recurring_ical_events", "aiosmtplib")
async def main():
    with tempfile.TemporaryDirectory() as folder:
        settings = release_settings(Path(folder) / "bot.db")
        bot = create_bot(settings, clock=FakeClock(datetime(2026, 1, 5, 9, tzinfo=UTC)))
        async with simcord.run(bot) as env:
            guild = env.create_guild("Lazy")
            lead_role = guild.create_role("Release Lead")
            lead = guild.add_member(env.create_user("lead"), roles=[lead_role])
            room = guild.create_text_channel("releases")
            await lead.slash(room, "release start", version="v1.0.0")
            await env.settle()
            started = len(await bot.releases.list(limit=5))
            loaded = sorted({m.split(".")[0] for m in sys.modules} & set(FEATURE_ONLY))
            await bot.close()
    print(started, ",".join(loaded) or "none")
asyncio.run(main())
"""


def test_a_running_bot_loads_feature_libraries_only_when_the_feature_is_used() -> None:
    """Connected with every extension and a release started, the bot has not loaded Pillow
    (monitoring charts), icalendar and recurring-ical-events (an on-call calendar) nor
    aiosmtplib (the announcement email): none of those features was used."""
    done = subprocess.run(
        [sys.executable, "-c", CONNECTED], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "none"]


def test_the_feature_libraries_load_on_first_use() -> None:
    """A chart and an on-call calendar still work: each loads its library then (the email
    sender is exercised against a real SMTP server in tests/reports/mail)."""
    from datetime import UTC, datetime

    from bot.incidents.calendar.rotation import Rotation
    from bot.monitoring.chat.chart import render_chart

    png = render_chart([(datetime(2026, 1, 5, 9, tzinfo=UTC), 1.0)], 2.0, "p99", "ms")
    assert png.startswith(b"\x89PNG") and "PIL" in sys.modules
    ical = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
    rotation = Rotation.parse(ical, {})
    assert rotation.shift_at(datetime(2026, 1, 5, 9, tzinfo=UTC)) is None
    assert "recurring_ical_events" in sys.modules
