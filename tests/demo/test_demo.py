"""The offline demo: the whole mission on SimCord, checked step by step.

Everything is real (create_bot, SimCord, SQLite with the migrations, the Prometheus probe over
HTTP, the kubernetes-asyncio client) except the two loopback sandboxes the demo ships with
(bot.sandbox.metrics and bot.sandbox.kubernetes), which stand in for Prometheus and a cluster.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from bot.demo import run_demo

ROOT = Path(__file__).resolve().parents[2]

IN_ORDER = (
    "🔴 **Rollback condition met: Error rate** on nexis-gateway v1.4.0 — 5.1 % (breach if > 1 %)"
    " [chart alert-1.png",
    "🚨 P1 · Incident #1",
    "DM to Omar: 🚨 You are paged: P1 incident #1",
    "DM to Tom: 🚨 Escalated to you: P1 incident #1",
    "Omar › clicks Acknowledge",
    "✅ Acknowledged by @Omar",
    "(only Dora sees) Confirm rollback of production/nexis-gateway",
    "✅ Rollback of production/nexis-gateway succeeded",
    "Release nexis-gateway v1.4.0: Rolled back",
    "12 polls in the first hour, every 5 min",
    "Post-release monitoring of nexis-gateway v1.4.1 is over",
    "46 polls in the next 23 hours, every 30 min",
    "Omar › reacts ✅ on “Sign-off: Post-release monitoring completed:”",
    "🏁 Release nexis-gateway v1.4.1: Completed.",
)


def positions(text: str, needles: tuple[str, ...]) -> list[int]:
    """Return where each needle first occurs in `text` (-1 when missing)."""
    return [text.find(needle) for needle in needles]


async def test_the_demo_plays_the_mission_in_order_and_exits_0(tmp_path: Path) -> None:
    """Alert with chart, incident, pages, +15 escalation, ack, rollback; hotfix 24 h, Completed."""
    out = io.StringIO()

    code = await run_demo(out, out_dir=tmp_path / "charts")

    text = out.getvalue()
    assert code == 0, text
    found = positions(text, IN_ORDER)
    assert -1 not in found, [n for n, at in zip(IN_ORDER, found, strict=True) if at < 0]
    assert found == sorted(found), text
    assert "✘" not in text
    assert "removes Eve's ✅, audits the denial and DMs Eve:" in text  # a refused sign-off
    assert "“Waive…” and gives the reason: no breaking changes in v1.4.0" in text
    assert "deployment window: 2026-03-02 12:00-16:00 UTC" in text
    # the Tech Lead page comes 15 minutes after the on-call page (virtual time stamps)
    paged = text[: text.find("DM to Omar: 🚨 You are paged")].rsplit("[", 1)[1][:5]
    escalated = text[: text.find("DM to Tom: 🚨 Escalated")].rsplit("[", 1)[1][:5]
    assert (paged, escalated) == ("12:36", "12:51")
    charts = sorted((tmp_path / "charts").glob("*.png"))
    assert charts, "the chart PNGs the bot posted are written to --out"
    assert all(Image.open(chart).format == "PNG" for chart in charts)


async def test_the_demo_exits_1_when_the_tech_lead_is_never_paged(tmp_path: Path) -> None:
    """Inject a fault (no Tech Lead escalation step): the demo names the missing step, exits 1."""
    config = tmp_path / "releasebot.toml"
    example = (ROOT / "config/releasebot.example.toml").read_text(encoding="utf-8")
    faulty = example.replace(
        'target = "tech_lead"\nafter = "15m"', 'target = "tech_lead"\nafter = "30m"'
    )
    assert faulty != example
    config.write_text(faulty, encoding="utf-8")
    out = io.StringIO()

    code = await run_demo(out, config_path=str(config), scenario="rollback")

    text = out.getvalue()
    assert code == 1, text
    assert "✘ the Tech Lead paged 15 minutes after on-call" in text


async def test_the_healthy_scenario_alone_completes(tmp_path: Path) -> None:
    """`--scenario healthy`: no alert at all, the window closes, then Completed."""
    out = io.StringIO()

    code = await run_demo(out, scenario="healthy", out_dir=tmp_path)

    text = out.getvalue()
    assert code == 0, text
    assert "Rollback condition met" not in text
    assert "Release nexis-gateway v1.4.1: Completed" in text


def test_releasebot_demo_runs_from_any_directory(tmp_path: Path) -> None:
    """Run `python -m bot demo --scenario rollback` from a foreign directory: exit 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--scenario", "rollback", "--out", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Release nexis-gateway v1.4.0: Rolled back" in done.stdout
